"""`surge demo` and its tooling: generated data, a local Prometheus, the demo itself."""
