"""A cluster for `surge explain`: the Kubernetes API stand-in with the seed's service, and
the metrics APIs it lacks (it has no aggregator) added as routes on its app.

Two ways to serve the metrics groups: recorded answers (bodies as Surge and
metrics-server write them), or a proxy to a running Surge, standing in for
kube-apiserver's aggregator, which forwards the APIService's groups to the adapter.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from surge.demo.data import NAMESPACE, demo_objects, pod_names

NS = NAMESPACE
NOW = "2026-01-05T12:00:00Z"
PODS = tuple(pod_names(3, seed="explain"))
METRIC_GROUPS = (
    "/apis/custom.metrics.k8s.io",
    "/apis/external.metrics.k8s.io",
    "/apis/metrics.k8s.io",
)
CUSTOM = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}"
EXTERNAL = f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{NS}"
POD_METRICS = f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods"


def status_404(message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "NotFound",
        "code": 404,
    }


@dataclass
class RecordedMetrics:
    """Answers by path; every request is kept (path, query) to check what was asked."""

    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def add_routes(self, app: web.Application) -> None:
        async def answer(request: web.Request) -> web.Response:
            self.seen.append((request.path, dict(request.query)))
            code, body = self.answers.get(
                request.path, (404, status_404("the server could not find the requested resource"))
            )
            return web.json_response(body, status=code)

        for prefix in METRIC_GROUPS:
            app.router.add_get(prefix + "/{tail:.*}", answer)

    def asked(self, path: str) -> dict[str, str]:
        """The query of the request for `path` (the last one)."""
        matches = [q for p, q in self.seen if p == path]
        assert matches, f"{path} was not requested; requests: {[p for p, _ in self.seen]}"
        return matches[-1]


def add_aggregator_proxy(app: web.Application, surge_url: str) -> None:
    """Forward the custom and external metrics groups to a running Surge over HTTPS, as
    kube-apiserver's aggregator forwards an APIService's groups (this proxy stands in for
    it: no front-proxy client certificate, Surge runs with --insecure-skip-auth)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def forward(request: web.Request) -> web.Response:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                surge_url + request.path_qs, ssl=context, headers={"Accept": "application/json"}
            ) as upstream,
        ):
            body = await upstream.read()
            return web.Response(body=body, status=upstream.status, content_type="application/json")

    for prefix in METRIC_GROUPS[:2]:
        app.router.add_get(prefix + "/{tail:.*}", forward)


def seed_objects(pods: tuple[str, ...] = PODS) -> list[dict[str, Any]]:
    """The seed's Deployment, ReplicaSet and Ready pods (requests cpu 1, memory 2Gi)."""
    return demo_objects(pods)


def metric_value_list(name: str, values: Mapping[str, str], kind: str = "Pod") -> dict[str, Any]:
    """A custom.metrics.k8s.io/v1beta2 MetricValueList as Surge writes it."""
    api_version = "/v1" if kind == "Pod" else "apps/v1"
    return {
        "kind": "MetricValueList",
        "apiVersion": "custom.metrics.k8s.io/v1beta2",
        "metadata": {},
        "items": [
            {
                "describedObject": {
                    "kind": kind,
                    "namespace": NS,
                    "name": obj,
                    "apiVersion": api_version,
                },
                "metric": {"name": name, "selector": None},
                "timestamp": NOW,
                "value": value,
            }
            for obj, value in values.items()
        ],
    }


def external_value_list(name: str, value: str) -> dict[str, Any]:
    return {
        "kind": "ExternalMetricValueList",
        "apiVersion": "external.metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [{"metricName": name, "metricLabels": {}, "timestamp": NOW, "value": value}],
    }


def pod_metrics_list(usage: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """metrics.k8s.io/v1beta1 PodMetricsList as metrics-server writes it."""
    return {
        "kind": "PodMetricsList",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": [
            {
                "metadata": {
                    "name": pod,
                    "namespace": NS,
                    "labels": {"app": "ai-service", "pod-template-hash": "7d9f8b6c5d"},
                },
                "timestamp": NOW,
                "window": "30s",
                "containers": [{"name": "ai-service", "usage": dict(values)}],
            }
            for pod, values in usage.items()
        ],
    }


def hpa(
    name: str,
    metrics: list[dict[str, Any]],
    status: dict[str, Any] | None = None,
    behavior: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ai-service"},
        "minReplicas": 2,
        "maxReplicas": 20,
        "metrics": metrics,
    }
    if behavior is not None:
        spec["behavior"] = behavior
    obj: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": "2026-01-05T01:00:00Z"},
        "spec": spec,
    }
    if status is not None:
        obj["status"] = status
    return obj


CPU_70 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
}
MEMORY_80 = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}},
}
WAITING_50 = {
    "type": "Pods",
    "pods": {
        "metric": {"name": "http_requests_waiting"},
        "target": {"type": "AverageValue", "averageValue": "50"},
    },
}
P99_5 = {
    "type": "Object",
    "object": {
        "metric": {"name": "ai_llm_response_time_p99_seconds"},
        "describedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ai-service"},
        "target": {"type": "Value", "value": "5"},
    },
}
SEED_BEHAVIOR = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 60},
            {"type": "Pods", "value": 4, "periodSeconds": 60},
        ],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 300,
        "policies": [{"type": "Percent", "value": 20, "periodSeconds": 60}],
    },
}
