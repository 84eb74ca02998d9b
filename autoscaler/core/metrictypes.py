"""The HPA's metric source types (autoscaling/v2 MetricSourceType), named once.

A new metric type is a member here, its reading in autoscaler.core.hpa (compute_replicas
for one metric) and its fields in autoscaler.cases.read_hpa.
"""

from __future__ import annotations

from enum import StrEnum


class MetricSourceType(StrEnum):
    OBJECT = "Object"
    PODS = "Pods"
    RESOURCE = "Resource"
    CONTAINER_RESOURCE = "ContainerResource"
    EXTERNAL = "External"

    @property
    def key(self) -> str:
        """The field of a MetricSpec or MetricStatus that holds this type's source."""
        return self.value[0].lower() + self.value[1:]
