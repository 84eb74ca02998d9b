"""The replica calculator: one metric's proposal, as Kubernetes' ReplicaCalculator computes it.

A port of the logic of pkg/controller/podautoscaler/replica_calculator.go (release 1.37, with
1.34's overflow and container rules where the release says so):
integer milli-unit arithmetic with Go's truncating division, float64 ratios, the tolerance
band, and the treatment of unready, missing, ignored (deleted or failed) pods. Errors carry
Go's texts because they end up in the HPA's conditions. Time is an input, never read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from apiservice.quantity import go_int64
from autoscaler.core.objects import ZERO_TIME, CrossVersionObjectReference, Pod
from autoscaler.core.selectors import LabelSelector, go_string
from autoscaler.core.versions import Release

MAX_INT32 = 2**31 - 1
MIN_INT32 = -(2**31)
MAX_INT64 = 2**63 - 1
CPU = "cpu"


class ReplicaCalculationError(Exception):
    """A metric that yields no proposal; the text is the controller's error string."""


@dataclass(frozen=True)
class PodMetric:
    value: int
    timestamp: datetime
    window: timedelta


PodMetricsInfo = dict[str, PodMetric]

# The timestamp and window of the values the calculator substitutes for missing pods.
_NO_TIME = (ZERO_TIME, timedelta(0))


class MetricsClient(Protocol):
    """What the controller's metrics client answers; raises ReplicaCalculationError."""

    def resource_metric(self, resource: str, container: str) -> tuple[PodMetricsInfo, datetime]:
        """Per-pod usage of the target's pods (milli), summed over containers or one container."""
        ...

    def raw_metric(self, metric: str) -> tuple[PodMetricsInfo, datetime]:
        """A Pods metric of the target's pods (milli)."""
        ...

    def object_metric(
        self, metric: str, described: CrossVersionObjectReference
    ) -> tuple[int, datetime]:
        """An Object metric's value (milli)."""
        ...

    def external_metric(
        self, metric: str, selector: LabelSelector | None
    ) -> tuple[list[int], datetime]:
        """All values of an External metric (milli)."""
        ...


@dataclass(frozen=True)
class Tolerances:
    """Metric usage ratio tolerances; the band is [1 - scale_down, 1 + scale_up]."""

    scale_down: float = 0.1
    scale_up: float = 0.1

    def is_within(self, usage_ratio: float) -> bool:
        return (1.0 - self.scale_down) <= usage_ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class PodGroups:
    ready_count: int = 0
    unready: frozenset[str] = frozenset()
    missing: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()


def go_div(a: int, b: int) -> int:
    """Go's integer division: truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _fdiv(a: float, b: float) -> float:
    """Go's float64 division: dividing by zero gives an infinity or NaN, not an error."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def _wrap_int64(value: int) -> int:
    """Go's int64 addition overflow: wraps around."""
    return (value + 2**63) % 2**64 - 2**63


def _ceil(value: float) -> int:
    """Go's integer conversion of math.Ceil(value), which tolerates infinities and NaN."""
    return go_int64(math.ceil(value)) if math.isfinite(value) else go_int64(value)


def _go_int32(value: float) -> int:
    """Go's int32(math.Ceil(value)) on amd64: out of range (or NaN) gives MinInt32."""
    if not math.isfinite(value):
        return MIN_INT32
    ceiled = math.ceil(value)
    return ceiled if MIN_INT32 <= ceiled <= MAX_INT32 else MIN_INT32


def group_pods(
    pods: Sequence[Pod],
    metrics: Mapping[str, PodMetric],
    resource: str,
    cpu_initialization_period: timedelta,
    initial_readiness_delay: timedelta,
    now: datetime,
) -> PodGroups:
    """groupPods: ready count and the unready, missing and ignored pod names."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if resource == CPU:
            condition = pod.ready
            if condition is None or pod.start_time is None:
                is_unready = True
            elif pod.start_time + cpu_initialization_period > now:
                # Still initializing: ignore the sample if the pod is unready, or if one
                # metric window has not passed since its last readiness transition.
                is_unready = condition.status == "False" or metric.timestamp < (
                    condition.last_transition_time + metric.window
                )
            else:
                # Ignore the sample of a pod that is unready and has never been ready.
                is_unready = (
                    condition.status == "False"
                    and pod.start_time + initial_readiness_delay > condition.last_transition_time
                )
            if is_unready:
                unready.add(pod.name)
                continue
        ready += 1
    return PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def calculate_requests(
    pods: Sequence[Pod], container: str, resource: str, kubernetes: Release | None = None
) -> dict[str, int]:
    """calculateRequests: each pod's request (milli) for the resource.

    Pod-level requests win when set, no container is named and PodLevelResources is on;
    otherwise the containers' requests (including restartable init containers) are summed,
    or the named one taken (a pod without it fails from 1.35; 1.34 counted 0).
    """
    kubernetes = kubernetes or Release()
    requests: dict[str, int] = {}
    for pod in pods:
        if kubernetes.pod_level_resources and not container and _pod_level_requests_set(pod):
            if pod.requests is not None and resource in pod.requests:
                requests[pod.name] = pod.requests[resource]
                continue
        requests[pod.name] = _container_requests(
            pod, container, resource, kubernetes.requires_named_container
        )
    return requests


def _pod_level_requests_set(pod: Pod) -> bool:
    return pod.requests is not None and any(r in pod.requests for r in ("cpu", "memory"))


def _container_requests(pod: Pod, container: str, resource: str, must_exist: bool) -> int:
    containers = list(pod.containers) + [
        c for c in pod.init_containers if c.restart_policy == "Always"
    ]
    request = 0
    for c in containers:
        if not container or container == c.name:
            if resource not in c.requests:
                raise ReplicaCalculationError(
                    f"missing request for {resource} in container {c.name} of Pod {pod.name}"
                )
            request += c.requests[resource]
        if container == c.name and must_exist:
            return request
    if container and must_exist:
        raise ReplicaCalculationError(f"container {container} not found in Pod {pod.name}")
    return request


def resource_utilization_ratio(
    metrics: Mapping[str, PodMetric], requests: Mapping[str, int], target_utilization: int
) -> tuple[float, int, int]:
    """GetResourceUtilizationRatio: (ratio, utilization %, raw average milli-value)."""
    metrics_total = 0
    requests_total = 0
    entries = 0
    for pod_name, metric in metrics.items():
        request = requests.get(pod_name)
        if request is None:
            continue  # extraneous metric: its pod has no known request
        metrics_total += metric.value
        requests_total += request
        entries += 1
    if requests_total == 0:
        raise ReplicaCalculationError("no metrics returned matched known pods")
    utilization = go_div(metrics_total * 100, requests_total)
    return (
        _fdiv(float(utilization), float(target_utilization)),
        utilization,
        go_div(metrics_total, entries),
    )


def metric_usage_ratio(metrics: Mapping[str, PodMetric], target_usage: int) -> tuple[float, int]:
    """GetMetricUsageRatio: (ratio, average milli-value)."""
    total = sum(m.value for m in metrics.values())
    usage = go_div(total, len(metrics))
    return _fdiv(float(usage), float(target_usage)), usage


@dataclass(frozen=True)
class ResourceProposal:
    replicas: int
    utilization: int
    raw_value: int


@dataclass(frozen=True)
class ReplicaCalculator:
    """The target's pods and metrics, with the controller's timing flags and clock."""

    client: MetricsClient
    pods: Sequence[Pod]
    now: datetime
    cpu_initialization_period: timedelta = timedelta(minutes=5)
    initial_readiness_delay: timedelta = timedelta(seconds=30)
    kubernetes: Release = field(default_factory=Release)

    def _group(self, metrics: Mapping[str, PodMetric], resource: str) -> PodGroups:
        return group_pods(
            self.pods,
            metrics,
            resource,
            self.cpu_initialization_period,
            self.initial_readiness_delay,
            self.now,
        )

    def _require_pods(self) -> None:
        if not self.pods:
            raise ReplicaCalculationError(
                "no pods returned by selector while calculating replica count"
            )

    def resource_replicas(
        self,
        current_replicas: int,
        target_utilization: int,
        resource: str,
        tolerances: Tolerances,
        container: str = "",
    ) -> ResourceProposal:
        """GetResourceReplicas: a Resource/ContainerResource Utilization target."""
        try:
            fetched, _ = self.client.resource_metric(resource, container)
        except ReplicaCalculationError as err:
            raise ReplicaCalculationError(
                f"unable to get metrics for resource {resource}: {err}"
            ) from None
        metrics = dict(fetched)
        self._require_pods()
        groups = self._group(metrics, resource)
        for name in groups.ignored | groups.unready:
            metrics.pop(name, None)
        if not metrics:
            raise ReplicaCalculationError(
                "did not receive metrics for targeted pods (pods might be unready)"
            )
        requests = calculate_requests(self.pods, container, resource, self.kubernetes)
        usage_ratio, utilization, raw = resource_utilization_ratio(
            metrics, requests, target_utilization
        )

        def proposal(replicas: int) -> ResourceProposal:
            return ResourceProposal(replicas, utilization, raw)

        scale_up_with_unready = bool(groups.unready) and usage_ratio > 1.0
        if not scale_up_with_unready and not groups.missing:
            if tolerances.is_within(usage_ratio):
                return proposal(current_replicas)
            return proposal(_ceil(usage_ratio * groups.ready_count))

        if groups.missing:
            if usage_ratio < 1.0:
                # Scale-down: missing pods use 100% of their request, or the target if higher.
                fallback = max(100, target_utilization)
                for name in groups.missing:
                    metrics[name] = PodMetric(go_div(requests[name] * fallback, 100), *_NO_TIME)
            elif usage_ratio > 1.0:
                for name in groups.missing:
                    metrics[name] = PodMetric(0, *_NO_TIME)
        if scale_up_with_unready:
            for name in groups.unready:
                metrics[name] = PodMetric(0, *_NO_TIME)

        new_ratio, _, _ = resource_utilization_ratio(metrics, requests, target_utilization)
        if _no_change(tolerances, usage_ratio, new_ratio):
            return proposal(current_replicas)
        new_replicas = _ceil(new_ratio * len(metrics))
        if _direction_flipped(new_ratio, new_replicas, current_replicas):
            return proposal(current_replicas)
        return proposal(new_replicas)

    def raw_resource_replicas(
        self,
        current_replicas: int,
        target_usage: int,
        resource: str,
        tolerances: Tolerances,
        container: str = "",
    ) -> tuple[int, int]:
        """GetRawResourceReplicas: a Resource/ContainerResource AverageValue target."""
        try:
            metrics, _ = self.client.resource_metric(resource, container)
        except ReplicaCalculationError as err:
            raise ReplicaCalculationError(
                f"unable to get metrics for resource {resource}: {err}"
            ) from None
        return self._plain_metric_replicas(
            dict(metrics), current_replicas, target_usage, tolerances, resource
        )

    def metric_replicas(
        self, current_replicas: int, target_usage: int, metric: str, tolerances: Tolerances
    ) -> tuple[int, int]:
        """GetMetricReplicas: a Pods metric with an AverageValue target."""
        try:
            metrics, _ = self.client.raw_metric(metric)
        except ReplicaCalculationError as err:
            raise ReplicaCalculationError(f"unable to get metric {metric}: {err}") from None
        return self._plain_metric_replicas(
            dict(metrics), current_replicas, target_usage, tolerances, ""
        )

    def _plain_metric_replicas(
        self,
        metrics: PodMetricsInfo,
        current_replicas: int,
        target_usage: int,
        tolerances: Tolerances,
        resource: str,
    ) -> tuple[int, int]:
        """calcPlainMetricReplicas: (replicas, average usage) for non-utilization targets."""
        self._require_pods()
        groups = self._group(metrics, resource)
        for name in groups.ignored | groups.unready:
            metrics.pop(name, None)
        if not metrics:
            raise ReplicaCalculationError(
                "did not receive metrics for targeted pods (pods might be unready)"
            )
        usage_ratio, usage = metric_usage_ratio(metrics, target_usage)

        scale_up_with_unready = bool(groups.unready) and usage_ratio > 1.0
        if not scale_up_with_unready and not groups.missing:
            if tolerances.is_within(usage_ratio):
                return current_replicas, usage
            return _ceil(usage_ratio * groups.ready_count), usage

        if groups.missing:
            if usage_ratio < 1.0:
                # Scale-down: missing pods are assumed to be exactly at the target.
                for name in groups.missing:
                    metrics[name] = PodMetric(target_usage, *_NO_TIME)
            elif usage_ratio > 1.0:
                for name in groups.missing:
                    metrics[name] = PodMetric(0, *_NO_TIME)
        if scale_up_with_unready:
            for name in groups.unready:
                metrics[name] = PodMetric(0, *_NO_TIME)

        new_ratio, _ = metric_usage_ratio(metrics, target_usage)
        if _no_change(tolerances, usage_ratio, new_ratio):
            return current_replicas, usage
        new_replicas = _ceil(new_ratio * len(metrics))
        if _direction_flipped(new_ratio, new_replicas, current_replicas):
            return current_replicas, usage
        return new_replicas, usage

    def object_metric_replicas(
        self,
        current_replicas: int,
        target_usage: int,
        metric: str,
        tolerances: Tolerances,
        namespace: str,
        described: CrossVersionObjectReference,
    ) -> tuple[int, int]:
        """GetObjectMetricReplicas: an Object metric with a Value target."""
        usage = self._object_usage(metric, namespace, described)
        ratio = _fdiv(float(usage), float(target_usage))
        return self._usage_ratio_replicas(current_replicas, ratio, tolerances), usage

    def _object_usage(
        self, metric: str, namespace: str, described: CrossVersionObjectReference
    ) -> int:
        try:
            usage, _ = self.client.object_metric(metric, described)
        except ReplicaCalculationError as err:
            if self.kubernetes.texts_of_1_37:
                raise ReplicaCalculationError(
                    f"unable to get metric {metric} on {described.kind} "
                    f"{namespace}/{described.name}: {err}"
                ) from None
            # Up to 1.36 Go's format string put the error after the object's name, verbatim.
            raise ReplicaCalculationError(
                f"unable to get metric {metric}: {described.kind} on {namespace} "
                f"{described.name}/{err}"
            ) from None
        return usage

    def _usage_ratio_replicas(
        self, current_replicas: int, usage_ratio: float, tolerances: Tolerances
    ) -> int:
        """getUsageRatioReplicaCount: ready pods times the ratio; from zero, the ratio alone."""
        if current_replicas == 0:
            return _ceil(usage_ratio)
        if tolerances.is_within(usage_ratio):
            return current_replicas
        if not self.pods:
            raise ReplicaCalculationError(
                "unable to calculate ready pods: no pods returned by selector while "
                "calculating replica count"
            )
        ready = sum(1 for p in self.pods if p.phase == "Running" and p.is_ready)
        replicas = usage_ratio * ready
        if self.kubernetes.saturates_overflow:
            return MAX_INT32 if replicas > MAX_INT32 else _ceil(replicas)
        return _go_int32(replicas)

    def object_per_pod_metric_replicas(
        self,
        status_replicas: int,
        target_average_usage: int,
        metric: str,
        tolerances: Tolerances,
        namespace: str,
        described: CrossVersionObjectReference,
    ) -> tuple[int, int]:
        """GetObjectPerPodMetricReplicas: an Object metric with an AverageValue target."""
        usage = self._object_usage(metric, namespace, described)
        replicas = status_replicas
        usage_ratio = _fdiv(float(usage), float(target_average_usage) * float(replicas))
        if not tolerances.is_within(usage_ratio):
            replicas = _ceil(_fdiv(float(usage), float(target_average_usage)))
        return replicas, _ceil(_fdiv(float(usage), float(status_replicas)))

    def external_metric_replicas(
        self,
        current_replicas: int,
        target_usage: int,
        metric: str,
        tolerances: Tolerances,
        namespace: str,
        selector: LabelSelector | None,
    ) -> tuple[int, int]:
        """GetExternalMetricReplicas: the sum of an External metric against a Value target."""
        values = self._external(metric, namespace, selector)
        usage = 0
        saturate = self.kubernetes.saturates_overflow
        for value in values:
            if saturate and value > 0 and usage > MAX_INT64 - value:
                usage = MAX_INT64
                break
            usage = _wrap_int64(usage + value)
        ratio = _fdiv(float(usage), float(target_usage))
        return self._usage_ratio_replicas(current_replicas, ratio, tolerances), usage

    def external_per_pod_metric_replicas(
        self,
        status_replicas: int,
        target_usage_per_pod: int,
        metric: str,
        tolerances: Tolerances,
        namespace: str,
        selector: LabelSelector | None,
    ) -> tuple[int, int]:
        """GetExternalPerPodMetricReplicas: an External metric with an AverageValue target."""
        values = self._external(metric, namespace, selector)
        usage = 0
        for value in values:
            usage = _wrap_int64(usage + value)
            if usage < 0:
                usage = MAX_INT64  # Go reads a negative sum as an int64 overflow
                break
        replicas = status_replicas
        usage_ratio = _fdiv(float(usage), float(target_usage_per_pod) * float(replicas))
        if not tolerances.is_within(usage_ratio):
            proposed = math.ceil(_fdiv(float(usage), float(target_usage_per_pod)))
            replicas = MAX_INT32 if proposed > MAX_INT32 else int(proposed)
        if float(usage) >= float(MAX_INT64):
            usage = MAX_INT64
        else:
            usage = _ceil(_fdiv(float(usage), float(status_replicas)))
        return replicas, usage

    def _external(self, metric: str, namespace: str, selector: LabelSelector | None) -> list[int]:
        try:
            values, _ = self.client.external_metric(metric, selector)
        except ReplicaCalculationError as err:
            raise ReplicaCalculationError(
                f"unable to get external metric {namespace}/{metric}/{go_string(selector)}: {err}"
            ) from None
        return values


def _no_change(tolerances: Tolerances, usage_ratio: float, new_ratio: float) -> bool:
    """Too small a change, or the rebalanced ratio points the other way."""
    return (
        tolerances.is_within(new_ratio)
        or (usage_ratio < 1.0 and new_ratio > 1.0)
        or (usage_ratio > 1.0 and new_ratio < 1.0)
    )


def _direction_flipped(new_ratio: float, new_replicas: int, current_replicas: int) -> bool:
    """The number of metrics considered would move the replicas against the ratio."""
    return (new_ratio < 1.0 and new_replicas > current_replicas) or (
        new_ratio > 1.0 and new_replicas < current_replicas
    )
