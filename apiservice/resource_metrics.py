"""metrics.k8s.io/v1beta1: PodMetrics and NodeMetrics, as metrics-server serves them.

What `kubectl top` and the HPA's Resource metrics read. Bodies follow k8s.io/metrics'
v1beta1 types field by field (metadata, timestamp, window, containers or usage), lists are
sorted by namespace then name, and a missing object or one without metrics is a 404 with
metrics-server's wording. The values are the provider's: CPU in cores and memory in bytes
as Quantities (metrics-server writes nanocores, "12345678n", and BinarySI bytes, "1234Ki").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from apiservice.errors import BadRequest, NotFound
from apiservice.quantity import Quantity
from apiservice.selectors import Selector, parse_selector
from apiservice.types import JSON, rfc3339

GROUP = "metrics.k8s.io"
VERSIONS = ("v1beta1",)
API_VERSION = f"{GROUP}/{VERSIONS[0]}"


@dataclass(frozen=True)
class Usage:
    cpu: Quantity  # cores
    memory: Quantity  # bytes


@dataclass(frozen=True)
class ContainerMetrics:
    name: str
    usage: Usage


@dataclass(frozen=True)
class PodMetrics:
    namespace: str
    name: str
    timestamp: datetime
    window: str  # metav1.Duration as written on the wire: Go's Duration.String, "5m0s"
    containers: tuple[ContainerMetrics, ...]
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeMetrics:
    name: str
    timestamp: datetime
    window: str
    usage: Usage
    labels: Mapping[str, str] = field(default_factory=dict)


class ResourceMetricsProvider(Protocol):
    """Resource usage of the cluster's pods and nodes; raises APIError subclasses."""

    async def list_pod_metrics(self, namespace: str, selector: Selector) -> list[PodMetrics]:
        """Pods `selector` selects (in `namespace`, or all for ""), those with metrics."""
        ...

    async def get_pod_metrics(self, namespace: str, name: str) -> PodMetrics:
        """One pod; `pod_not_found` or `pod_metrics_not_found` when there is none."""
        ...

    async def list_node_metrics(self, selector: Selector) -> list[NodeMetrics]: ...

    async def get_node_metrics(self, name: str) -> NodeMetrics:
        """One node; `node_not_found` or `node_metrics_not_found` when there is none."""
        ...


def _not_found(resource: str, group: str, name: str) -> NotFound:
    """apierrors.NewNotFound: `<resource>[.<group>] "<name>" not found`."""
    qualified = f"{resource}.{group}" if group else resource
    details = {"name": name, "group": group, "kind": resource}
    return NotFound(f'{qualified} "{name}" not found', details)


def pod_not_found(name: str) -> NotFound:
    """The pod itself does not exist (metrics-server passes its pod lister's error on)."""
    return _not_found("pods", "", name)


def pod_metrics_not_found(namespace: str, name: str) -> NotFound:
    return _not_found("podmetrics", GROUP, f"{namespace}/{name}")


def node_not_found(name: str) -> NotFound:
    return _not_found("nodes", "", name)


def node_metrics_not_found(name: str) -> NotFound:
    return _not_found("nodemetrics", GROUP, name)


# -- field selectors ------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSelector:
    """metadata.name / metadata.namespace terms (`=`, `==`, `!=`), ANDed. As metrics-server
    matches them against the object's metadata fields, any other field reads as ""."""

    terms: tuple[tuple[str, bool, str], ...] = ()  # (field, equal?, value)

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        terms = []
        for term in (text or "").split(","):
            if not term.strip():
                continue
            for op, equal in (("!=", False), ("==", True), ("=", True)):
                key, found, value = term.partition(op)
                if found:
                    terms.append((key.strip(), equal, value.strip()))
                    break
            else:
                raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
        return cls(tuple(terms))

    def matches(self, namespace: str, name: str) -> bool:
        fields = {"metadata.name": name, "metadata.namespace": namespace}
        return all((fields.get(k, "") == v) == equal for k, equal, v in self.terms)


# -- JSON ------------------------------------------------------------------------------


def _metadata(name: str, namespace: str, labels: Mapping[str, str], now: datetime) -> JSON:
    """ObjectMeta in field order; creationTimestamp is the answer's time, as metrics-server."""
    meta: JSON = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["creationTimestamp"] = rfc3339(now)
    if labels:
        meta["labels"] = dict(sorted(labels.items()))
    return meta


def _usage(usage: Usage) -> JSON:
    return {"cpu": str(usage.cpu), "memory": str(usage.memory)}


def _type_meta(kind: str, item: bool) -> JSON:
    return {} if item else {"kind": kind, "apiVersion": API_VERSION}


def pod_metrics(pod: PodMetrics, now: datetime, *, item: bool = False) -> JSON:
    """PodMetrics; inside a list (`item`) without kind and apiVersion, as Kubernetes lists."""
    return {
        **_type_meta("PodMetrics", item),
        "metadata": _metadata(pod.name, pod.namespace, pod.labels, now),
        "timestamp": rfc3339(pod.timestamp),
        "window": pod.window,
        "containers": [{"name": c.name, "usage": _usage(c.usage)} for c in pod.containers],
    }


def node_metrics(node: NodeMetrics, now: datetime, *, item: bool = False) -> JSON:
    return {
        **_type_meta("NodeMetrics", item),
        "metadata": _metadata(node.name, "", node.labels, now),
        "timestamp": rfc3339(node.timestamp),
        "window": node.window,
        "usage": _usage(node.usage),
    }


def pod_metrics_list(pods: list[PodMetrics], now: datetime) -> JSON:
    ordered = sorted(pods, key=lambda p: (p.namespace, p.name))
    return {
        "kind": "PodMetricsList",
        "apiVersion": API_VERSION,
        "metadata": {},
        "items": [pod_metrics(p, now, item=True) for p in ordered],
    }


def node_metrics_list(nodes: list[NodeMetrics], now: datetime) -> JSON:
    return {
        "kind": "NodeMetricsList",
        "apiVersion": API_VERSION,
        "metadata": {},
        "items": [node_metrics(n, now, item=True) for n in sorted(nodes, key=lambda n: n.name)],
    }


def api_resource_list(version: str) -> JSON:
    """/apis/metrics.k8s.io/v1beta1, as metrics-server lists it."""

    def resource(name: str, namespaced: bool, kind: str) -> JSON:
        return {
            "name": name,
            "singularName": "",
            "namespaced": namespaced,
            "kind": kind,
            "verbs": ["get", "list"],
        }

    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{GROUP}/{version}",
        "resources": [
            resource("nodes", False, "NodeMetrics"),
            resource("pods", True, "PodMetrics"),
        ],
    }


async def answer(
    provider: ResourceMetricsProvider,
    resource: str,
    namespace: str,
    name: str | None,
    query: Mapping[str, str],
    now: datetime,
) -> JSON:
    """The body for a metrics.k8s.io path: `resource` pods or nodes, one by `name` or a list
    narrowed by the `labelSelector` and `fieldSelector` query parameters."""
    if name is not None:
        if resource == "pods":
            return pod_metrics(await provider.get_pod_metrics(namespace, name), now)
        return node_metrics(await provider.get_node_metrics(name), now)
    # Kubernetes decodes the list options before anything else: a bad selector is a 400.
    selector = parse_selector(query.get("labelSelector"))
    fields = FieldSelector.parse(query.get("fieldSelector"))
    if resource == "pods":
        pods = await provider.list_pod_metrics(namespace, selector)
        return pod_metrics_list([p for p in pods if fields.matches(p.namespace, p.name)], now)
    nodes = await provider.list_node_metrics(selector)
    return node_metrics_list([n for n in nodes if fields.matches("", n.name)], now)
