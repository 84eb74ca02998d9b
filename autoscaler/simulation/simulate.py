"""The replay behind `surge simulate`: an HPA spec through time, one sync every 15 s.

Every decision is autoscaler.core.hpa.decide, the controller's own algorithm, with its memory
carried from one sync to the next. Around it this module plays the cluster: the target's
pods (created by a rescale, ready after a delay, the newest removed first, as a
ReplicaSet removes them) and the metrics APIs, answering either from a traffic scenario
run through a capacity model (autoscaler.simulation.scenario) or from recorded metric history
(autoscaler.simulation.timeline). The command is autoscaler.simulation.command's, the
report autoscaler.simulation.report's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from typing import Any, Protocol

import yaml

from autoscaler.cases import CaseError, read_hpa
from autoscaler.core import conditions as c
from autoscaler.core.behavior import History
from autoscaler.core.hpa import MetricResult, Options, decide
from autoscaler.core.metrictypes import MetricSourceType
from autoscaler.core.objects import (
    Cluster,
    Container,
    ContainerMetrics,
    CustomMetricValue,
    ExternalMetricValue,
    HorizontalPodAutoscaler,
    MetricSpec,
    Pod,
    PodCondition,
    PodMetrics,
    Scale,
)
from autoscaler.simulation.capacity import QUANTITIES
from autoscaler.simulation.scenario import CapacityModel, PodLoad, Service, Traffic, calibrate
from autoscaler.simulation.timeline import Timeline
from autoscaler.simulation.traffic import TraceTraffic

SYNC_PERIOD_S = 15.0  # kube-controller-manager --horizontal-pod-autoscaler-sync-period
SEED_SCENARIO = "seed-workday"
SCENARIOS = (SEED_SCENARIO,)
# The scenario's day: a Monday, from local midnight.
SCENARIO_DAY = (2026, 1, 5)
TRAFFIC_QUERY = "qps"  # --prometheus-url with only this query: a traffic trace
# The timeline columns that are not metrics.
REPLICAS_COLUMN, QPS_COLUMN, P99_COLUMN = "replicas", "qps", "p99_seconds"
POD_METRICS_WINDOW = timedelta(seconds=30)
POD_LABELS = {"app": "simulated"}
POD_SELECTOR = "app=simulated"


class SimulationError(ValueError):
    """An HPA, scenario or timeline that cannot be simulated; one line, exit 2."""


@dataclass(frozen=True)
class Settings:
    ready_delay_s: float = 40.0  # the seed's readiness probe: 30 s initial delay + 10 s period
    latency_target_s: float = 5.0  # the seed's latency HPA's target
    options: Options = field(default_factory=Options)


# --- the HPA ------------------------------------------------------------------------------


def load_hpa(text: str, source: str, name: str | None = None) -> HorizontalPodAutoscaler:
    """The HPA named `name` (or the first) in YAML as applied to a cluster."""
    return read_hpa_document(hpa_document(text, source, name), source)


def read_hpa_document(document: dict[str, Any], source: str) -> HorizontalPodAutoscaler:
    try:
        return read_hpa(document)
    except CaseError as err:
        raise SimulationError(f"{source}: {err}") from None


def hpa_document(text: str, source: str, name: str | None = None) -> dict[str, Any]:
    """The HPA's YAML document (autoscaling/v2) named `name`, or the first in `text`."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise SimulationError(f"{source}: not valid YAML: {str(err).splitlines()[0]}") from None
    items: list[Any] = []
    for doc in docs:
        items.extend(doc["items"] if isinstance(doc, dict) and "items" in doc else [doc])
    hpas = [d for d in items if isinstance(d, dict) and d.get("kind") == "HorizontalPodAutoscaler"]
    if not hpas:
        raise SimulationError(f"{source}: no HorizontalPodAutoscaler in it")
    if name is not None:
        hpas = [d for d in hpas if (d.get("metadata") or {}).get("name") == name]
        if not hpas:
            raise SimulationError(f"{source}: no HorizontalPodAutoscaler named {name}")
    chosen = hpas[0]
    if chosen.get("apiVersion") != "autoscaling/v2":
        raise SimulationError(
            f"{source}: apiVersion {chosen.get('apiVersion')!r}: only autoscaling/v2 is read"
        )
    return chosen


def seed_hpa_text() -> str:
    """The seed's HPAs, shipped with the package (autoscaler/seed-hpa.yaml)."""
    return resources.files("autoscaler").joinpath("seed-hpa.yaml").read_text(encoding="utf-8")


def is_per_pod(spec: MetricSpec) -> bool:
    """Whether the metrics API answers this metric per pod (it then scales with load)."""
    return spec.type in (
        MetricSourceType.RESOURCE,
        MetricSourceType.CONTAINER_RESOURCE,
        MetricSourceType.PODS,
    )


def target_value(spec: MetricSpec) -> float | None:
    """The target in the units the HPA's status shows (percent, or the quantity)."""
    t = spec.target
    if t is None:
        return None
    if t.average_utilization is not None:
        return float(t.average_utilization)
    milli = t.average_value if t.average_value is not None else t.value
    return None if milli is None else milli / 1000


def current_value(result: MetricResult) -> float | None:
    """A metric's current value as decide reports it, in the target's units."""
    cur = result.current
    if cur is None:
        return None
    if cur.average_utilization is not None:
        return float(cur.average_utilization)
    milli = cur.average_value if cur.average_value is not None else cur.value
    return None if milli is None else milli / 1000


# --- the cluster ---------------------------------------------------------------------------


@dataclass
class SimPod:
    name: str
    created: float
    ready_at: float
    _objects: dict[bool, Pod] = field(default_factory=dict)

    def is_ready(self, now: float) -> bool:
        return now >= self.ready_at

    def as_pod(self, now: float, namespace: str, container: Container) -> Pod:
        """The Pod object; two versions (before and after readiness), built once each."""
        ready = self.is_ready(now)
        pod = self._objects.get(ready)
        if pod is None:
            transition = self.ready_at if ready else self.created
            pod = Pod(
                name=self.name,
                namespace=namespace,
                labels=POD_LABELS,
                phase="Running",
                start_time=_datetime(self.created),
                ready=PodCondition("True" if ready else "False", _datetime(transition)),
                containers=(container,),
            )
            self._objects[ready] = pod
        return pod


class Fleet:
    """The target's pods. A rescale up creates pods that are ready `ready_delay_s` later;
    a rescale down removes pods that are not ready first, then the newest."""

    def __init__(self, replicas: int, now: float, ready_delay_s: float) -> None:
        self.ready_delay_s = ready_delay_s
        self._next = 0
        self.pods: list[SimPod] = []
        # The first pods have run for an hour: past the CPU initialization period.
        for _ in range(replicas):
            self._add(now - 3600, now - 3600 + ready_delay_s)

    def _add(self, created: float, ready_at: float) -> None:
        self.pods.append(SimPod(f"pod-{self._next:04d}", created, ready_at))
        self._next += 1

    @property
    def replicas(self) -> int:
        return len(self.pods)

    def ready(self, now: float) -> int:
        return sum(1 for p in self.pods if p.is_ready(now))

    def rescale(self, replicas: int, now: float) -> None:
        while len(self.pods) < replicas:
            self._add(now, now + self.ready_delay_s)
        if len(self.pods) > replicas:
            # As a ReplicaSet ranks them: not ready first, then ready for the shortest time,
            # then the newest (the list is in creation order, and the sort is stable).
            order = sorted(reversed(self.pods), key=lambda p: (p.is_ready(now), -p.ready_at))
            removed = {id(p) for p in order[: len(self.pods) - replicas]}
            self.pods = [p for p in self.pods if id(p) not in removed]


def _datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _milli(value: float) -> int:
    return round(value * 1000)


@dataclass(frozen=True)
class Reading:
    """One sync: what the metrics APIs answer (`signals`, by metric name: per ready pod for
    Resource and Pods metrics, in cores and bytes for resources; the value for Object and
    External metrics) and what was true, for the report."""

    signals: Mapping[str, float]
    qps: float | None = None
    p99_seconds: float | None = None
    load: PodLoad | None = None


class Source(Protocol):
    description: str

    def read(self, now: float, ready: int) -> Reading:
        """The metrics at `now` with `ready` pods serving; called once per sync, in order."""
        ...


def build_cluster(
    hpa: HorizontalPodAutoscaler,
    fleet: Fleet,
    reading: Reading,
    capacity: CapacityModel,
    now: float,
) -> Cluster:
    """What the controller would read: the pods, and the metrics APIs' answers.

    Pods that are not ready report the CPU and memory of a starting JVM to metrics-server
    and no custom metrics (the application does not serve /metrics before it is up)."""
    container_name = next((s.container for s in hpa.metrics if s.container), "app")
    container = Container(
        container_name,
        {"cpu": capacity.cpu_request_milli, "memory": capacity.memory_request_bytes * 1000},
    )
    stamp = _datetime(now)
    namespace = hpa.namespace
    pods = tuple(p.as_pod(now, namespace, container) for p in fleet.pods)
    ready = [p.is_ready(now) for p in fleet.pods]
    signals = reading.signals
    pod_metrics: list[PodMetrics] = []
    custom: list[CustomMetricValue] = []
    external: list[ExternalMetricValue] = []
    resources_used = {s.resource for s in hpa.metrics if s.resource is not None}
    if resources_used:
        start = capacity.startup_load()
        starting = {
            "cpu": _milli(start.cpu_percent / 100 * capacity.cpu_request_milli / 1000),
            "memory": _milli(start.memory_bytes),
        }
        serving = {r: _milli(signals[r]) for r in resources_used if r in signals}
        for pod, is_ready in zip(pods, ready, strict=True):
            usage = serving if is_ready else {r: starting.get(r, 0) for r in serving}
            pod_metrics.append(
                PodMetrics(
                    pod.name,
                    (ContainerMetrics(container_name, usage),),
                    namespace,
                    POD_LABELS,
                    stamp,
                    POD_METRICS_WINDOW,
                )
            )
    for spec in hpa.metrics:
        name = spec.name
        if name not in signals or spec.resource is not None:
            continue
        value = _milli(signals[name])
        if spec.type == MetricSourceType.PODS:
            custom.extend(
                CustomMetricValue(name, "Pod", pod.name, value, namespace, stamp)
                for pod, is_ready in zip(pods, ready, strict=True)
                if is_ready
            )
        elif spec.type == MetricSourceType.OBJECT and spec.described_object is not None:
            ref = spec.described_object
            custom.append(CustomMetricValue(name, ref.kind, ref.name, value, namespace, stamp))
        elif spec.type == MetricSourceType.EXTERNAL:
            external.append(ExternalMetricValue(name, value, stamp))
    return Cluster(pods, tuple(pod_metrics), tuple(custom), tuple(external))


# --- the sources ---------------------------------------------------------------------------


class _Window:
    """The mean of the last `size` values: a metric read over a time window."""

    def __init__(self, size: int) -> None:
        self.values: deque[float] = deque(maxlen=size)

    def push(self, value: float) -> float:
        self.values.append(value)
        return sum(self.values) / len(self.values)


@dataclass
class ScenarioSource:
    """Traffic (the seed's day or a trace) through a capacity model: the metrics the seed's
    rules, or the names a capacity file gives, would serve."""

    traffic: Traffic | TraceTraffic
    capacity: CapacityModel
    description: str = SEED_SCENARIO
    _service: Service = field(init=False)
    _windows: dict[str, _Window] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._service = Service(self.capacity)

    @staticmethod
    def check(
        hpa: HorizontalPodAutoscaler,
        capacity: CapacityModel,
        forecasts: frozenset[str] = frozenset(),
    ) -> None:
        """Every HPA metric must be one the capacity model (or a forecast rule) answers."""
        served = {"cpu": "cpu", "memory": "memory", **capacity.metric_names}
        for spec in hpa.metrics:
            if spec.name not in served and spec.name not in forecasts:
                source = getattr(capacity, "source", "") or "the seed's capacity model"
                raise SimulationError(
                    f"{source} does not model {spec.type} metric {spec.name!r} "
                    f"(it models {', '.join(served)}; a capacity file names its own under "
                    "`metrics:`)"
                )

    def read(self, now: float, ready: int) -> Reading:
        qps = self.traffic.qps(now)
        load = self._service.step(qps, ready, SYNC_PERIOD_S)
        cap = self.capacity
        instant = {
            "cpu": load.cpu_percent / 100 * cap.cpu_request_milli / 1000,
            "memory": load.memory_bytes,
            "waiting": load.waiting,
            "qps": load.qps,
            "p99Seconds": load.p99_seconds if math.isfinite(load.p99_seconds) else 60.0,
            "waitingTotal": load.waiting * ready,
        }
        averaged = {}
        for quantity, value in instant.items():
            window = self._windows.setdefault(quantity, _Window(QUANTITIES[quantity]))
            averaged[quantity] = window.push(value)
        signals = {"cpu": averaged["cpu"], "memory": averaged["memory"]}
        signals.update({name: averaged[q] for name, q in cap.metric_names.items()})
        return Reading(signals, qps, load.p99_seconds, load)


@dataclass
class TimelineSource:
    """Recorded metrics. With a `replicas` column, per-pod metrics are rescaled to the
    simulated ready pods (the same load spread over other pods); Object and External
    metrics, and all metrics without it, are replayed as recorded."""

    timeline: Timeline
    hpa: HorizontalPodAutoscaler
    capacity: CapacityModel

    @property
    def description(self) -> str:
        return self.timeline.source

    def __post_init__(self) -> None:
        names = self.timeline.names
        missing = [s.name for s in self.hpa.metrics if s.name not in names]
        if missing:
            raise SimulationError(
                f"{self.timeline.source}: no column for the HPA's metric(s) "
                f"{', '.join(missing)} (columns: {', '.join(names)})"
            )

    def read(self, now: float, ready: int) -> Reading:
        timeline = self.timeline
        recorded = timeline.value_at(REPLICAS_COLUMN, now)
        signals: dict[str, float] = {}
        for spec in self.hpa.metrics:
            name = spec.name
            value = timeline.value_at(name, now)
            if value is None:
                continue
            if is_per_pod(spec) and recorded and ready:
                value = value * recorded / ready
            if spec.resource is not None and spec.target and spec.target.average_utilization:
                request = (
                    self.capacity.cpu_request_milli / 1000
                    if spec.resource == "cpu"
                    else self.capacity.memory_request_bytes
                )
                value = value / 100 * request
            signals[name] = value
        return Reading(
            signals, timeline.value_at(QPS_COLUMN, now), timeline.value_at(P99_COLUMN, now)
        )


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One sync: the replicas before it, the decision, and what was true."""

    time: float
    replicas: int
    ready: int
    desired: int
    qps: float | None
    p99_seconds: float | None
    load: PodLoad | None
    metrics: tuple[MetricResult, ...]
    limit: str


@dataclass(frozen=True)
class Run:
    hpa: HorizontalPodAutoscaler
    source: str
    steps: tuple[Step, ...]
    settings: Settings
    capacity: CapacityModel
    utc_offset_hours: float


def _limit(conditions: Sequence[c.Condition]) -> str:
    """What held the replicas back: a limit, a stabilization window, or failed metrics."""
    by_type = {cond.type: cond for cond in conditions}
    limited = by_type.get(c.SCALING_LIMITED)
    if limited is not None and limited.status == "True":
        return limited.reason
    active = by_type.get(c.SCALING_ACTIVE)
    if active is not None and active.status == "False":
        return active.reason
    able = by_type.get(c.ABLE_TO_SCALE)
    if able is not None and able.reason in (
        c.SCALE_DOWN_STABILIZED[0],
        c.SCALE_UP_STABILIZED[0],
    ):
        return able.reason
    return ""


def simulate(
    hpa: HorizontalPodAutoscaler,
    source: Source,
    start: float,
    end: float,
    settings: Settings,
    capacity: CapacityModel,
    initial_replicas: int | None = None,
    utc_offset_hours: float = 0.0,
    advance: Callable[[int], None] = lambda n: None,
) -> Run:
    """One controller sync every 15 s from `start` until before `end`."""
    count = int((end - start) // SYNC_PERIOD_S)
    if count <= 0:
        raise SimulationError("the time range is shorter than one sync period (15 s)")
    minimum = hpa.min_replicas if hpa.min_replicas is not None else 1
    replicas = initial_replicas if initial_replicas is not None else max(minimum, 1)
    fleet = Fleet(replicas, start, settings.ready_delay_s)
    history = History()
    live = hpa
    steps: list[Step] = []
    for i in range(count):
        now = start + i * SYNC_PERIOD_S
        ready = fleet.ready(now)
        reading = source.read(now, ready)
        cluster = build_cluster(hpa, fleet, reading, capacity, now)
        current = fleet.replicas
        decision = decide(
            live,
            Scale(current, POD_SELECTOR),
            cluster,
            history,
            settings.options,
            _datetime(now),
        )
        history = decision.history
        # The status the controller writes: its conditions (ScaledToZero) are read next sync.
        live = replace(live, conditions=decision.conditions)
        steps.append(
            Step(
                now,
                current,
                ready,
                decision.desired_replicas,
                reading.qps,
                reading.p99_seconds,
                reading.load,
                decision.metrics,
                _limit(decision.conditions),
            )
        )
        if decision.rescale:
            fleet.rescale(decision.desired_replicas, now)
        if i % 96 == 95:
            advance(96)
    advance(count % 96)
    return Run(hpa, source.description, tuple(steps), settings, capacity, utc_offset_hours)


def scenario_run(
    days: float = 1.0,
    hpa_name: str | None = None,
    settings: Settings | None = None,
    traffic_scale: float = 1.0,
) -> Run:
    """The seed-workday scenario with the seed's HPA, for tests and notebooks."""
    hpa = load_hpa(seed_hpa_text(), "the seed's HPA", hpa_name)
    capacity = calibrate()
    zone = timezone(timedelta(hours=8))
    start = datetime(*SCENARIO_DAY, tzinfo=zone).timestamp()
    source = ScenarioSource(Traffic(scale=traffic_scale), capacity)
    return simulate(
        hpa, source, start, start + days * 86400, settings or Settings(), capacity, None, 8.0
    )
