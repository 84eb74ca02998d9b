"""The metrics APIs as a case recorded them, answering as the controller's metrics client.

An answer that is absent from the record failed to be fetched; the error text is what the
controller would have printed for the matching real answer: an empty list from
metrics-server, the custom or the external metrics API, and prometheus-adapter's 404 for
an Object metric without a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from apiservice.errors import metric_not_found
from apiservice.selectors import Selector
from autoscaler.core.objects import Cluster, CrossVersionObjectReference, Pod, PodMetrics
from autoscaler.core.replicas import PodMetric, PodMetricsInfo, ReplicaCalculationError
from autoscaler.core.selectors import LabelSelector

# The window the controller assumes when a custom metric states none.
DEFAULT_METRIC_WINDOW = timedelta(minutes=1)


def target_pods(cluster: Cluster, namespace: str, selector: Selector) -> tuple[Pod, ...]:
    """The pod lister's answer: the namespace's pods that the selector matches."""
    return tuple(
        p for p in cluster.pods if p.namespace in ("", namespace) and selector.matches(p.labels)
    )


@dataclass(frozen=True)
class RecordedMetrics:
    """MetricsClient over a Cluster record, for one HPA's namespace and target pods."""

    cluster: Cluster
    namespace: str
    selector: Selector
    pods: Sequence[Pod]

    def resource_metric(self, resource: str, container: str) -> tuple[PodMetricsInfo, datetime]:
        items = [m for m in self.cluster.pod_metrics if self._selected(m)]
        if not items:
            raise ReplicaCalculationError("no metrics returned from resource metrics API")
        values: PodMetricsInfo = {}
        for item in items:
            value = _usage(item, resource, container)
            if value is not None:
                values[item.name] = PodMetric(value, item.timestamp, item.window)
        return values, items[0].timestamp

    def _selected(self, item: PodMetrics) -> bool:
        """metrics-server lists by the pods' labels, which its items carry."""
        if item.namespace not in ("", self.namespace):
            return False
        labels = item.labels
        if labels is None:
            pod = next((p for p in self.cluster.pods if p.name == item.name), None)
            labels = pod.labels if pod and pod.namespace in ("", self.namespace) else {}
        return self.selector.matches(labels)

    def raw_metric(self, metric: str) -> tuple[PodMetricsInfo, datetime]:
        names = {p.name for p in self.pods}
        items = [
            v
            for v in self.cluster.custom_metrics
            if v.metric == metric
            and v.kind == "Pod"
            and v.name in names
            and v.namespace in ("", self.namespace)
        ]
        if not items:
            raise ReplicaCalculationError("no metrics returned from custom metrics API")
        values: PodMetricsInfo = {}
        for item in items:
            window = (
                timedelta(seconds=item.window_seconds)
                if item.window_seconds is not None
                else DEFAULT_METRIC_WINDOW
            )
            values[item.name] = PodMetric(item.value, item.timestamp, window)
        return values, items[0].timestamp

    def object_metric(
        self, metric: str, described: CrossVersionObjectReference
    ) -> tuple[int, datetime]:
        for item in self.cluster.custom_metrics:
            if item.metric == metric and item.kind == described.kind:
                if item.name == described.name and item.namespace in ("", self.namespace):
                    return item.value, item.timestamp
        resource = _group_resource(described)
        err = metric_not_found(metric, resource, described.name)
        raise ReplicaCalculationError(f"unable to fetch metrics from custom metrics API: {err}")

    def external_metric(
        self, metric: str, selector: LabelSelector | None
    ) -> tuple[list[int], datetime]:
        items = [v for v in self.cluster.external_metrics if v.metric == metric]
        if not items:
            raise ReplicaCalculationError("no metrics returned from external metrics API")
        return [v.value for v in items], items[0].timestamp


def _usage(item: PodMetrics, resource: str, container: str) -> int | None:
    """A pod's usage: one container's, or the sum over all containers if each reports it."""
    if container:
        for c in item.containers:
            if c.name == container:
                return c.usage.get(resource)
        return None
    if not item.containers or any(resource not in c.usage for c in item.containers):
        return None
    return sum(c.usage[resource] for c in item.containers)


def _group_resource(ref: CrossVersionObjectReference) -> str:
    """The REST mapper's group-resource for a kind, as the adapter names it in a 404."""
    kind = ref.kind.lower()
    if kind.endswith(("s", "x", "z", "ch", "sh")):
        plural = kind + "es"
    elif kind.endswith("y") and kind[-2:-1] not in "aeiou":
        plural = kind[:-1] + "ies"
    else:
        plural = kind + "s"
    group = ref.api_version.rpartition("/")[0]
    return f"{plural}.{group}" if group else plural
