"""`surge tune`: HPA targets, minReplicas and behavior searched against a latency objective."""
