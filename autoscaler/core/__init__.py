"""The HPA controller's algorithm, ported from Kubernetes' pkg/controller/podautoscaler."""
