"""HPA decision cases: the JSON format of `surge hpa evaluate` (shared/hpa-case-format.md).

A case is one frozen decision: the HPA, the scale, what the controller would read from the
cluster and the metrics APIs, its memory and its flags. Reading a case validates it and
names the first bad field; the decision itself is autoscaler.core.hpa.decide.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO, TypeVar

from apiservice.quantity import Quantity, QuantityError
from autoscaler.core.behavior import History, Recommendation, ScaleEvent
from autoscaler.core.conditions import Condition
from autoscaler.core.hpa import Decision, Options, decide
from autoscaler.core.metrictypes import MetricSourceType
from autoscaler.core.objects import (
    ZERO_TIME,
    Behavior,
    Cluster,
    Container,
    ContainerMetrics,
    CrossVersionObjectReference,
    CustomMetricValue,
    ExternalMetricValue,
    HorizontalPodAutoscaler,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    Pod,
    PodCondition,
    PodMetrics,
    Scale,
    ScalingPolicy,
    ScalingRules,
)
from autoscaler.core.selectors import LabelSelector, LabelSelectorRequirement
from autoscaler.core.versions import DEFAULT_VERSION, Release, VersionError, release

USAGE = "usage: surge hpa evaluate CASE.json [CASE.json ...]"

T = TypeVar("T")


class CaseError(ValueError):
    """A file that is not a valid case; the message names the field first."""


def _fail(path: str, problem: str) -> CaseError:
    return CaseError(f"{path}: {problem}")


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "must be an object")
    return value


def _field(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if obj.get(key) is None:
        raise _fail(f"{path}.{key}" if path else key, "is required")
    return obj[key]


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, "must be a list")
    return value


def _each(value: Any, path: str, parse: Callable[[Any, str], T]) -> tuple[T, ...]:
    return tuple(parse(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path)))


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    return value


def _optional_string(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    return "" if value is None else _string(value, f"{path}.{key}")


def _integer(value: Any, path: str, minimum: int | None = None, maximum: int = 2**31 - 1) -> int:
    """An int32, as the API's integer fields are."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, "must be an integer")
    if minimum is not None and value < minimum:
        raise _fail(path, f"must be at least {minimum}")
    if value > maximum:
        raise _fail(path, f"must be at most {maximum}")
    return value


# Bounds that keep time arithmetic within datetime's range (seconds, years).
MAX_SECONDS = 10**9
MIN_YEAR, MAX_YEAR = 1970, 9000


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise _fail(path, "must be a number")
    if not 0 <= value <= MAX_SECONDS:
        raise _fail(path, f"must be between 0 and {MAX_SECONDS}")
    return float(value)


def _time(value: Any, path: str) -> datetime:
    text = _string(value, path)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in text.upper():
        raise _fail(path, f"must be an RFC 3339 time such as 2026-01-01T12:00:00Z, not {text!r}")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise _fail(path, f"must be a time between the years {MIN_YEAR} and {MAX_YEAR}")
    return parsed


def _milli(value: Any, path: str, positive: bool = False) -> int:
    """A resource.Quantity (string or number) as Go's MilliValue()."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(path, 'must be a quantity such as "500m" or "2"')
    try:
        milli = Quantity.parse(str(value)).milli_value()
    except QuantityError as err:
        raise _fail(path, f"must be a quantity: {err}") from None
    if positive and milli <= 0:
        raise _fail(path, "must be positive")
    return milli


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _tolerance(value: Any, path: str) -> float | None:
    """HPAScalingRules.tolerance: a non-negative quantity, read as AsApproximateFloat64."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(path, 'must be a quantity such as "0.05"')
    try:
        tolerance = float(Quantity.parse(str(value)))
    except QuantityError as err:
        raise _fail(path, f"must be a quantity: {err}") from None
    if tolerance < 0:
        raise _fail(path, "must be greater than or equal to 0")
    return tolerance


def _duration(value: Any, path: str) -> timedelta:
    """A metav1.Duration as Go prints it: "1m0s", "30s", "1.5s"."""
    text = _string(value, path)
    body = text.lstrip("+")
    if body == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if not match:
            raise _fail(path, f'must be a duration such as "1m0s" or "30s", not {text!r}')
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise _fail(path, 'must be a duration such as "1m0s" or "30s"')
    return timedelta(seconds=seconds)


def _labels(value: Any, path: str) -> dict[str, str]:
    labels = _object(value, path) if value is not None else {}
    for key, val in labels.items():
        _string(val, f"{path}.{key}")
    return dict(labels)


def _resource_list(value: Any, path: str) -> dict[str, int]:
    if value is None:
        return {}
    return {k: _milli(v, f"{path}.{k}") for k, v in _object(value, path).items()}


# --- the HPA ---------------------------------------------------------------------------


def _label_selector(value: Any, path: str) -> LabelSelector | None:
    if value is None:
        return None
    obj = _object(value, path)
    expressions = []
    for i, raw in enumerate(_list(obj.get("matchExpressions"), f"{path}.matchExpressions")):
        req_path = f"{path}.matchExpressions[{i}]"
        req = _object(raw, req_path)
        values = tuple(
            _string(v, f"{req_path}.values[{j}]")
            for j, v in enumerate(_list(req.get("values"), f"{req_path}.values"))
        )
        expressions.append(
            LabelSelectorRequirement(
                _string(_field(req, "key", req_path), f"{req_path}.key"),
                _string(_field(req, "operator", req_path), f"{req_path}.operator"),
                values,
            )
        )
    return LabelSelector(_labels(obj.get("matchLabels"), f"{path}.matchLabels"), expressions)


def _target(value: Any, path: str) -> MetricTarget:
    obj = _object(value, path)
    utilization = obj.get("averageUtilization")
    return MetricTarget(
        type=_string(_field(obj, "type", path), f"{path}.type"),
        value=None if obj.get("value") is None else _milli(obj["value"], f"{path}.value", True),
        average_value=(
            None
            if obj.get("averageValue") is None
            else _milli(obj["averageValue"], f"{path}.averageValue", True)
        ),
        average_utilization=(
            None
            if utilization is None
            else _integer(utilization, f"{path}.averageUtilization", minimum=1)
        ),
    )


def _identifier(value: Any, path: str) -> MetricIdentifier:
    obj = _object(value, path)
    return MetricIdentifier(
        _string(_field(obj, "name", path), f"{path}.name"),
        _label_selector(obj.get("selector"), f"{path}.selector"),
    )


def _metric_spec(value: Any, path: str) -> MetricSpec:
    obj = _object(value, path)
    kind = _string(_field(obj, "type", path), f"{path}.type")
    match kind:
        case MetricSourceType.RESOURCE | MetricSourceType.CONTAINER_RESOURCE:
            key = MetricSourceType(kind).key
            src_path = f"{path}.{key}"
            src = _object(_field(obj, key, path), src_path)
            container = None
            if kind == MetricSourceType.CONTAINER_RESOURCE:
                container = _string(_field(src, "container", src_path), f"{src_path}.container")
            return MetricSpec(
                kind,
                target=_target(_field(src, "target", src_path), f"{src_path}.target"),
                resource=_string(_field(src, "name", src_path), f"{src_path}.name"),
                container=container,
            )
        case MetricSourceType.PODS:
            src_path = f"{path}.pods"
            src = _object(_field(obj, "pods", path), src_path)
            target = _target(_field(src, "target", src_path), f"{src_path}.target")
            if target.average_value is None:
                raise _fail(f"{src_path}.target.averageValue", "is required for a Pods metric")
            return MetricSpec(
                kind,
                target=target,
                metric=_identifier(_field(src, "metric", src_path), f"{src_path}.metric"),
            )
        case MetricSourceType.OBJECT:
            src_path = f"{path}.object"
            src = _object(_field(obj, "object", path), src_path)
            ref_path = f"{src_path}.describedObject"
            ref = _object(_field(src, "describedObject", src_path), ref_path)
            return MetricSpec(
                kind,
                target=_target(_field(src, "target", src_path), f"{src_path}.target"),
                metric=_identifier(_field(src, "metric", src_path), f"{src_path}.metric"),
                described_object=CrossVersionObjectReference(
                    kind=_string(_field(ref, "kind", ref_path), f"{ref_path}.kind"),
                    name=_string(_field(ref, "name", ref_path), f"{ref_path}.name"),
                    api_version=_optional_string(ref, "apiVersion", ref_path),
                ),
            )
        case MetricSourceType.EXTERNAL:
            src_path = f"{path}.external"
            src = _object(_field(obj, "external", path), src_path)
            return MetricSpec(
                kind,
                target=_target(_field(src, "target", src_path), f"{src_path}.target"),
                metric=_identifier(_field(src, "metric", src_path), f"{src_path}.metric"),
            )
    # An unknown type is the controller's business: it reports InvalidMetricSourceType.
    return MetricSpec(kind)


_SELECT_POLICIES = ("Max", "Min", "Disabled")
_POLICY_TYPES = ("Pods", "Percent")


def _policy(value: Any, path: str) -> ScalingPolicy:
    obj = _object(value, path)
    kind = _string(_field(obj, "type", path), f"{path}.type")
    if kind not in _POLICY_TYPES:
        raise _fail(f"{path}.type", f"must be one of {', '.join(_POLICY_TYPES)}")
    return ScalingPolicy(
        kind,
        _integer(_field(obj, "value", path), f"{path}.value", minimum=1),
        _integer(
            _field(obj, "periodSeconds", path), f"{path}.periodSeconds", minimum=1, maximum=1800
        ),
    )


def read_scaling_rules(value: Any, path: str) -> ScalingRules | None:
    """One direction of an HPA's behavior (scaleUp or scaleDown) as typed values; raises
    CaseError naming the first bad field under `path`."""
    if value is None:
        return None
    obj = _object(value, path)
    window = obj.get("stabilizationWindowSeconds")
    select = obj.get("selectPolicy")
    if select is not None and select not in _SELECT_POLICIES:
        raise _fail(f"{path}.selectPolicy", f"must be one of {', '.join(_SELECT_POLICIES)}")
    return ScalingRules(
        stabilization_window_seconds=(
            None
            if window is None
            else _integer(window, f"{path}.stabilizationWindowSeconds", minimum=0, maximum=3600)
        ),
        select_policy=select,
        policies=(
            None
            if obj.get("policies") is None
            else _each(obj["policies"], f"{path}.policies", _policy)
        ),
        tolerance=_tolerance(obj.get("tolerance"), f"{path}.tolerance"),
    )


def _condition(value: Any, path: str) -> Condition:
    obj = _object(value, path)
    return Condition(
        _string(_field(obj, "type", path), f"{path}.type"),
        _string(_field(obj, "status", path), f"{path}.status"),
        _optional_string(obj, "reason", path),
        _optional_string(obj, "message", path),
    )


def read_hpa(value: Any) -> HorizontalPodAutoscaler:
    """An autoscaling/v2 HorizontalPodAutoscaler object (as applied, or as the API returns
    it) as typed values; raises CaseError naming the first bad field (hpa.spec...)."""
    obj = _object(value, "hpa")
    meta = _object(obj.get("metadata") or {}, "hpa.metadata")
    spec = _object(_field(obj, "spec", "hpa"), "hpa.spec")
    metrics = _each(_field(spec, "metrics", "hpa.spec"), "hpa.spec.metrics", _metric_spec)
    if not metrics:
        raise _fail("hpa.spec.metrics", "must list at least one metric")
    min_replicas = spec.get("minReplicas")
    behavior = None
    if spec.get("behavior") is not None:
        raw = _object(spec["behavior"], "hpa.spec.behavior")
        behavior = Behavior(
            read_scaling_rules(raw.get("scaleUp"), "hpa.spec.behavior.scaleUp"),
            read_scaling_rules(raw.get("scaleDown"), "hpa.spec.behavior.scaleDown"),
        )
    status = _object(obj.get("status") or {}, "hpa.status")
    return HorizontalPodAutoscaler(
        name=_optional_string(meta, "name", "hpa.metadata"),
        namespace=_optional_string(meta, "namespace", "hpa.metadata") or "default",
        max_replicas=_integer(
            _field(spec, "maxReplicas", "hpa.spec"), "hpa.spec.maxReplicas", minimum=1
        ),
        metrics=metrics,
        min_replicas=(
            None
            if min_replicas is None
            else _integer(min_replicas, "hpa.spec.minReplicas", minimum=0)
        ),
        behavior=behavior,
        conditions=_each(status.get("conditions"), "hpa.status.conditions", _condition),
        status_replicas=_status_replicas(status),
    )


def _status_replicas(status: Mapping[str, Any]) -> int | None:
    """status.currentReplicas; the API leaves out a 0 (omitempty) where the controller wrote
    a status (desiredReplicas is always there); no status at all: None."""
    if status.get("currentReplicas") is not None:
        return _integer(status["currentReplicas"], "hpa.status.currentReplicas", minimum=0)
    return 0 if "desiredReplicas" in status else None


def read_scale(value: Any) -> Scale:
    """The target's scale subresource (autoscaling/v1 Scale status: replicas, selector)."""
    obj = _object(value, "scale")
    return Scale(
        _integer(_field(obj, "replicas", "scale"), "scale.replicas", minimum=0),
        _optional_string(obj, "selector", "scale"),
    )


# --- the cluster -----------------------------------------------------------------------


def _container(value: Any, path: str) -> Container:
    obj = _object(value, path)
    resources = _object(obj.get("resources") or {}, f"{path}.resources")
    policy = obj.get("restartPolicy")
    return Container(
        name=_optional_string(obj, "name", path),
        requests=_resource_list(resources.get("requests"), f"{path}.resources.requests"),
        restart_policy=None if policy is None else _string(policy, f"{path}.restartPolicy"),
    )


def _pod(value: Any, path: str) -> Pod:
    obj = _object(value, path)
    meta = _object(_field(obj, "metadata", path), f"{path}.metadata")
    spec = _object(obj.get("spec") or {}, f"{path}.spec")
    status = _object(obj.get("status") or {}, f"{path}.status")
    ready = None
    for i, raw in enumerate(_list(status.get("conditions"), f"{path}.status.conditions")):
        cond_path = f"{path}.status.conditions[{i}]"
        cond = _object(raw, cond_path)
        if cond.get("type") == "Ready":
            transition = cond.get("lastTransitionTime")
            ready = PodCondition(
                _string(_field(cond, "status", cond_path), f"{cond_path}.status"),
                ZERO_TIME
                if transition is None
                else _time(transition, f"{cond_path}.lastTransitionTime"),
            )
            break
    pod_resources = spec.get("resources")
    requests = None
    if pod_resources is not None:
        res = _object(pod_resources, f"{path}.spec.resources")
        requests = _resource_list(res.get("requests"), f"{path}.spec.resources.requests")
    start = status.get("startTime")
    if meta.get("deletionTimestamp") is not None:
        _time(meta["deletionTimestamp"], f"{path}.metadata.deletionTimestamp")
    return Pod(
        name=_string(_field(meta, "name", f"{path}.metadata"), f"{path}.metadata.name"),
        namespace=_optional_string(meta, "namespace", f"{path}.metadata"),
        labels=_labels(meta.get("labels"), f"{path}.metadata.labels"),
        phase=_optional_string(status, "phase", f"{path}.status"),
        deleted=meta.get("deletionTimestamp") is not None,
        start_time=None if start is None else _time(start, f"{path}.status.startTime"),
        ready=ready,
        containers=_each(spec.get("containers"), f"{path}.spec.containers", _container),
        init_containers=_each(
            spec.get("initContainers"), f"{path}.spec.initContainers", _container
        ),
        requests=requests,
    )


def _pod_metrics(value: Any, path: str) -> PodMetrics:
    obj = _object(value, path)
    meta = _object(_field(obj, "metadata", path), f"{path}.metadata")
    containers = []
    for i, raw in enumerate(_list(obj.get("containers"), f"{path}.containers")):
        c_path = f"{path}.containers[{i}]"
        cont = _object(raw, c_path)
        containers.append(
            ContainerMetrics(
                _optional_string(cont, "name", c_path),
                _resource_list(cont.get("usage"), f"{c_path}.usage"),
            )
        )
    return PodMetrics(
        name=_string(_field(meta, "name", f"{path}.metadata"), f"{path}.metadata.name"),
        containers=tuple(containers),
        namespace=_optional_string(meta, "namespace", f"{path}.metadata"),
        labels=(
            None
            if meta.get("labels") is None
            else _labels(meta["labels"], f"{path}.metadata.labels")
        ),
        timestamp=(
            ZERO_TIME
            if obj.get("timestamp") is None
            else _time(obj["timestamp"], f"{path}.timestamp")
        ),
        window=(
            timedelta(0)
            if obj.get("window") is None
            else _duration(obj["window"], f"{path}.window")
        ),
    )


def _items(value: Any, path: str) -> list[tuple[Mapping[str, Any], str]]:
    items = _list(_field(_object(value, path), "items", path), f"{path}.items")
    return [
        (_object(item, f"{path}.items[{i}]"), f"{path}.items[{i}]") for i, item in enumerate(items)
    ]


def _custom_metrics(value: Any, path: str) -> tuple[CustomMetricValue, ...]:
    values = []
    for item, item_path in _items(value, path):
        ref_path = f"{item_path}.describedObject"
        ref = _object(_field(item, "describedObject", item_path), ref_path)
        if item.get("metric") is not None:  # v1beta2
            metric = _string(
                _field(
                    _object(item["metric"], f"{item_path}.metric"), "name", f"{item_path}.metric"
                ),
                f"{item_path}.metric.name",
            )
        else:  # v1beta1
            metric = _string(_field(item, "metricName", item_path), f"{item_path}.metricName")
        window = item.get("windowSeconds")
        values.append(
            CustomMetricValue(
                metric=metric,
                kind=_string(_field(ref, "kind", ref_path), f"{ref_path}.kind"),
                name=_string(_field(ref, "name", ref_path), f"{ref_path}.name"),
                value=_milli(_field(item, "value", item_path), f"{item_path}.value"),
                namespace=_optional_string(ref, "namespace", ref_path),
                timestamp=(
                    ZERO_TIME
                    if item.get("timestamp") is None
                    else _time(item["timestamp"], f"{item_path}.timestamp")
                ),
                window_seconds=(
                    None if window is None else _integer(window, f"{item_path}.windowSeconds")
                ),
            )
        )
    return tuple(values)


def _external_metrics(value: Any, path: str) -> tuple[ExternalMetricValue, ...]:
    return tuple(
        ExternalMetricValue(
            metric=_string(_field(item, "metricName", item_path), f"{item_path}.metricName"),
            value=_milli(_field(item, "value", item_path), f"{item_path}.value"),
            timestamp=(
                ZERO_TIME
                if item.get("timestamp") is None
                else _time(item["timestamp"], f"{item_path}.timestamp")
            ),
        )
        for item, item_path in _items(value, path)
    )


def _flatten(lists: Sequence[tuple[T, ...]]) -> tuple[T, ...]:
    return tuple(v for values in lists for v in values)


def read_cluster(
    pods: Any, pod_metrics: Any, custom_metrics: Any, external_metrics: Any
) -> Cluster:
    """What the controller's listers and metrics clients hold, from the APIs' answers: pods,
    PodMetrics, and custom and external MetricValueLists (each a list of answers)."""
    return Cluster(
        pods=_each(pods, "pods", _pod),
        pod_metrics=_each(pod_metrics, "podMetrics", _pod_metrics),
        custom_metrics=_flatten(_each(custom_metrics, "customMetrics", _custom_metrics)),
        external_metrics=_flatten(_each(external_metrics, "externalMetrics", _external_metrics)),
    )


# --- memory and flags ------------------------------------------------------------------


def _recommendation(value: Any, path: str) -> Recommendation:
    obj = _object(value, path)
    return Recommendation(
        _integer(_field(obj, "replicas", path), f"{path}.replicas", minimum=0),
        _time(_field(obj, "timestamp", path), f"{path}.timestamp"),
    )


def _event(value: Any, path: str) -> ScaleEvent:
    obj = _object(value, path)
    return ScaleEvent(
        _integer(_field(obj, "replicaChange", path), f"{path}.replicaChange", minimum=0),
        _time(_field(obj, "timestamp", path), f"{path}.timestamp"),
    )


_HISTORY_KEYS = ("recommendations", "scaleUpEvents", "scaleDownEvents")
_OPTION_KEYS = (
    "tolerance",
    "cpuInitializationPeriodSeconds",
    "initialReadinessDelaySeconds",
    "downscaleStabilizationWindowSeconds",
    "kubernetesVersion",
    "featureGates",
)
_CASE_KEYS = (
    "now",
    "hpa",
    "scale",
    "pods",
    "podMetrics",
    "customMetrics",
    "externalMetrics",
    "history",
    "options",
)


def _known_keys(obj: Mapping[str, Any], keys: Sequence[str], path: str) -> None:
    for key in obj:
        if key not in keys:
            where = f"{path}.{key}" if path else key
            raise _fail(where, f"unknown field (expected one of {', '.join(keys)})")


def _history(value: Any) -> History:
    obj = _object(value or {}, "history")
    _known_keys(obj, _HISTORY_KEYS, "history")
    return History(
        recommendations=_each(
            obj.get("recommendations"), "history.recommendations", _recommendation
        ),
        scale_up_events=_each(obj.get("scaleUpEvents"), "history.scaleUpEvents", _event),
        scale_down_events=_each(obj.get("scaleDownEvents"), "history.scaleDownEvents", _event),
    )


def _release(obj: Mapping[str, Any]) -> Release:
    """options.kubernetesVersion and options.featureGates: the release the case decides as."""
    version = obj.get("kubernetesVersion")
    if version is not None and not isinstance(version, str):
        raise _fail("options.kubernetesVersion", 'must be a string such as "1.37"')
    gates = _object(obj.get("featureGates") or {}, "options.featureGates")
    for gate, on in gates.items():
        if not isinstance(on, bool):
            raise _fail(f"options.featureGates.{gate}", "must be true or false")
    try:
        base = release(version or DEFAULT_VERSION)
    except VersionError as err:
        raise _fail("options.kubernetesVersion", str(err)) from None
    try:
        return release(base.version, gates)
    except VersionError as err:
        raise _fail("options.featureGates", str(err)) from None


def _options(value: Any) -> Options:
    obj = _object(value or {}, "options")
    _known_keys(obj, _OPTION_KEYS, "options")
    defaults = Options()
    window = obj.get("downscaleStabilizationWindowSeconds")
    return Options(
        tolerance=(
            defaults.tolerance
            if obj.get("tolerance") is None
            else _number(obj["tolerance"], "options.tolerance")
        ),
        cpu_initialization_period_seconds=(
            defaults.cpu_initialization_period_seconds
            if obj.get("cpuInitializationPeriodSeconds") is None
            else _number(
                obj["cpuInitializationPeriodSeconds"], "options.cpuInitializationPeriodSeconds"
            )
        ),
        initial_readiness_delay_seconds=(
            defaults.initial_readiness_delay_seconds
            if obj.get("initialReadinessDelaySeconds") is None
            else _number(
                obj["initialReadinessDelaySeconds"], "options.initialReadinessDelaySeconds"
            )
        ),
        downscale_stabilization_window_seconds=(
            defaults.downscale_stabilization_window_seconds
            if window is None
            else _integer(window, "options.downscaleStabilizationWindowSeconds", 0, MAX_SECONDS)
        ),
        kubernetes=_release(obj),
    )


# --- the decision as JSON ----------------------------------------------------------------


def decision_json(decision: Decision) -> dict[str, Any]:
    """The output of the case format: desired replicas, each metric, the conditions."""
    metrics = []
    for result in decision.metrics:
        entry: dict[str, Any] = {"type": result.spec.type, "name": result.spec.name}
        if result.spec.container is not None:
            entry["container"] = result.spec.container
        entry["proposal"] = result.proposal
        entry["current"] = None if result.current is None else result.current.as_json()
        entry["error"] = result.error
        metrics.append(entry)
    return {
        "desiredReplicas": decision.desired_replicas,
        "metrics": metrics,
        "conditions": [cond.as_json() for cond in decision.conditions],
    }


def evaluate(case: Any) -> dict[str, Any]:
    """Decide one case given as parsed JSON; raises CaseError naming a bad field."""
    obj = _object(case, "(case)")
    _known_keys(obj, _CASE_KEYS, "")
    now = _time(_field(obj, "now", ""), "now")
    hpa = read_hpa(_field(obj, "hpa", ""))
    scale = read_scale(_field(obj, "scale", ""))
    cluster = read_cluster(
        obj.get("pods"), obj.get("podMetrics"), obj.get("customMetrics"), obj.get("externalMetrics")
    )
    history = _history(obj.get("history"))
    options = _options(obj.get("options"))
    return decision_json(decide(hpa, scale, cluster, history, options, now))


def evaluate_file(path: str) -> dict[str, Any]:
    """Decide the case in a file; raises CaseError for an unreadable or invalid case."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise CaseError(f"cannot read the file: {reason}") from None
    try:
        case = json.loads(text)
    except json.JSONDecodeError as err:
        raise CaseError(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    return evaluate(case)


def main(paths: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`surge hpa evaluate CASE.json [CASE.json ...]`: 0, or 2 for invalid input.

    out and err default to sys.stdout and sys.stderr as they are at the call.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    if not paths:
        print(USAGE, file=err)
        return 2
    if len(paths) == 1:
        try:
            decision = evaluate_file(paths[0])
        except CaseError as e:
            print(f"{paths[0]}: {e}", file=err)
            return 2
        out.write(json.dumps(decision, indent=2) + "\n")
        return 0
    status = 0
    for path in paths:
        try:
            line: dict[str, Any] = {"case": path, **evaluate_file(path)}
        except CaseError as e:
            line = {"case": path, "error": str(e)}
            status = 2
        out.write(json.dumps(line) + "\n")
    return status
