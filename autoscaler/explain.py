"""`surge explain NAMESPACE/HPA`: why a live HPA wants the replicas it wants.

It reads what the HPA controller reads, through the API server: the HPA, its target's
scale, the target's pods, and each metric from the metrics APIs (whichever adapter serves
them). It runs the controller's algorithm on them (autoscaler.core.hpa.decide, on the
typed objects autoscaler.cases reads from the answers) and sets the outcome beside the HPA's
own status.

The controller's memory is not in the API: the recommendations of the stabilization window
and the scale events of the policy periods live in kube-controller-manager only. So the
decision is computed twice, as bounds: once as if the proposal had held for the whole
window ("settled"), once as a controller with no memory (as after a restart) holds it
("held": a scale-down waits). The HPA's status.lastScaleTime says whether a rescale fell
inside a policy period; its size is not recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TextIO

from adapter.objects import KubeAPI
from adapter.resources import BUILTIN, ResourceMapper, guess_plural
from apiservice.errors import APIError
from apiservice.kube import KubeconfigError, load_client
from apiservice.quantity import Quantity, QuantityError
from autoscaler.cases import CaseError, read_cluster, read_hpa, read_scale
from autoscaler.core import conditions as c
from autoscaler.core.behavior import History, Recommendation
from autoscaler.core.hpa import Decision, MetricValueStatus, Options, decide, tolerances_for
from autoscaler.core.metrictypes import MetricSourceType
from autoscaler.core.objects import HorizontalPodAutoscaler, MetricSpec
from autoscaler.core.replicas import Tolerances
from autoscaler.core.selectors import LabelSelector, LabelSelectorRequirement, as_selector
from autoscaler.core.versions import Release, VersionError, server_note, server_release

CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2"
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
RESOURCE_METRICS = "/apis/metrics.k8s.io/v1beta1"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
NAMESPACE_RE = re.compile(rf"^{_LABEL}$")
NAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
USAGE = "usage: surge explain NAMESPACE/HPA [--kubeconfig FILE] [-o json]"


class ExplainError(Exception):
    """The HPA could not be explained (not found, its target unreadable): one line, exit 1."""


class _Failed(Exception):
    """An answer of the API server that is not the object asked for."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_target(text: str) -> tuple[str, str]:
    """NAMESPACE/HPA, both valid Kubernetes names; ValueError naming the problem."""
    namespace, sep, name = text.partition("/")
    if not sep or "/" in name:
        raise ValueError(f"{text!r} is not NAMESPACE/HPA")
    if len(namespace) > 63 or not NAMESPACE_RE.match(namespace):
        raise ValueError(f"{namespace!r} is not a valid namespace name")
    if len(name) > 253 or not NAME_RE.match(name):
        raise ValueError(f"{name!r} is not a valid HorizontalPodAutoscaler name")
    return namespace, name


async def _get(api: KubeAPI, path: str, params: Mapping[str, str] | None = None) -> Any:
    """One GET; a Status answer (KubeAPI hands error bodies back) raises _Failed."""
    try:
        body = await api.get(path, dict(params or {}))
    except APIError as err:
        raise _Failed(err.code, err.message) from None
    if not isinstance(body, dict):
        raise _Failed(None, f"{path}: the answer is not a JSON object")
    if body.get("kind") == "Status" and body.get("status") != "Success":
        code = body.get("code")
        message = body.get("message") or body.get("reason") or f"{path}: failed"
        raise _Failed(code if isinstance(code, int) else None, str(message))
    return body


# --- reading the cluster ---------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """What the controller would read, as the API answered it (raw JSON)."""

    hpa: dict[str, Any]
    scale: dict[str, Any]  # {"replicas": n, "selector": "..."}: the case format's scale
    scale_source: str
    pods: list[Any]
    pod_metrics: list[Any]
    custom: list[Any]  # MetricValueLists
    external: list[Any]  # ExternalMetricValueLists
    fetch_errors: tuple[str | None, ...]  # per spec metric: what the metrics API answered
    server_version: str | None = None  # the API server's /version gitVersion


def _label_selector(raw: Any) -> LabelSelector | None:
    if not isinstance(raw, dict):
        return None
    expressions = [
        LabelSelectorRequirement(
            str(e.get("key", "")), str(e.get("operator", "")), tuple(e.get("values") or ())
        )
        for e in raw.get("matchExpressions") or ()
        if isinstance(e, dict)
    ]
    return LabelSelector(dict(raw.get("matchLabels") or {}), expressions)


class _Mapper:
    """Kind -> resource: the built-in resources first, then discovery (for CRDs)."""

    def __init__(self, api: KubeAPI) -> None:
        self.api = api
        self.known = ResourceMapper(BUILTIN)
        self.discovered: ResourceMapper | None = None

    async def resource(self, api_version: str, kind: str) -> tuple[str, str, bool]:
        """(API path prefix, plural, namespaced)."""
        res = self.known.by_kind(api_version, kind)
        if res is None:
            if self.discovered is None:
                self.discovered = await self.api.discover()
            res = self.discovered.by_kind(api_version, kind)
        group, _, version = api_version.rpartition("/")
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version or 'v1'}"
        if res is None:
            return prefix, guess_plural(kind), True
        prefix = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
        return prefix, res.resource, res.namespaced

    async def group_resource(self, api_version: str, kind: str) -> str:
        """`deployments.apps`: how the custom metrics client names a described object."""
        _, plural, _ = await self.resource(api_version, kind)
        group = api_version.rpartition("/")[0]
        return f"{plural}.{group}" if group else plural


async def _scale(
    api: KubeAPI, mapper: _Mapper, namespace: str, ref: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """The /scale subresource; where it is not served, the target's spec.replicas and
    spec.selector (what /scale reports for Deployments, ReplicaSets and StatefulSets)."""
    kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
    prefix, plural, _ = await mapper.resource(str(ref.get("apiVersion", "")), kind)
    path = f"{prefix}/namespaces/{namespace}/{plural}/{name}"
    try:
        scale = await _get(api, f"{path}/scale")
        return {
            "replicas": int((scale.get("spec") or {}).get("replicas") or 0),
            "selector": str((scale.get("status") or {}).get("selector") or ""),
        }, "scale subresource"
    except _Failed as err:
        if err.code != 404:
            raise ExplainError(f"cannot read the scale of {kind}/{name}: {err.message}") from None
    try:
        target = await _get(api, path)
    except _Failed as err:
        raise ExplainError(f"cannot read the HPA's target {kind}/{name}: {err.message}") from None
    spec = target.get("spec") or {}
    replicas = spec.get("replicas")
    selector = _label_selector(spec.get("selector"))
    text = str(as_selector(selector)) if selector is not None else ""
    return {
        "replicas": 1 if replicas is None else int(replicas),
        "selector": text,
    }, f"{kind} spec (no /scale served)"


def _metric_params(selector: LabelSelector | None, key: str) -> dict[str, str]:
    if selector is None:
        return {}
    return {key: str(as_selector(selector))}


async def _fetch_metric(
    api: KubeAPI,
    mapper: _Mapper,
    namespace: str,
    spec: MetricSpec,
    pod_selector: str,
) -> tuple[str, Any]:
    """("custom" | "external", answer) for one spec metric, as the controller asks for it."""
    assert spec.metric is not None
    name = spec.metric.name
    if spec.type == MetricSourceType.PODS:
        path = f"{CUSTOM}/namespaces/{namespace}/pods/*/{name}"
        params = {"labelSelector": pod_selector}
        params |= _metric_params(spec.metric.selector, "metricLabelSelector")
        return "custom", await _get(api, path, params)
    if spec.type == MetricSourceType.OBJECT:
        ref = spec.described_object
        assert ref is not None
        resource = await mapper.group_resource(ref.api_version, ref.kind)
        path = f"{CUSTOM}/namespaces/{namespace}/{resource}/{ref.name}/{name}"
        params = _metric_params(spec.metric.selector, "metricLabelSelector")
        return "custom", await _get(api, path, params)
    path = f"{EXTERNAL}/namespaces/{namespace}/{name}"
    return "external", await _get(api, path, _metric_params(spec.metric.selector, "labelSelector"))


async def fetch(api: KubeAPI, namespace: str, name: str) -> Fetched:
    """Everything one decision for the HPA reads; ExplainError if the HPA or its target's
    scale cannot be read (a metric that cannot be read is part of the explanation)."""
    path = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}"
    try:
        hpa = await _get(api, path)
    except _Failed as err:
        raise ExplainError(err.message) from None
    try:
        typed = read_hpa(hpa)
    except CaseError as err:
        raise ExplainError(f"the HPA {namespace}/{name} cannot be read: {err}") from None
    mapper = _Mapper(api)
    ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    scale, source = await _scale(api, mapper, namespace, ref)
    selector = scale["selector"]
    try:
        pods = await _get(api, f"/api/v1/namespaces/{namespace}/pods", {"labelSelector": selector})
    except _Failed as err:
        raise ExplainError(f"cannot list the target's pods: {err.message}") from None

    resource_types = (MetricSourceType.RESOURCE, MetricSourceType.CONTAINER_RESOURCE)
    # One PodMetrics list answers every Resource metric, as the controller's lister does.
    resource_answer = (
        asyncio.ensure_future(
            _get(
                api, f"{RESOURCE_METRICS}/namespaces/{namespace}/pods", {"labelSelector": selector}
            )
        )
        if any(spec.type in resource_types for spec in typed.metrics)
        else None
    )

    async def one(spec: MetricSpec) -> tuple[str, Any] | str:
        try:
            if spec.type in resource_types:
                assert resource_answer is not None
                return "resource", await resource_answer
            if spec.metric is None:
                return f"unknown metric source type {spec.type!r}"
            return await _fetch_metric(api, mapper, namespace, spec, selector)
        except _Failed as err:
            return err.message

    answers = await asyncio.gather(*(one(spec) for spec in typed.metrics))
    pod_metrics: list[Any] = []
    custom: list[Any] = []
    external: list[Any] = []
    errors: list[str | None] = []
    for answer in answers:
        if isinstance(answer, str):
            errors.append(answer)
            continue
        errors.append(None)
        kind, body = answer
        if kind == "resource":
            pod_metrics = list(body.get("items") or [])
        elif kind == "custom":
            custom.append(_as_list(body))
        else:
            external.append(_as_list(body))
    return Fetched(
        hpa,
        scale,
        source,
        list(pods.get("items") or []),
        pod_metrics,
        custom,
        external,
        tuple(errors),
        await _server_version(api),
    )


async def _server_version(api: KubeAPI) -> str | None:
    """The release the control plane runs (its HPA controller is of the same release)."""
    try:
        version = (await _get(api, "/version")).get("gitVersion")
    except _Failed:
        return None
    return version if isinstance(version, str) else None


def _as_list(body: dict[str, Any]) -> dict[str, Any]:
    """A MetricValueList; a single MetricValue (older adapters) is wrapped as one."""
    if isinstance(body.get("items"), list):
        return body
    return {"items": [body]}


# --- explaining ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRow:
    type: str
    name: str
    target_type: str
    target: float | None
    current: float | None
    ratio: float | None
    proposal: int | None
    winner: bool
    within_tolerance: bool
    error: str | None
    status_current: float | None

    @property
    def agrees(self) -> bool | None:
        """Our current value within 10% of the HPA's (metrics move between syncs)."""
        if self.current is None or self.status_current is None:
            return None
        scale = max(abs(self.current), abs(self.status_current), 1e-9)
        return abs(self.current - self.status_current) / scale <= 0.1

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "target": {"type": self.target_type, "value": self.target},
            "current": self.current,
            "ratio": self.ratio,
            "proposal": self.proposal,
            "winner": self.winner,
            "withinTolerance": self.within_tolerance,
            "error": self.error,
            "statusCurrent": self.status_current,
            "agreesWithStatus": self.agrees,
        }


@dataclass(frozen=True)
class ConditionRow:
    type: str
    ours: dict[str, str] | None
    status: dict[str, str] | None

    @property
    def agrees(self) -> bool:
        def key(cond: dict[str, str] | None) -> tuple[str, str] | None:
            return None if cond is None else (cond.get("status", ""), cond.get("reason", ""))

        return key(self.ours) == key(self.status)


@dataclass(frozen=True)
class Explanation:
    hpa: str
    target: str
    now: str
    replicas: int
    selector: str
    scale_source: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricRow, ...]
    proposal: int | None
    desired: int
    desired_held: int
    limits: tuple[str, ...]
    scaling_active: dict[str, str] | None
    status_desired: int | None
    status_current: int | None
    last_scale_time: str | None
    agreement: str
    conditions: tuple[ConditionRow, ...]
    memory: tuple[str, ...] = field(default=())
    kubernetes: Release = field(default_factory=Release)
    kubernetes_source: str = ""
    forecasts: tuple[str, ...] = ()  # the HPA's metrics that are Surge forecasts

    @property
    def proposal_without_forecasts(self) -> int | None:
        """The largest proposal of the live metrics alone: what the HPA would do without
        its forecast metrics (None when only forecasts propose)."""
        live = [m.proposal for m in self.metrics if m.name not in self.forecasts and m.proposal]
        return max(live) if live and self.proposal is not None else None

    def forecast_json(self) -> dict[str, Any] | None:
        if not self.forecasts:
            return None
        without = self.proposal_without_forecasts
        won = self.proposal is not None and (without is None or self.proposal > without)
        return {
            "metrics": list(self.forecasts),
            "proposalWith": self.proposal,
            "proposalWithout": without,
            "winner": "forecast" if won else "live metrics",
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "hpa": self.hpa,
            "target": self.target,
            "now": self.now,
            "scale": {
                "replicas": self.replicas,
                "selector": self.selector,
                "source": self.scale_source,
            },
            "minReplicas": self.min_replicas,
            "maxReplicas": self.max_replicas,
            "metrics": [m.as_json() for m in self.metrics],
            "proposal": self.proposal,
            "desiredReplicas": self.desired,
            "desiredReplicasWithoutMemory": self.desired_held,
            "limits": list(self.limits),
            "status": {
                "currentReplicas": self.status_current,
                "desiredReplicas": self.status_desired,
                "lastScaleTime": self.last_scale_time,
            },
            "agreement": self.agreement,
            "conditions": [
                {"type": r.type, "ours": r.ours, "status": r.status, "agrees": r.agrees}
                for r in self.conditions
            ],
            "memory": list(self.memory),
            "forecast": self.forecast_json(),
            "kubernetes": {
                "version": self.kubernetes.version,
                "featureGates": dict(self.kubernetes.gates),
                "source": self.kubernetes_source,
            },
        }


def _number(text: Any) -> float | None:
    if text is None:
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    try:
        return float(Quantity.parse(str(text)))
    except QuantityError:
        return None


def _current(status: MetricValueStatus | None, field_name: str) -> float | None:
    """The controller's current value from the field the target names, in its units."""
    if status is None:
        return None
    if field_name == "averageUtilization":
        utilization = status.average_utilization
        return None if utilization is None else float(utilization)
    milli = {"averageValue": status.average_value, "value": status.value}.get(field_name)
    return None if milli is None else milli / 1000


def _target(spec: MetricSpec) -> tuple[str, float | None, str]:
    """(target type, value in status units, the current field holding it)."""
    t = spec.target
    if t is None:
        return "", None, ""
    if t.average_utilization is not None and spec.resource is not None:
        return "Utilization", float(t.average_utilization), "averageUtilization"
    if t.average_value is not None:
        return "AverageValue", t.average_value / 1000, "averageValue"
    if t.value is not None:
        return "Value", t.value / 1000, "value"
    return t.type, None, ""


_STATUS_KEYS = {t.value: t.key for t in MetricSourceType}


def _status_current(hpa: Mapping[str, Any], spec: MetricSpec, field_name: str) -> float | None:
    """The HPA's status.currentMetrics value for a spec metric, matched by type and name."""
    key = _STATUS_KEYS.get(spec.type)
    if key is None or not field_name:
        return None
    for entry in (hpa.get("status") or {}).get("currentMetrics") or ():
        if not isinstance(entry, dict) or entry.get("type") != spec.type:
            continue
        body = entry.get(key) or {}
        name = (
            body.get("name")
            if spec.resource is not None
            else (body.get("metric") or {}).get("name")
        )
        if name == spec.name and (
            spec.container is None or body.get("container") == spec.container
        ):
            return _number((body.get("current") or {}).get(field_name))
    return None


def _limits(
    hpa: HorizontalPodAutoscaler,
    decision: Decision,
    held: Decision,
    current: int,
    rows: Sequence[MetricRow],
    window_s: int,
    band: str,
) -> tuple[str, ...]:
    """What kept the desired replicas from the winning proposal, in the controller's words."""
    out = []
    conditions = {cond.type: cond for cond in decision.conditions}
    limited = conditions.get(c.SCALING_LIMITED)
    if limited and limited.status == "True":
        reason = limited.reason
        if reason == c.TOO_MANY_REPLICAS[0]:
            out.append(f"maxReplicas ({hpa.max_replicas}): {reason}")
        elif reason == c.TOO_FEW_REPLICAS[0]:
            out.append(f"minReplicas ({hpa.min_replicas or 1}): {reason}")
        elif hpa.behavior is None and reason == c.SCALE_UP_LIMIT[0]:
            out.append(
                f"the scale-up limit of HPAs without behavior, max(2 x current, 4): {reason}"
            )
        else:
            out.append(f"scaling policies (behavior): {reason}")
    if held.desired_replicas != decision.desired_replicas:
        out.append(
            f"stabilization window ({window_s} s): the controller scales down only to the highest "
            f"recommendation of the window, so it holds between {decision.desired_replicas} "
            f"and {held.desired_replicas} until the window has passed"
        )
    winner = next((r for r in rows if r.winner), None)
    if winner is not None and winner.within_tolerance and winner.proposal == current:
        out.append(f"tolerance: {winner.name}'s ratio {winner.ratio:.2f} is within {band}")
    return tuple(out)


def _band(tolerances: Tolerances) -> str:
    """The tolerance band as the controller applies it."""
    if tolerances.scale_up == tolerances.scale_down:
        return f"1 ± {tolerances.scale_up:g}"
    return f"[1 - {tolerances.scale_down:g}, 1 + {tolerances.scale_up:g}]"


def explain(
    fetched: Fetched,
    now: datetime,
    options: Options | None = None,
    feature_gates: Mapping[str, bool] | None = None,
    forecasts: Collection[str] = (),
) -> Explanation:
    """The controller's decision on what was fetched, beside the HPA's status; `options`
    are the controller's flags (their defaults unless given), its release is the API
    server's (/version) with `feature_gates` overriding that release's defaults."""
    try:
        kube = server_release(fetched.server_version, feature_gates)
    except VersionError as err:
        raise ExplainError(str(err)) from None
    options = replace(options or Options(), kubernetes=kube)
    hpa_obj = fetched.hpa
    hpa = read_hpa(hpa_obj)
    try:
        scale = read_scale(fetched.scale)
        cluster = read_cluster(fetched.pods, fetched.pod_metrics, fetched.custom, fetched.external)
    except CaseError as err:
        raise ExplainError(f"the API's answers cannot be read: {err}") from None
    held = decide(hpa, scale, cluster, History(), options, now)
    current = scale.replicas
    proposals = [m.proposal for m in held.metrics if m.proposal is not None]
    active = next((cond for cond in held.conditions if cond.type == c.SCALING_ACTIVE), None)
    computed = active is not None and active.status == "True"
    proposal = max(proposals) if proposals and computed else None
    settled = held
    if proposal is not None:
        # As if the proposal had been the controller's recommendation for the whole window.
        history = History(recommendations=(Recommendation(proposal, now),))
        settled = decide(hpa, scale, cluster, history, options, now)
    tolerances = tolerances_for(hpa, options)
    rows = _metric_rows(hpa, hpa_obj, settled, fetched.fetch_errors, proposal, tolerances)
    status = hpa_obj.get("status") or {}
    status_desired = status.get("desiredReplicas")
    window = _down_window(hpa, options)
    desired, desired_held = settled.desired_replicas, held.desired_replicas
    ours = {cond.type: cond.as_json() for cond in settled.conditions}
    theirs = {
        cond.get("type"): {k: str(cond.get(k, "")) for k in ("type", "status", "reason", "message")}
        for cond in status.get("conditions") or ()
        if isinstance(cond, dict)
    }
    types = [*ours, *(t for t in theirs if t not in ours)]
    ref = (hpa_obj.get("spec") or {}).get("scaleTargetRef") or {}
    return Explanation(
        hpa=f"{hpa.namespace}/{hpa.name}",
        target=f"{ref.get('kind', '?')}/{ref.get('name', '?')}",
        now=now.isoformat().replace("+00:00", "Z"),
        replicas=current,
        selector=str(fetched.scale["selector"]),
        scale_source=fetched.scale_source,
        min_replicas=hpa.min_replicas if hpa.min_replicas is not None else 1,
        max_replicas=hpa.max_replicas,
        metrics=rows,
        proposal=proposal,
        desired=desired,
        desired_held=desired_held,
        limits=(
            _limits(hpa, settled, held, current, rows, window, _band(tolerances))
            if computed
            else ()
        ),
        scaling_active=None if active is None else active.as_json(),
        status_desired=status_desired if isinstance(status_desired, int) else None,
        status_current=status.get("currentReplicas"),
        last_scale_time=status.get("lastScaleTime"),
        agreement=_agreement(status_desired, desired, desired_held),
        conditions=tuple(
            ConditionRow(str(t), ours.get(t), theirs.get(t)) for t in types if t is not None
        ),
        memory=_memory(hpa, status, now, window),
        kubernetes=kube,
        kubernetes_source=server_note(fetched.server_version, kube),
        forecasts=tuple(m.name for m in rows if m.name in forecasts),
    )


def _metric_rows(
    hpa: HorizontalPodAutoscaler,
    hpa_obj: Mapping[str, Any],
    decision: Decision,
    fetch_errors: Sequence[str | None],
    proposal: int | None,
    tolerances: Tolerances,
) -> tuple[MetricRow, ...]:
    """One row per spec metric; the winner is the first with the winning proposal, as the
    controller keeps the first of equal proposals (none when it could not decide)."""
    results = decision.metrics
    winner_index = next(
        (i for i, r in enumerate(results) if proposal is not None and r.proposal == proposal),
        None,
    )
    rows = []
    for i, (spec, result) in enumerate(zip(hpa.metrics, results, strict=True)):
        target_type, target, field_name = _target(spec)
        value = _current(result.current, field_name)
        ratio = value / target if value is not None and target else None
        rows.append(
            MetricRow(
                type=spec.type,
                name=spec.name if spec.container is None else f"{spec.name}/{spec.container}",
                target_type=target_type,
                target=target,
                current=value,
                ratio=ratio,
                proposal=result.proposal,
                winner=i == winner_index,
                within_tolerance=ratio is not None and tolerances.is_within(ratio),
                error=fetch_errors[i] or result.error,
                status_current=_status_current(hpa_obj, spec, field_name),
            )
        )
    return tuple(rows)


def _down_window(hpa: HorizontalPodAutoscaler, options: Options) -> int:
    down = hpa.behavior.scale_down if hpa.behavior is not None else None
    if down is not None and down.stabilization_window_seconds is not None:
        return down.stabilization_window_seconds
    return options.downscale_stabilization_window_seconds


def _agreement(status_desired: Any, desired: int, held: int) -> str:
    if not isinstance(status_desired, int):
        return "the HPA has no status.desiredReplicas yet"
    if status_desired == desired:
        return f"agrees: status.desiredReplicas is {status_desired}"
    if min(desired, held) <= status_desired <= max(desired, held):
        return (
            f"consistent: status.desiredReplicas {status_desired} lies between {desired} and "
            f"{held}, where the stabilization window holds it"
        )
    return (
        f"differs: status.desiredReplicas is {status_desired}, this explanation {desired} "
        "(the metrics may have moved since the controller's last sync, every 15 s)"
    )


def _memory(
    hpa: HorizontalPodAutoscaler, status: Mapping[str, Any], now: datetime, window_s: int
) -> tuple[str, ...]:
    """What the API tells of the controller's memory, and what it does not."""
    notes = [
        f"the controller's recommendations of the last {window_s} s (scale-down "
        "stabilization) are kept in its memory only, not in the API"
    ]
    last = status.get("lastScaleTime")
    periods = [
        p.period_seconds
        for rules in (
            (hpa.behavior.scale_up, hpa.behavior.scale_down) if hpa.behavior is not None else ()
        )
        if rules is not None and rules.policies
        for p in rules.policies
    ]
    if isinstance(last, str):
        try:
            ago = (now - datetime.fromisoformat(last)).total_seconds()
        except ValueError:
            ago = None
        if ago is not None and periods and ago < max(periods):
            notes.append(
                f"a rescale {ago:.0f} s ago (status.lastScaleTime) falls within the "
                f"{max(periods)} s policy period, but its size is not recorded: the policy "
                "limits above count no earlier rescale and may be looser than the controller's"
            )
        elif ago is not None:
            notes.append(f"the last rescale was {ago:.0f} s ago (status.lastScaleTime)")
    else:
        notes.append("the HPA has never rescaled (no status.lastScaleTime)")
    return tuple(notes)


# --- output ---------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def render(expl: Explanation, out: TextIO) -> None:
    """A readable table (rich): colours on a terminal, plain text otherwise."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    probe = Console(file=out)
    console = Console(
        file=out, width=probe.width if probe.is_terminal else 120, highlight=False, soft_wrap=True
    )
    console.print(
        f"[bold]HPA {expl.hpa}[/bold] -> {expl.target}: {expl.replicas} replicas "
        f"(min {expl.min_replicas}, max {expl.max_replicas}), pods {expl.selector or '(none)'} "
        f"[dim]({expl.scale_source})[/dim]"
    )
    table = Table(box=box.SIMPLE, pad_edge=False)
    table.add_column("metric", no_wrap=True)
    for title in ("target", "current", "ratio", "proposal", "HPA status"):
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("")
    for m in expl.metrics:
        note = []
        if m.winner:
            note.append("[bold green]wins[/bold green]")
        if m.within_tolerance:
            note.append("within tolerance")
        if m.agrees is False:
            note.append("[yellow]differs from status[/yellow]")
        if m.error:
            note.append(f"[red]{m.error}[/red]")
        unit = "%" if m.target_type == "Utilization" else ""
        table.add_row(
            f"{m.type} {m.name}",
            f"{m.target_type} {_fmt(m.target)}{unit}",
            f"{_fmt(m.current)}{unit if m.current is not None else ''}",
            _fmt(m.ratio),
            "-" if m.proposal is None else str(m.proposal),
            f"{_fmt(m.status_current)}{unit if m.status_current is not None else ''}",
            "; ".join(note),
        )
    console.print(table)
    if expl.proposal is None:
        reason = expl.scaling_active or {}
        console.print(
            f"[red]no decision[/red]: {reason.get('reason', '')}: {reason.get('message', '')}"
        )
    else:
        console.print(f"proposal (largest of the metrics): {expl.proposal}")
        forecast = expl.forecast_json()
        if forecast is not None:
            won = forecast["winner"] == "forecast"
            console.print(
                f"with the forecast ({', '.join(expl.forecasts)}): {forecast['proposalWith']}; "
                f"without it: {forecast['proposalWithout'] or '-'}: "
                + ("the forecast wins" if won else "the live metrics win")
            )
        held = (
            f" (a controller without memory holds {expl.desired_held})"
            if expl.desired_held != expl.desired
            else ""
        )
        console.print(f"[bold]desired replicas: {expl.desired}[/bold]{held}")
        for limit in expl.limits:
            console.print(f"  limited by {limit}")
        if not expl.limits:
            console.print("  no limit applied")
    console.print(f"HPA status: {expl.agreement}")
    console.print(f"rules: {expl.kubernetes.describe()} [dim]({expl.kubernetes_source})[/dim]")
    conditions = Table(box=box.SIMPLE, pad_edge=False, title=None)
    conditions.add_column("condition")
    conditions.add_column("this explanation")
    conditions.add_column("HPA status")
    conditions.add_column("")
    for row in expl.conditions:

        def cell(cond: dict[str, str] | None) -> str:
            return "-" if cond is None else f"{cond['status']} {cond['reason']}"

        conditions.add_row(
            row.type, cell(row.ours), cell(row.status), "" if row.agrees else "[yellow]differs"
        )
    console.print(conditions)
    for note in expl.memory:
        console.print(f"[dim]controller memory: {note}[/dim]")


# --- the command ----------------------------------------------------------------------------


async def run(
    target: str,
    kubeconfig: str | None = None,
    output: str = "table",
    out: TextIO | None = None,
    err: TextIO | None = None,
    now: datetime | None = None,
    options: Options | None = None,
    feature_gates: Mapping[str, bool] | None = None,
    forecasts: Collection[str] = (),
) -> int:
    """`surge explain`, on the running event loop: 0, 1 (cannot explain) or 2 (bad input).
    `options` are the controller's flags, when the cluster runs it with other values, and
    `feature_gates` its --feature-gates."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        namespace, name = parse_target(target)
    except ValueError as e:
        print(f"surge explain: {e} ({USAGE})", file=err)
        return 2
    try:
        api = KubeAPI(await load_client(kubeconfig))
    except KubeconfigError as e:
        print(
            f"surge explain: cannot load Kubernetes client config: {e}"
            + ("" if kubeconfig else " (pass --kubeconfig)"),
            file=err,
        )
        return 2
    try:
        fetched = await fetch(api, namespace, name)
        expl = explain(fetched, now or datetime.now(UTC), options, feature_gates, forecasts)
    except ExplainError as e:
        print(f"surge explain: {e}", file=err)
        return 1
    finally:
        await api.client.close()
    if output == "json":
        out.write(json.dumps(expl.as_json(), indent=2) + "\n")
    else:
        render(expl, out)
    return 0


def main(
    target: str,
    kubeconfig: str | None = None,
    output: str = "table",
    out: TextIO | None = None,
    err: TextIO | None = None,
    options: Options | None = None,
    feature_gates: Mapping[str, bool] | None = None,
    forecasts: Collection[str] = (),
) -> int:
    """`surge explain NAMESPACE/HPA [--kubeconfig K] [-o json]`."""
    return asyncio.run(
        run(
            target,
            kubeconfig,
            output,
            out,
            err,
            options=options,
            feature_gates=feature_gates,
            forecasts=forecasts,
        )
    )
