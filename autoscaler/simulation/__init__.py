"""The simulator: an HPA spec over time, against traffic and a capacity model."""
