"""The aggregated API server: routes, TLS, discovery, types. Knows nothing of Prometheus."""
