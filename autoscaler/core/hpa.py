"""One decision of Kubernetes' HPA controller, as a pure function of its inputs.

A port of reconcileAutoscaler and computeReplicasForMetrics (horizontal.go, release 1.37,
and the rules of 1.34 to 1.36 where they differ, see autoscaler.core.versions):
every metric's proposal, the largest one winning, invalid metrics blocking a scale-down,
the min/max rules, normalization with or without behavior, the status conditions with
the controller's reasons and messages, and the memory it keeps for the next decision.
Nothing here reads a clock or does I/O: the time and the recorded cluster are inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from apiservice.quantity import Quantity
from apiservice.selectors import Selector, SelectorError, parse_selector
from autoscaler.core import conditions as c
from autoscaler.core.behavior import (
    History,
    Recommendation,
    normalize_desired_replicas,
    normalize_desired_replicas_with_behaviors,
    resolve_behavior,
    store_scale_event,
)
from autoscaler.core.conditions import Condition, remove_condition, set_condition
from autoscaler.core.metricsource import RecordedMetrics, target_pods
from autoscaler.core.metrictypes import MetricSourceType
from autoscaler.core.objects import Cluster, HorizontalPodAutoscaler, MetricSpec, Scale
from autoscaler.core.replicas import ReplicaCalculationError, ReplicaCalculator, Tolerances
from autoscaler.core.selectors import as_selector, go_string
from autoscaler.core.versions import Release


@dataclass(frozen=True)
class Options:
    """The controller's flags (kube-controller-manager --horizontal-pod-autoscaler-*) and
    its release with its --feature-gates."""

    tolerance: float = 0.1
    cpu_initialization_period_seconds: float = 300
    initial_readiness_delay_seconds: float = 30
    downscale_stabilization_window_seconds: int = 300
    kubernetes: Release = field(default_factory=Release)


@dataclass(frozen=True)
class MetricValueStatus:
    """autoscaling/v2 MetricValueStatus, quantities in milli-units."""

    value: int | None = None
    average_value: int | None = None
    average_utilization: int | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.value is not None:
            out["value"] = str(Quantity.from_milli(self.value))
        if self.average_value is not None:
            out["averageValue"] = str(Quantity.from_milli(self.average_value))
        if self.average_utilization is not None:
            out["averageUtilization"] = self.average_utilization
        return out


@dataclass(frozen=True)
class MetricResult:
    """One spec metric's outcome: a proposal and its current value, or an error."""

    spec: MetricSpec
    proposal: int | None = None
    current: MetricValueStatus | None = None
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    desired_replicas: int
    metrics: tuple[MetricResult, ...]
    conditions: tuple[Condition, ...]
    history: History
    rescale: bool


class _MetricError(Exception):
    """A metric without a proposal: the condition it would set and the controller's error."""

    def __init__(self, reason: str, condition_error: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.condition_error = condition_error
        self.error = error


def decide(
    hpa: HorizontalPodAutoscaler,
    scale: Scale,
    cluster: Cluster,
    history: History,
    options: Options,
    now: datetime,
) -> Decision:
    """reconcileAutoscaler, from the scale already read to the status it would write."""
    conds = list(hpa.conditions)
    set_condition(conds, c.ABLE_TO_SCALE, True, *c.SUCCEEDED_GET_SCALE)
    current = scale.replicas
    if not history.recommendations:
        history = replace(history, recommendations=(Recommendation(current, now),))
    min_replicas = hpa.min_replicas if hpa.min_replicas is not None else 1
    window = options.downscale_stabilization_window_seconds
    rules = resolve_behavior(hpa.behavior, window) if hpa.behavior is not None else None
    results = tuple(MetricResult(spec) for spec in hpa.metrics)

    kube = options.kubernetes
    # HPAScaleToZero's ScaledToZero condition (1.36 on): scaling up from zero needs it.
    from_object_or_external = any(
        m.type in (MetricSourceType.OBJECT, MetricSourceType.EXTERNAL) for m in hpa.metrics
    )
    scaled_to_zero = kube.scale_to_zero and any(
        x.type == c.SCALED_TO_ZERO and x.status == "True" for x in conds
    )
    if current == 0 and kube.zero_rules:
        if not (scaled_to_zero and (min_replicas != 0 or from_object_or_external)):
            set_condition(conds, c.SCALING_ACTIVE, False, *c.SCALING_DISABLED)
            if not kube.scale_to_zero:
                remove_condition(conds, c.SCALED_TO_ZERO)
            return Decision(current, results, tuple(conds), history, False)
    elif current == 0 and min_replicas != 0:
        set_condition(conds, c.SCALING_ACTIVE, False, *c.SCALING_DISABLED)
        return Decision(current, results, tuple(conds), history, False)
    if current != 0 and current > hpa.max_replicas:
        desired = hpa.max_replicas
    elif current != 0 and current < min_replicas:
        desired = min_replicas
    else:
        computed = _compute_replicas_for_metrics(hpa, scale, cluster, options, now, conds)
        results = computed.results
        if computed.replicas is None:
            return Decision(current, results, tuple(conds), history, False)
        desired = max(computed.replicas, 0)
        if rules is None:
            normalized = normalize_desired_replicas(
                history.recommendations,
                current,
                desired,
                min_replicas,
                hpa.max_replicas,
                window,
                now,
            )
        else:
            normalized = normalize_desired_replicas_with_behaviors(
                history, current, desired, min_replicas, hpa.max_replicas, *rules, now
            )
        history = replace(history, recommendations=normalized.recommendations)
        set_condition(conds, c.ABLE_TO_SCALE, True, *normalized.able_to_scale)
        set_condition(conds, c.SCALING_LIMITED, normalized.limited, *normalized.limit)
        desired = normalized.replicas
        if current == 0 and min_replicas != 0 and scaled_to_zero:
            desired = max(desired, min_replicas)

    if desired == current:
        return Decision(current, results, tuple(conds), history, False)
    set_condition(conds, c.ABLE_TO_SCALE, True, *c.succeeded_rescale(desired))
    if kube.zero_rules and kube.scale_to_zero:
        to_zero = current > 0 and desired == 0 and min_replicas == 0 and from_object_or_external
        set_condition(conds, c.SCALED_TO_ZERO, to_zero, *c.scaled_to_zero(to_zero))
    elif kube.zero_rules:
        remove_condition(conds, c.SCALED_TO_ZERO)
    if rules is not None:
        history = store_scale_event(history, *rules, current, desired, now)
    return Decision(desired, results, tuple(conds), history, True)


def tolerances_for(hpa: HorizontalPodAutoscaler, options: Options) -> Tolerances:
    """tolerancesForHpa: the flag's tolerance, or behavior's per direction under the gate."""
    up = down = options.tolerance
    behavior = hpa.behavior
    if behavior is not None and options.kubernetes.configurable_tolerance:
        if behavior.scale_up is not None and behavior.scale_up.tolerance is not None:
            up = behavior.scale_up.tolerance
        if behavior.scale_down is not None and behavior.scale_down.tolerance is not None:
            down = behavior.scale_down.tolerance
    return Tolerances(scale_down=down, scale_up=up)


@dataclass(frozen=True)
class _Computed:
    replicas: int | None  # None: the controller would not scale (the -1 of Go)
    results: tuple[MetricResult, ...]


def _compute_replicas_for_metrics(
    hpa: HorizontalPodAutoscaler,
    scale: Scale,
    cluster: Cluster,
    options: Options,
    now: datetime,
    conds: list[Condition],
) -> _Computed:
    """computeReplicasForMetrics: the largest proposal; invalid metrics block a scale-down."""
    results = tuple(MetricResult(spec) for spec in hpa.metrics)
    selector = _validate_selector(scale.selector, conds)
    if selector is None:
        return _Computed(None, results)
    pods = target_pods(cluster, hpa.namespace, selector)
    calculator = ReplicaCalculator(
        client=RecordedMetrics(cluster, hpa.namespace, selector, pods),
        pods=pods,
        now=now,
        cpu_initialization_period=timedelta(seconds=options.cpu_initialization_period_seconds),
        initial_readiness_delay=timedelta(seconds=options.initial_readiness_delay_seconds),
        kubernetes=options.kubernetes,
    )
    tolerances = tolerances_for(hpa, options)

    replicas = 0
    metric_name = ""
    invalid: list[_MetricError] = []
    computed: list[MetricResult] = []
    for spec in hpa.metrics:
        try:
            proposal, status, name = _compute_for_metric(
                spec, hpa, scale.replicas, calculator, tolerances
            )
        except _MetricError as err:
            invalid.append(err)
            computed.append(MetricResult(spec, error=err.error))
            continue
        computed.append(MetricResult(spec, proposal, status))
        if replicas == 0 or proposal > replicas:
            replicas, metric_name = proposal, name

    if len(invalid) >= len(hpa.metrics) or (invalid and replicas < scale.replicas):
        first = invalid[0]
        set_condition(
            conds, c.SCALING_ACTIVE, False, first.reason, c.unable_to_compute(first.condition_error)
        )
        return _Computed(None, tuple(computed))
    set_condition(conds, c.SCALING_ACTIVE, True, *c.valid_metric_found(metric_name))
    return _Computed(replicas, tuple(computed))


def _validate_selector(text: str, conds: list[Condition]) -> Selector | None:
    """validateAndParseSelector, for the one HPA of the decision."""
    if not text:
        set_condition(conds, c.SCALING_ACTIVE, False, *c.MISSING_SELECTOR)
        return None
    try:
        return parse_selector(text)
    except SelectorError as err:
        set_condition(conds, c.SCALING_ACTIVE, False, *c.invalid_selector(str(err)))
        return None


def _compute_for_metric(
    spec: MetricSpec,
    hpa: HorizontalPodAutoscaler,
    current: int,
    calc: ReplicaCalculator,
    tolerances: Tolerances,
) -> tuple[int, MetricValueStatus, str]:
    """computeReplicasForMetric: (proposal, current value, the metric's description)."""
    match spec.type:
        case MetricSourceType.OBJECT:
            return _object(spec, hpa, current, calc, tolerances)
        case MetricSourceType.PODS:
            return _pods(spec, current, calc, tolerances)
        case MetricSourceType.RESOURCE | MetricSourceType.CONTAINER_RESOURCE:
            return _resource(spec, current, calc, tolerances)
        case MetricSourceType.EXTERNAL:
            return _external(spec, hpa, current, calc, tolerances)
    err = f'unknown metric source type "{spec.type}"'
    raise _MetricError("InvalidMetricSourceType", err, err)


def _check_metric_selector(spec: MetricSpec, reason: str, what: str) -> None:
    assert spec.metric is not None
    try:
        as_selector(spec.metric.selector)
    except SelectorError as err:
        raise _MetricError(reason, str(err), f"failed to get {what} metric value: {err}") from None


def _status_replicas(hpa: HorizontalPodAutoscaler, current: int) -> int:
    """The per-pod targets divide by status.currentReplicas (the last sync's count), which
    lags the scale right after a rescale; without a status, the scale's."""
    return hpa.status_replicas if hpa.status_replicas is not None else current


def _object(
    spec: MetricSpec,
    hpa: HorizontalPodAutoscaler,
    current: int,
    calc: ReplicaCalculator,
    tolerances: Tolerances,
) -> tuple[int, MetricValueStatus, str]:
    reason = "FailedGetObjectMetric"
    _check_metric_selector(spec, reason, "object")
    assert spec.metric is not None and spec.target is not None
    assert spec.described_object is not None
    target, name, described = spec.target, spec.metric.name, spec.described_object
    if target.type == "Value" and target.value is not None:
        try:
            proposal, usage = calc.object_metric_replicas(
                current, target.value, name, tolerances, hpa.namespace, described
            )
        except ReplicaCalculationError as err:
            raise _MetricError(
                reason, str(err), f"failed to get object metric value: {err}"
            ) from None
        return proposal, MetricValueStatus(value=usage), f"{described.kind} metric {name}"
    if target.type == "AverageValue" and target.average_value is not None:
        try:
            proposal, usage = calc.object_per_pod_metric_replicas(
                _status_replicas(hpa, current),
                target.average_value,
                name,
                tolerances,
                hpa.namespace,
                described,
            )
        except ReplicaCalculationError as err:
            raise _MetricError(
                reason,
                str(err),
                f"failed to get object metric value: failed to get {name} object metric: {err}",
            ) from None
        # Kubernetes describes this one as "external metric"; kept for identical messages.
        description = f"external metric {name}({go_string(spec.metric.selector)})"
        return proposal, MetricValueStatus(average_value=usage), description
    err = "invalid object metric source: neither a value target nor an average value target was set"
    raise _MetricError(reason, err, f"failed to get object metric value: {err}")


def _pods(
    spec: MetricSpec, current: int, calc: ReplicaCalculator, tolerances: Tolerances
) -> tuple[int, MetricValueStatus, str]:
    reason = "FailedGetPodsMetric"
    _check_metric_selector(spec, reason, "pods")
    assert spec.metric is not None and spec.target is not None
    assert spec.target.average_value is not None
    name = spec.metric.name
    try:
        proposal, usage = calc.metric_replicas(current, spec.target.average_value, name, tolerances)
    except ReplicaCalculationError as err:
        raise _MetricError(reason, str(err), f"failed to get pods metric value: {err}") from None
    return proposal, MetricValueStatus(average_value=usage), f"pods metric {name}"


def _resource(
    spec: MetricSpec, current: int, calc: ReplicaCalculator, tolerances: Tolerances
) -> tuple[int, MetricValueStatus, str]:
    assert spec.resource is not None and spec.target is not None
    resource, target = spec.resource, spec.target
    container_type = spec.type == MetricSourceType.CONTAINER_RESOURCE
    container = (spec.container or "") if container_type else ""
    reason = "FailedGetContainerResourceMetric" if container_type else "FailedGetResourceMetric"
    outer = (
        f"failed to get {container} container metric value"
        if container_type
        else f"failed to get {resource} resource metric value"
    )

    def failed(err: str) -> _MetricError:
        return _MetricError(reason, err, f"{outer}: {err}")

    if target.average_value is not None:
        try:
            proposal, usage = calc.raw_resource_replicas(
                current, target.average_value, resource, tolerances, container
            )
        except ReplicaCalculationError as err:
            raise failed(f"failed to get {resource} usage: {err}") from None
        return proposal, MetricValueStatus(average_value=usage), f"{resource} resource"
    if target.average_utilization is None:
        raise failed(
            "invalid resource metric source: neither an average utilization target nor an "
            "average value (usage) target was set"
        )
    try:
        result = calc.resource_replicas(
            current, target.average_utilization, resource, tolerances, container
        )
    except ReplicaCalculationError as err:
        raise failed(f"failed to get {resource} utilization: {err}") from None
    kind = "container resource" if container_type else "resource"
    status = MetricValueStatus(
        average_value=result.raw_value, average_utilization=result.utilization
    )
    return result.replicas, status, f"{resource} {kind} utilization (percentage of request)"


def _external(
    spec: MetricSpec,
    hpa: HorizontalPodAutoscaler,
    current: int,
    calc: ReplicaCalculator,
    tolerances: Tolerances,
) -> tuple[int, MetricValueStatus, str]:
    reason = "FailedGetExternalMetric"
    assert spec.metric is not None and spec.target is not None
    target, name, selector = spec.target, spec.metric.name, spec.metric.selector
    outer = f"failed to get {name} external metric value"
    description = f"external metric {name}({go_string(selector)})"
    if target.average_value is not None:
        try:
            as_selector(selector)
            proposal, usage = calc.external_per_pod_metric_replicas(
                _status_replicas(hpa, current),
                target.average_value,
                name,
                tolerances,
                hpa.namespace,
                selector,
            )
        except (ReplicaCalculationError, SelectorError) as err:
            raise _MetricError(
                reason, str(err), f"{outer}: failed to get {name} external metric: {err}"
            ) from None
        return proposal, MetricValueStatus(average_value=usage), description
    if target.value is not None:
        try:
            as_selector(selector)
            proposal, usage = calc.external_metric_replicas(
                current, target.value, name, tolerances, hpa.namespace, selector
            )
        except (ReplicaCalculationError, SelectorError) as err:
            raise _MetricError(
                reason, str(err), f"{outer}: failed to get external metric {name}: {err}"
            ) from None
        return proposal, MetricValueStatus(value=usage), description
    err = (
        "invalid external metric source: neither a value target nor an average value target was set"
    )
    raise _MetricError(reason, err, f"{outer}: {err}")
