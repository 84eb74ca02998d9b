"""Benchmarks: load generators and scenarios that print ratios measured side by side."""
