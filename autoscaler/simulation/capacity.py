"""Capacity models: what one ready pod does with the load it gets.

Two kinds answer the simulator: the seed's model, calibrated on the seed's tables
(autoscaler.simulation.scenario.calibrate), and a capacity file (`kind: Capacity`,
docs/capacity-format.md):
measured points of one ready pod in steady state, linear in between and flat past the last,
with a throughput ceiling (`maxQps`) past which the excess joins a backlog.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from autoscaler.simulation.scenario import (
    SEED_METRIC_NAMES,
    Capacity,
    CapacityModel,
    PodLoad,
    calibrate,
)

KIND = "Capacity"
# What a capacity model can answer an HPA metric with, and how many 15 s syncs each is read
# over (docs/simulate.md): CPU and memory over metrics-server's 30 s, a gauge at the last
# scrape, a per-second rate over the seed rules' 2m, a histogram's p99 over 5m.
QUANTITIES = {
    "cpu": 2,
    "memory": 2,
    "waiting": 1,
    "waitingTotal": 1,
    "qps": 8,
    "p99Seconds": 20,
}
CURVES = ("p99Seconds", "waiting", "cpuCores", "memoryBytes")
REQUIRED = ("readyDelaySeconds", "cpuRequestCores", "memoryRequestBytes", "maxQps", "points")
# Where the seed's model is sampled for `surge capacity export --seed`: every 5 QPS per pod,
# every 1 near the top where p99 turns up.
EXPORT_STEP, EXPORT_FINE_FROM = 5.0, 85.0


class CapacityError(ValueError):
    """A capacity file that cannot be used; the message is one line naming the problem."""


def _linear(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    """Linear between points, flat past the ends."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class PointsCapacity:
    """A capacity file: one ready pod's steady state at measured loads (QPS per pod)."""

    ready_delay_s: float
    cpu_request_cores: float
    memory_request_bytes: int
    max_qps: float | None  # None: unknown, no backlog is modelled
    qps: tuple[float, ...]
    curves: Mapping[str, tuple[float, ...]]  # by CURVES name, one value per point
    queued_share_: float = 1.0
    startup_cpu_cores: float | None = None
    memory_per_queued_bytes: float = 0.0
    metric_names: Mapping[str, str] = field(default_factory=lambda: dict(SEED_METRIC_NAMES))
    source: str = ""

    @property
    def cpu_request_milli(self) -> int:
        return round(self.cpu_request_cores * 1000)

    @property
    def queued_share(self) -> float:
        return self.queued_share_ if self.max_qps is not None else 0.0

    @property
    def queue_throughput(self) -> float:
        return self.queued_share_ * self.max_qps if self.max_qps is not None else 0.0

    def curve(self, name: str, qps: float) -> float:
        return _linear(self.qps, self.curves[name], qps)

    def pod_load(self, qps: float, queued: float = 0.0) -> PodLoad:
        """A ready pod at `qps`; past maxQps it serves maxQps, and each request of the
        backlog waits in it and adds its share of the drain time to p99."""
        served = qps if self.max_qps is None else min(qps, self.max_qps)
        at = self.max_qps if queued > 0 and self.max_qps is not None else served
        p99 = self.curve("p99Seconds", at)
        if queued > 0 and self.queue_throughput > 0:
            p99 += queued / self.queue_throughput
        waiting = self.curve("waiting", at) + queued
        return PodLoad(
            qps=qps,
            cpu_percent=100 * self.curve("cpuCores", qps) / self.cpu_request_cores,
            memory_bytes=self.curve("memoryBytes", qps) + self.memory_per_queued_bytes * queued,
            waiting=waiting,
            llm_concurrency=0.0,
            p99_seconds=p99,
        )

    def startup_load(self) -> PodLoad:
        cores = self.startup_cpu_cores if self.startup_cpu_cores is not None else 0.0
        memory = self.curves["memoryBytes"][0]
        return PodLoad(0.0, 100 * cores / self.cpu_request_cores, memory, 0.0, 0.0, 0.0)


def _number(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CapacityError(f"{where}: not a number: {value!r}")
    if not math.isfinite(value) or value < minimum:
        raise CapacityError(f"{where}: must be a number of at least {minimum:g}, got {value!r}")
    return float(value)


def parse(document: Any, source: str) -> PointsCapacity:
    """A capacity model from the parsed YAML; every problem named with its field."""
    if not isinstance(document, dict):
        raise CapacityError(f"{source}: not a mapping (kind: Capacity, points: [...])")
    if document.get("kind") != KIND:
        raise CapacityError(f"{source}: kind must be {KIND}, got {document.get('kind')!r}")
    for key in REQUIRED:
        if key not in document:
            raise CapacityError(f"{source}: missing field {key}")
    known = {*REQUIRED, "kind", "queuedShare", "startupCpuCores", "memoryPerQueuedBytes", "metrics"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise CapacityError(f"{source}: unknown field {unknown[0]}")
    request = _number(document["cpuRequestCores"], f"{source}: cpuRequestCores")
    if request <= 0:
        raise CapacityError(f"{source}: cpuRequestCores must be above 0")
    max_qps = document["maxQps"]
    if max_qps is not None:
        max_qps = _number(max_qps, f"{source}: maxQps")
        if max_qps <= 0:
            raise CapacityError(f"{source}: maxQps must be above 0 (or null: unknown)")
    points = document["points"]
    if not isinstance(points, list) or not points:
        raise CapacityError(f"{source}: points must be a non-empty list")
    qps: list[float] = []
    curves: dict[str, list[float]] = {name: [] for name in CURVES}
    for i, point in enumerate(points):
        where = f"{source}: points[{i}]"
        if not isinstance(point, dict):
            raise CapacityError(f"{where}: not a mapping")
        for key in ("qps", *CURVES):
            if key not in point:
                raise CapacityError(f"{where}: missing field {key}")
        extra = sorted(set(point) - {"qps", *CURVES})
        if extra:
            raise CapacityError(f"{where}: unknown field {extra[0]}")
        load = _number(point["qps"], f"{where}.qps")
        if qps and load <= qps[-1]:
            raise CapacityError(
                f"{where}: qps {load:g} is not above the previous point's {qps[-1]:g} "
                "(points go up in load)"
            )
        qps.append(load)
        for name in CURVES:
            value = _number(point[name], f"{where}.{name}")
            if curves[name] and value < curves[name][-1]:
                raise CapacityError(
                    f"{where}: {name} {value:g} falls below the previous point's "
                    f"{curves[name][-1]:g}: the load is not monotone (more load, less {name})"
                )
            curves[name].append(value)
    metrics = document.get("metrics", dict(SEED_METRIC_NAMES))
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and v in QUANTITIES for k, v in metrics.items()
    ):
        raise CapacityError(
            f"{source}: metrics must map metric names to one of {', '.join(QUANTITIES)}"
        )
    startup = document.get("startupCpuCores")
    return PointsCapacity(
        ready_delay_s=_number(document["readyDelaySeconds"], f"{source}: readyDelaySeconds"),
        cpu_request_cores=request,
        memory_request_bytes=round(
            _number(document["memoryRequestBytes"], f"{source}: memoryRequestBytes", 1)
        ),
        max_qps=max_qps,
        qps=tuple(qps),
        curves={k: tuple(v) for k, v in curves.items()},
        queued_share_=_number(document.get("queuedShare", 1.0), f"{source}: queuedShare"),
        startup_cpu_cores=None
        if startup is None
        else _number(startup, f"{source}: startupCpuCores"),
        memory_per_queued_bytes=_number(
            document.get("memoryPerQueuedBytes", 0.0), f"{source}: memoryPerQueuedBytes"
        ),
        metric_names=dict(metrics),
        source=source,
    )


def read_file(path: str) -> PointsCapacity:
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except OSError as err:
        raise CapacityError(f"{path}: cannot read: {err.strerror}") from None
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise CapacityError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    return parse(document, path)


def load(spec: str | None) -> CapacityModel:
    """`seed` (or None): the seed's calibrated model; otherwise a capacity file."""
    if spec in (None, "", "seed"):
        return calibrate()
    return read_file(spec)


# --- writing ---------------------------------------------------------------------------------


def document(capacity: PointsCapacity, comments: Sequence[str] = ()) -> str:
    """The capacity file's YAML, points one a line as the format's example has them."""
    lines = [f"# {c}" for c in comments]
    lines += [
        f"kind: {KIND}",
        f"readyDelaySeconds: {capacity.ready_delay_s:g}",
        f"cpuRequestCores: {capacity.cpu_request_cores:g}",
        f"memoryRequestBytes: {capacity.memory_request_bytes}",
        f"maxQps: {'null' if capacity.max_qps is None else _g(capacity.max_qps)}",
    ]
    if capacity.queued_share_ != 1.0:
        lines.append(f"queuedShare: {_g(capacity.queued_share_)}")
    if capacity.startup_cpu_cores is not None:
        lines.append(f"startupCpuCores: {_g(capacity.startup_cpu_cores)}")
    if capacity.memory_per_queued_bytes:
        lines.append(f"memoryPerQueuedBytes: {_g(capacity.memory_per_queued_bytes)}")
    if dict(capacity.metric_names) != SEED_METRIC_NAMES:
        lines.append("metrics:")
        lines += [f"  {k}: {v}" for k, v in capacity.metric_names.items()]
    lines.append("points:")
    for i, q in enumerate(capacity.qps):
        cells = ", ".join(f"{n}: {_g(capacity.curves[n][i])}" for n in CURVES)
        lines.append(f"  - {{qps: {_g(q)}, {cells}}}")
    return "\n".join(lines) + "\n"


def _g(value: float) -> str:
    """Six significant digits; whole numbers without a point."""
    return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"


def export_seed(seed: Capacity | None = None) -> PointsCapacity:
    """The seed's calibrated model as a capacity file.

    maxQps is where the LLM path saturates (its best call rate over the share of requests
    that call it); only those calls queue past it (`queuedShare`), so the backlog, its wait
    and the memory each waiting request holds are the seed model's own."""
    cap = seed or calibrate()
    max_qps = cap.llm_capacity / cap.llm_share
    grid = [x * EXPORT_STEP for x in range(int(EXPORT_FINE_FROM // EXPORT_STEP))]
    grid += [float(q) for q in range(int(EXPORT_FINE_FROM), math.ceil(max_qps))]
    grid.append(max_qps)
    loads = [cap.pod_load(q) for q in grid]
    request_cores = cap.cpu_request_milli / 1000
    curves = {
        "p99Seconds": tuple(load.p99_seconds for load in loads),
        "waiting": tuple(load.waiting for load in loads),
        "cpuCores": tuple(load.cpu_percent / 100 * request_cores for load in loads),
        "memoryBytes": tuple(load.memory_bytes for load in loads),
    }
    start = cap.startup_load()
    return PointsCapacity(
        ready_delay_s=cap.ready_delay_s,
        cpu_request_cores=request_cores,
        memory_request_bytes=cap.memory_request_bytes,
        max_qps=max_qps,
        qps=tuple(grid),
        curves=curves,
        queued_share_=cap.llm_share,
        startup_cpu_cores=start.cpu_percent / 100 * request_cores,
        memory_per_queued_bytes=cap.memory_per_request_bytes,
        source="the seed's model",
    )


SEED_EXPORT_COMMENTS = (
    "The seed's capacity model (docs/simulate.md), sampled: `surge capacity export --seed`.",
    "Per ready pod at `qps` requests per second; linear between points, flat past the last.",
    "Past maxQps only the LLM calls queue (queuedShare), each holding 1 MiB while it waits.",
)
