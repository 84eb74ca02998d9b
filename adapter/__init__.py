"""Prometheus to metric values: rules, naming, PromQL, the engine and the Provider."""
