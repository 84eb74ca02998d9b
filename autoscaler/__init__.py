"""Consumers of metrics: the HPA algorithm, explain and simulate."""
