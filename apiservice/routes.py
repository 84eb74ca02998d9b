"""What a request path asks for, read the way Kubernetes' request-info parser reads it.

Pure: no I/O, no provider. `resolve` returns a route, None for a path Surge does not
serve (a 404), or raises BadRequest where custom-metrics-apiserver answers 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from apiservice import resource_metrics
from apiservice.discovery import GROUP_VERSIONS
from apiservice.errors import BadRequest
from apiservice.types import CUSTOM_GROUP, EXTERNAL_GROUP

HEALTH_CHECKS = ("healthz", "livez", "readyz")


@dataclass(frozen=True)
class Discovery:
    """/apis, /apis/<group> or /apis/<group>/<version>."""

    group: str | None = None
    version: str | None = None
    kind: ClassVar[str] = "discovery"


@dataclass(frozen=True)
class OpenAPI:
    """/openapi/v2, /openapi/v3, or one group-version's v3 document."""

    version: str
    group_version: tuple[str, str] | None = None
    kind: ClassVar[str] = "openapi"


@dataclass(frozen=True)
class Health:
    check: str
    kind: ClassVar[str] = "health"


@dataclass(frozen=True)
class Metrics:
    kind: ClassVar[str] = "metrics"


@dataclass(frozen=True)
class CustomMetric:
    """One custom metrics question. `namespace` is "" for a root-scoped object; name "*"
    asks for every object the labelSelector selects."""

    version: str
    namespace: str
    resource: str
    name: str
    metric: str
    kind: ClassVar[str] = "custom"


@dataclass(frozen=True)
class ExternalMetric:
    namespace: str
    metric: str
    kind: ClassVar[str] = "external"


@dataclass(frozen=True)
class ResourceMetrics:
    """metrics.k8s.io: `resource` is pods or nodes; `namespace` "" for nodes or pods of every
    namespace; `name` None for a list."""

    resource: str
    namespace: str
    name: str | None
    kind: ClassVar[str] = "resource"


Route = Discovery | OpenAPI | Health | Metrics | CustomMetric | ExternalMetric | ResourceMetrics


def resolve(path: str) -> Route | None:
    """The route for a decoded request path; one trailing slash is ignored, as Kubernetes does."""
    parts = path.removeprefix("/").removesuffix("/").split("/")
    if "" in parts and parts != [""]:
        return None
    match parts:
        case [check] if check in HEALTH_CHECKS:
            return Health(check)
        case ["metrics"]:
            return Metrics()
        case ["openapi", "v2"]:
            return OpenAPI("v2")
        case ["openapi", "v3"]:
            return OpenAPI("v3")
        case ["openapi", "v3", "apis", group, version] if version in GROUP_VERSIONS.get(group, ()):
            return OpenAPI("v3", (group, version))
        case ["apis"]:
            return Discovery()
        case ["apis", resource_metrics.GROUP, *rest]:
            return _resource(rest)
        case ["apis", group] if group in GROUP_VERSIONS:
            return Discovery(group)
        case ["apis", group, version, *rest] if version in GROUP_VERSIONS.get(group, ()):
            if not rest:
                return Discovery(group, version)
            if group == CUSTOM_GROUP:
                return _custom(version, rest)
            if group == EXTERNAL_GROUP:
                return _external(rest)
    return None


def _custom(version: str, rest: list[str]) -> CustomMetric | None:
    match rest:
        case ["namespaces", namespace, "metrics", metric]:
            # A metric of the namespace itself: the object is the namespace, root-scoped.
            return CustomMetric(version, "", "namespaces", namespace, metric)
        case ["namespaces", namespace, resource, name, metric]:
            return CustomMetric(version, namespace, resource, name, metric)
        case ["namespaces", _, _]:
            # Kubernetes reads this as namespace/<resource> with no name: too short.
            raise BadRequest("invalid request path")
        case [resource, name, metric]:
            return CustomMetric(version, "", resource, name, metric)
    return None


def _external(rest: list[str]) -> ExternalMetric | None:
    match rest:
        case ["namespaces", namespace, metric]:
            return ExternalMetric(namespace, metric)
    return None


def _resource(rest: list[str]) -> Discovery | ResourceMetrics | None:
    match rest:
        case []:
            return Discovery(resource_metrics.GROUP)
        case [version] if version in resource_metrics.VERSIONS:
            return Discovery(resource_metrics.GROUP, version)
        case [version, "nodes" | "pods" as resource] if version in resource_metrics.VERSIONS:
            return ResourceMetrics(resource, "", None)
        case [version, "nodes", name] if version in resource_metrics.VERSIONS:
            return ResourceMetrics("nodes", "", name)
        case [version, "namespaces", namespace, "pods"] if version in resource_metrics.VERSIONS:
            return ResourceMetrics("pods", namespace, None)
        case [version, "namespaces", namespace, "pods", name] if (
            version in resource_metrics.VERSIONS
        ):
            return ResourceMetrics("pods", namespace, name)
    return None
