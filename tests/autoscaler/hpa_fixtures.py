"""Builders of the clusters Kubernetes' HPA unit tests fake, for the ported tables.

Upstream's tests describe a case as per-pod lists (requests, metric levels, readiness,
start times, phases, deletions); these builders turn such rows into autoscaler.core.objects
values the same way upstream's fake clients turn them into API objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from apiservice.quantity import Quantity
from autoscaler.core.objects import (
    ZERO_TIME,
    Cluster,
    Container,
    ContainerMetrics,
    CustomMetricValue,
    ExternalMetricValue,
    Pod,
    PodCondition,
    PodMetrics,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
NAMESPACE = "test-namespace"
LABELS = {"name": "test-pod"}
SELECTOR = "name=test-pod"


def hot() -> datetime:
    """hotCPUCreationTime: a pod started now."""
    return NOW


def cool() -> datetime:
    """coolCPUCreationTime: a pod started three minutes ago."""
    return NOW - timedelta(minutes=3)


def milli(quantity: str) -> int:
    return Quantity.parse(quantity).milli_value()


def pod_name(i: int) -> str:
    return f"test-pod-{i}"


def pods(
    count: int,
    requests: Sequence[str] | None = None,
    readiness: Sequence[str] | None = None,
    start_times: Sequence[datetime] | None = None,
    phases: Sequence[str] | None = None,
    deleted: Sequence[bool] | None = None,
    transition_at_start: bool = False,
    split_requests: bool = False,
) -> tuple[Pod, ...]:
    """Pods test-pod-0..n with two containers, as upstream's pod lister fakes them.

    replica_calculator_test gives each container the pod's request and leaves the Ready
    condition's transition time unset; horizontal_test splits the request between the
    two containers and sets the transition time to the start time.
    """
    count = max(count, len(phases or ()))
    out = []
    for i in range(count):
        start = start_times[i] if start_times is not None else ZERO_TIME
        status = readiness[i] if readiness is not None and i < len(readiness) else "True"
        containers: tuple[Container, ...] = (Container("container1"), Container("container2"))
        if requests is not None and i < len(requests):
            request = milli(requests[i])
            each = request // 2 if split_requests else request
            containers = (
                Container("container1", {"cpu": each}),
                Container("container2", {"cpu": each}),
            )
        out.append(
            Pod(
                name=pod_name(i),
                namespace=NAMESPACE,
                labels=LABELS,
                phase=phases[i] if phases is not None else "Running",
                deleted=bool(deleted and deleted[i]),
                start_time=start,
                ready=PodCondition(status, start if transition_at_start else ZERO_TIME),
                containers=containers,
            )
        )
    return tuple(out)


def pod_metrics(
    levels: Sequence[Sequence[int]],
    names: Sequence[str] = (),
    timestamp: datetime = ZERO_TIME,
    resource: str = "cpu",
) -> tuple[PodMetrics, ...]:
    """PodMetrics per pod; levels[i][j] is container j's usage, and a pod reporting fewer
    than two containers gets an empty, nameless one, as upstream's fake leaves it."""
    out = []
    for i, level in enumerate(levels):
        containers = [
            ContainerMetrics(f"container{j + 1}", {resource: value})
            for j, value in enumerate(level)
        ]
        containers += [ContainerMetrics("", {})] * (2 - len(containers))
        out.append(
            PodMetrics(
                name=names[i] if i < len(names) else pod_name(i),
                namespace=NAMESPACE,
                labels=LABELS,
                timestamp=timestamp,
                window=timedelta(minutes=1),
                containers=tuple(containers),
            )
        )
    return tuple(out)


def same_levels(*per_pod: int) -> list[list[int]]:
    """makePodMetricLevels: both containers of pod i report per_pod[i]."""
    return [[value, value] for value in per_pod]


def pods_metric(name: str, levels: Sequence[int]) -> tuple[CustomMetricValue, ...]:
    return tuple(
        CustomMetricValue(name, "Pod", pod_name(i), level, NAMESPACE)
        for i, level in enumerate(levels)
    )


def object_metric(name: str, value: int, kind: str = "Deployment") -> CustomMetricValue:
    return CustomMetricValue(name, kind, "some-deployment", value, NAMESPACE)


def external_metric(name: str, levels: Sequence[int]) -> tuple[ExternalMetricValue, ...]:
    return tuple(ExternalMetricValue(name, level) for level in levels)


def cluster(
    pod_list: Sequence[Pod],
    metrics: Sequence[PodMetrics] = (),
    custom: Sequence[CustomMetricValue] = (),
    external: Sequence[ExternalMetricValue] = (),
) -> Cluster:
    return Cluster(tuple(pod_list), tuple(metrics), tuple(custom), tuple(external))
