"""The whole backend contract of the API server, in five methods.

Modelled on custom-metrics-apiserver's provider interface: the server routes, parses and
serializes; a Provider only answers questions about metrics. Keep it this narrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from apiservice.quantity import Quantity
from apiservice.selectors import Selector


@dataclass(frozen=True, order=True)
class GroupResource:
    """A Kubernetes group-resource; `str()` prints it as GroupResource.String() does."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @classmethod
    def parse(cls, text: str) -> GroupResource:
        """`deployments.apps` -> (apps, deployments); `pods` -> ("", pods)."""
        resource, _, group = text.partition(".")
        return cls(group, resource)


@dataclass(frozen=True, order=True)
class CustomMetricInfo:
    """One servable custom metric: a metric name for one resource, in one scope."""

    group_resource: GroupResource
    namespaced: bool
    metric: str


@dataclass(frozen=True, order=True)
class ExternalMetricInfo:
    metric: str


@dataclass(frozen=True)
class ObjectReference:
    """`describedObject` as custom-metrics serializes it."""

    kind: str
    namespace: str
    name: str
    api_version: str


@dataclass(frozen=True)
class MetricValue:
    described_object: ObjectReference
    metric: str
    timestamp: datetime
    value: Quantity
    metric_selector: Selector | None = None
    window_seconds: int | None = None


@dataclass(frozen=True)
class ExternalMetricValue:
    metric: str
    timestamp: datetime
    value: Quantity
    metric_labels: dict[str, str] = field(default_factory=dict)
    window_seconds: int | None = None


class Provider(Protocol):
    """Answers metric questions; raises `apiservice.errors.APIError` subclasses on failure."""

    async def get_metric_by_name(
        self,
        namespace: str,
        name: str,
        info: CustomMetricInfo,
        metric_selector: Selector,
    ) -> MetricValue: ...

    async def get_metric_by_selector(
        self,
        namespace: str,
        selector: Selector,
        info: CustomMetricInfo,
        metric_selector: Selector,
    ) -> list[MetricValue]: ...

    def list_all_metrics(self) -> list[CustomMetricInfo]: ...

    async def get_external_metric(
        self,
        namespace: str,
        metric_selector: Selector,
        info: ExternalMetricInfo,
    ) -> list[ExternalMetricValue]: ...

    def list_all_external_metrics(self) -> list[ExternalMetricInfo]: ...
