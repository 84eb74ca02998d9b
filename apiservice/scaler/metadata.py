"""A KEDA trigger's metadata, read into what to ask the Provider and how to judge it.

KEDA sends every key of the trigger's `metadata` (its own `scalerAddress`, `tlsCertFile`
and so on included), so unknown keys are ignored. Each problem raises `InvalidMetadata`
naming the key, which the server answers with INVALID_ARGUMENT.

One of three sources, each summed over what it returns (as the HPA sums an external
metric's items, so KEDA's AverageValue target divides the total by the replicas):

- a custom metric: `metricName`, `resource` (`pods`, `deployments.apps`, ...), and `name`
  (one object) or `labelSelector` (the objects it selects); `namespace` defaults to the
  ScaledObject's;
- an external metric: `externalMetric`, optional `labelSelector`, `namespace` as above;
- raw PromQL: `query`, refused unless the server allows it (`--scaler-allow-raw-query`).

`targetValue` (required, above 0) becomes the metric spec's target; the trigger is active
while the value is above `activationValue` (default 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from apiservice.selectors import Selector, SelectorError, parse_selector

SOURCES = ("metricName", "externalMetric", "query")
QUERY_METRIC_NAME = "surge-query"


class InvalidMetadata(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"scalerMetadata.{key}: {problem}")
        self.key = key


@dataclass(frozen=True)
class CustomSource:
    metric: str
    resource: str
    namespace: str
    name: str | None  # None: every object `selector` selects
    selector: Selector


@dataclass(frozen=True)
class ExternalSource:
    metric: str
    namespace: str
    selector: Selector


@dataclass(frozen=True)
class QuerySource:
    promql: str


Source = CustomSource | ExternalSource | QuerySource


@dataclass(frozen=True)
class Trigger:
    source: Source
    target: float
    activation: float

    @property
    def metric_name(self) -> str:
        """The name KEDA gives the metric in the HPA it builds."""
        match self.source:
            case CustomSource(metric=metric) | ExternalSource(metric=metric):
                return metric
            case QuerySource():
                return QUERY_METRIC_NAME


def _number(metadata: Mapping[str, str], key: str, default: float | None) -> float:
    text = metadata.get(key, "").strip()
    if not text:
        if default is None:
            raise InvalidMetadata(key, "required (a number above 0)")
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidMetadata(key, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidMetadata(key, f"{text!r} is not a finite number")
    return value


def _selector(metadata: Mapping[str, str]) -> Selector:
    try:
        return parse_selector(metadata.get("labelSelector") or None)
    except SelectorError as err:
        raise InvalidMetadata("labelSelector", err.message) from None


def _required(metadata: Mapping[str, str], key: str, why: str) -> str:
    value = metadata.get(key, "").strip()
    if not value:
        raise InvalidMetadata(key, f"required {why}")
    return value


def parse_trigger(
    metadata: Mapping[str, str], default_namespace: str, *, allow_query: bool
) -> Trigger:
    """The trigger `metadata` describes, for a ScaledObject in `default_namespace`."""
    given = [key for key in SOURCES if metadata.get(key, "").strip()]
    if not given:
        raise InvalidMetadata(SOURCES[0], f"one of {', '.join(SOURCES)} is required")
    if len(given) > 1:
        raise InvalidMetadata(given[1], f"give only one of {', '.join(given)}")
    namespace = metadata.get("namespace", "").strip() or default_namespace
    source: Source
    match given[0]:
        case "metricName":
            metric = metadata["metricName"].strip()
            resource = _required(
                metadata, "resource", "with metricName (pods, deployments.apps, ...)"
            )
            name = metadata.get("name", "").strip() or None
            if name is not None and metadata.get("labelSelector", "").strip():
                raise InvalidMetadata("labelSelector", "give name or labelSelector, not both")
            if name is None and not metadata.get("labelSelector", "").strip():
                raise InvalidMetadata("name", "one of name or labelSelector is required")
            source = CustomSource(metric, resource, namespace, name, _selector(metadata))
        case "externalMetric":
            source = ExternalSource(
                metadata["externalMetric"].strip(), namespace, _selector(metadata)
            )
        case _:
            if not allow_query:
                raise InvalidMetadata(
                    "query", "raw PromQL is disabled on this server (--scaler-allow-raw-query)"
                )
            source = QuerySource(metadata["query"].strip())
    target = _number(metadata, "targetValue", None)
    if target <= 0:
        raise InvalidMetadata("targetValue", f"must be above 0, got {target:g}")
    activation = _number(metadata, "activationValue", 0.0)
    return Trigger(source, target, activation)
