"""The Kubernetes objects one HPA decision reads, as typed values.

Only the fields the controller looks at are kept. Quantities are kept as Go's
MilliValue() (the controller computes in milli-units), times as aware datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from autoscaler.core.conditions import Condition
from autoscaler.core.selectors import LabelSelector

# Go's zero time.Time: what an unset metav1.Time compares as.
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MetricTarget:
    """autoscaling/v2 MetricTarget; the controller reads the fields, not only `type`."""

    type: str
    value: int | None = None
    average_value: int | None = None
    average_utilization: int | None = None


@dataclass(frozen=True)
class MetricIdentifier:
    name: str
    selector: LabelSelector | None = None


@dataclass(frozen=True)
class CrossVersionObjectReference:
    kind: str
    name: str
    api_version: str = ""


@dataclass(frozen=True)
class MetricSpec:
    """One entry of spec.metrics; which optional fields are set depends on `type`."""

    type: str
    target: MetricTarget | None = None
    resource: str | None = None
    container: str | None = None
    metric: MetricIdentifier | None = None
    described_object: CrossVersionObjectReference | None = None

    @property
    def name(self) -> str:
        """The resource name for resource metrics, the metric name otherwise."""
        if self.resource is not None:
            return self.resource
        return self.metric.name if self.metric else ""


@dataclass(frozen=True)
class ScalingPolicy:
    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """HPAScalingRules as written; None is a field left out (filled by defaulting)."""

    stabilization_window_seconds: int | None = None
    select_policy: str | None = None
    policies: tuple[ScalingPolicy, ...] | None = None
    tolerance: float | None = None  # HPAConfigurableTolerance (KEP-4951)


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None


@dataclass(frozen=True)
class HorizontalPodAutoscaler:
    name: str
    namespace: str
    max_replicas: int
    metrics: tuple[MetricSpec, ...]
    min_replicas: int | None = None
    behavior: Behavior | None = None
    conditions: tuple[Condition, ...] = ()
    status_replicas: int | None = None  # status.currentReplicas


@dataclass(frozen=True)
class Scale:
    """What the target's /scale subresource says."""

    replicas: int
    selector: str = ""


@dataclass(frozen=True)
class Container:
    name: str
    requests: Mapping[str, int] = field(default_factory=dict)
    restart_policy: str | None = None


@dataclass(frozen=True)
class PodCondition:
    status: str
    last_transition_time: datetime = ZERO_TIME


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    phase: str = ""
    deleted: bool = False
    start_time: datetime | None = None
    ready: PodCondition | None = None
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    requests: Mapping[str, int] | None = None

    @property
    def is_ready(self) -> bool:
        """podutil.IsPodReady: the Ready condition is True."""
        return self.ready is not None and self.ready.status == "True"


@dataclass(frozen=True)
class ContainerMetrics:
    name: str
    usage: Mapping[str, int]


@dataclass(frozen=True)
class PodMetrics:
    """metrics.k8s.io/v1beta1 PodMetrics; labels None when the item carries none."""

    name: str
    containers: tuple[ContainerMetrics, ...]
    namespace: str = ""
    labels: Mapping[str, str] | None = None
    timestamp: datetime = ZERO_TIME
    window: timedelta = timedelta(0)


@dataclass(frozen=True)
class CustomMetricValue:
    """One custom.metrics.k8s.io MetricValue."""

    metric: str
    kind: str
    name: str
    value: int
    namespace: str = ""
    timestamp: datetime = ZERO_TIME
    window_seconds: int | None = None


@dataclass(frozen=True)
class ExternalMetricValue:
    """One external.metrics.k8s.io ExternalMetricValue."""

    metric: str
    value: int
    timestamp: datetime = ZERO_TIME


@dataclass(frozen=True)
class Cluster:
    """What the controller would read from the API server and the metrics APIs."""

    pods: tuple[Pod, ...] = ()
    pod_metrics: tuple[PodMetrics, ...] = ()
    custom_metrics: tuple[CustomMetricValue, ...] = ()
    external_metrics: tuple[ExternalMetricValue, ...] = ()
