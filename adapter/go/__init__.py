"""Go emulation: what prometheus-adapter gets from Go (templates, RE2, fmt, durations)."""
