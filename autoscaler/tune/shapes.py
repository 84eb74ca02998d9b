"""Generated traffic and capacity for measuring `surge tune` on what it has never seen
(`python -m bench tune` at full size, tests/autoscaler/test_tune_shapes.py small).

Four shapes, each a week of traffic (one sample a minute, seeded noise, every day a
little different) with its own capacity file and a first-guess HPA: office hours, steep
daily ramps, a weekly pattern, and slow-starting GPU pods (ready after 3 minutes). Each
is tuned on six days and judged on the seventh, against the best single target found by
brute force on that seventh day (the HPA as applied with its target(s) times one factor,
swept over a grid, warmed up on the evening before). `--small` is the tests' size: days
compressed to three hours.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autoscaler.simulation.capacity import PointsCapacity, parse
from autoscaler.simulation.simulate import Run, ScenarioSource, Settings
from autoscaler.simulation.traffic import TraceTraffic
from autoscaler.tune import search, space

DAY_S = 86400.0
T0 = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC
SLO_LATENCY_S, SLO_ATTAINMENT = 5.0, 0.99
HELD_OUT_FLOOR = 0.985  # what the held-out day must reach
WITHIN = 1.15  # of the brute force's pod-hours
BRUTE_FACTORS = tuple(0.3 * 1.06**i for i in range(36))  # 0.3x to 2.1x, 6% apart


def _web_capacity(ready_delay_s: float) -> dict[str, Any]:
    """A web service calling a model: flat p99 to 60 QPS per pod, steep toward 100."""
    return {
        "kind": "Capacity",
        "readyDelaySeconds": ready_delay_s,
        "cpuRequestCores": 1.0,
        "memoryRequestBytes": 2 * 2**30,
        "maxQps": 100,
        "startupCpuCores": 1.2,
        "points": [
            {"qps": 0, "p99Seconds": 1.5, "waiting": 0, "cpuCores": 0.05, "memoryBytes": 6e8},
            {"qps": 60, "p99Seconds": 2.0, "waiting": 24, "cpuCores": 0.55, "memoryBytes": 6.5e8},
            {"qps": 80, "p99Seconds": 3.5, "waiting": 40, "cpuCores": 0.75, "memoryBytes": 7e8},
            {"qps": 92, "p99Seconds": 6.0, "waiting": 60, "cpuCores": 0.86, "memoryBytes": 7.5e8},
            {"qps": 100, "p99Seconds": 9.0, "waiting": 90, "cpuCores": 0.95, "memoryBytes": 8e8},
        ],
    }


GPU_CAPACITY: dict[str, Any] = {
    "kind": "Capacity",
    "readyDelaySeconds": 180,  # the model loads into the GPU before the pod is Ready
    "cpuRequestCores": 4.0,
    "memoryRequestBytes": 32 * 2**30,
    "maxQps": 10,
    "points": [
        {"qps": 0, "p99Seconds": 1.2, "waiting": 0, "cpuCores": 0.2, "memoryBytes": 2e10},
        {"qps": 5, "p99Seconds": 1.6, "waiting": 4, "cpuCores": 1.0, "memoryBytes": 2.1e10},
        {"qps": 8, "p99Seconds": 3.0, "waiting": 9, "cpuCores": 1.6, "memoryBytes": 2.2e10},
        {"qps": 9.5, "p99Seconds": 6.0, "waiting": 16, "cpuCores": 1.9, "memoryBytes": 2.3e10},
        {"qps": 10, "p99Seconds": 8.0, "waiting": 20, "cpuCores": 2.0, "memoryBytes": 2.4e10},
    ],
}


def _hpa(name: str, metric: dict[str, Any], min_replicas: int, max_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "bench"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [metric],
        },
    }


def _pods(name: str, value: str) -> dict[str, Any]:
    return {
        "type": "Pods",
        "pods": {
            "metric": {"name": name},
            "target": {"type": "AverageValue", "averageValue": value},
        },
    }


CPU_70 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
}


def _smooth_step(x: float, at: float, width: float) -> float:
    return 1 / (1 + math.exp(-(x - at) / width))


def office_hours(hour: float, weekday: int) -> float:
    """09:00-18:00 at about 1,000 QPS with a lunch dip, nights near 80."""
    day = _smooth_step(hour, 8.5, 0.4) * (1 - _smooth_step(hour, 18.5, 0.4))
    lunch = 1 - 0.15 * math.exp(-(((hour - 12.5) / 0.6) ** 2))
    return 80 + 950 * day * lunch


def steep_ramps(hour: float, weekday: int) -> float:
    """A flash start at 08:00 (100 to 1,500 QPS in about five minutes) and a fall at 20:00."""
    day = _smooth_step(hour, 8.0, 0.025) * (1 - _smooth_step(hour, 20.0, 0.05))
    return 100 + 1400 * day * (1 + 0.1 * math.sin(2 * math.pi * (hour - 8) / 12))


def weekly(hour: float, weekday: int) -> float:
    """A diurnal curve, weekends at 40% of weekdays, Mondays the busiest."""
    level = (1.15, 1.0, 1.0, 0.95, 0.9, 0.4, 0.4)[weekday]
    diurnal = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 3) / 24)
    return 60 + 1100 * level * diurnal**1.5


def gpu(hour: float, weekday: int) -> float:
    """Inference on slow-starting GPU pods: 10 to 130 QPS, a quick morning climb."""
    day = _smooth_step(hour, 9.0, 0.3) * (1 - _smooth_step(hour, 21.0, 0.8))
    return 10 + 120 * day * (1 + 0.08 * math.sin(2 * math.pi * hour / 6))


@dataclass(frozen=True)
class Shape:
    name: str
    qps: Callable[[float, int], float]
    capacity: dict[str, Any]
    hpa: dict[str, Any]


SHAPES = (
    Shape("office-hours", office_hours, _web_capacity(40), _hpa("office", CPU_70, 2, 40)),
    Shape(
        "steep-ramps",
        steep_ramps,
        _web_capacity(40),
        _hpa("ramps", _pods("http_requests_waiting", "50"), 2, 40),
    ),
    Shape(
        "weekly",
        weekly,
        _web_capacity(60),
        _hpa("weekly", _pods("http_requests_per_second", "80"), 2, 40),
    ),
    Shape(
        "gpu-slow-start",
        gpu,
        GPU_CAPACITY,
        _hpa("gpu", _pods("http_requests_waiting", "6"), 1, 30),
    ),
)


def trace(shape: Shape, days: int, day_s: float, step_s: float, seed: int) -> TraceTraffic:
    """`days` days of the shape, a sample every `step_s`: each day scaled by up to 6%, and
    minute-to-minute noise of up to 4%, from a seeded generator."""
    rng = random.Random(f"{shape.name}-{seed}")
    scale = [1 + rng.uniform(-0.06, 0.06) for _ in range(days)]
    times, values = [], []
    n = int(days * day_s / step_s)
    for i in range(n + 1):
        t = i * step_s
        day = min(int(t // day_s), days - 1)
        hour = (t - day * day_s) / day_s * 24
        noise = 1 + rng.uniform(-0.04, 0.04)
        times.append(T0 + t)
        values.append(shape.qps(hour, day % 7) * scale[day] * noise)
    return TraceTraffic(tuple(times), tuple(values), f"{shape.name} ({days} days)")


@dataclass(frozen=True)
class Outcome:
    shape: str
    before_attainment: float
    before_pod_hours: float
    held_out_attainment: float
    held_out_pod_hours: float
    brute_pod_hours: float | None
    brute_factor: float | None
    seconds: float  # the tune's CPU time
    wall_seconds: float  # and its wall time
    changes: list[dict[str, Any]]
    knobs: space.Knobs  # what was chosen

    @property
    def ok(self) -> bool:
        return (
            self.held_out_attainment >= HELD_OUT_FLOOR
            and self.brute_pod_hours is not None
            and self.held_out_pod_hours <= WITHIN * self.brute_pod_hours
        )


def problem_for(shape: Shape, traffic: TraceTraffic, day_s: float) -> search.Problem:
    capacity: PointsCapacity = parse(shape.capacity, f"{shape.name} capacity")
    settings = Settings(capacity.ready_delay_s, SLO_LATENCY_S)
    return search.Problem(
        shape.hpa,
        shape.name,
        lambda: ScenarioSource(traffic, capacity, traffic.source),
        settings,
        capacity,
        SLO_LATENCY_S,
        SLO_ATTAINMENT,
        day_s=day_s,
    )


def brute_force(
    problem: search.Problem, before: Run, split: float, end: float, day_s: float
) -> tuple[float, float] | None:
    """The fewest pod-hours on [split, end) meeting the objective, one factor on the
    targets as applied: (pod-hours, factor), or None. Every factor of the grid is judged;
    from the cheapest down, a run is stopped once it misses the objective or costs more
    than the best so far (it cannot be the answer then)."""
    window = search.warm_window(before, split - day_s * search.WARMUP_SHARE, split, end)
    sweep = search.Search(problem, window, "brute force")
    for factor in sorted(BRUTE_FACTORS, reverse=True):
        sweep.judge(problem.applied.scaled(factor, problem.tunable))
    best = sweep.best
    if best is None or best.pod_hours is None:
        return None
    return best.pod_hours, max(best.knobs.factors)


def run_shape(shape: Shape, days: int = 7, day_s: float = DAY_S, step_s: float = 60.0) -> Outcome:
    traffic = trace(shape, days, day_s, step_s, seed=1)
    problem = problem_for(shape, traffic, day_s)
    start, end = traffic.start, traffic.end
    began, began_wall = time.process_time(), time.perf_counter()
    tuned = search.tune_and_hold_out(problem, start, end, day_s)
    seconds, wall_seconds = time.process_time() - began, time.perf_counter() - began_wall
    split = tuned.split
    before_hours, before_att = search.judged(tuned.before, start, split, SLO_LATENCY_S)
    held_hours, held_att = search.judged(tuned.after, split, end, SLO_LATENCY_S)
    brute = brute_force(problem, tuned.before, split, end, day_s)
    chosen = (tuned.result.best or tuned.result.closest).knobs
    changes = search.space.changes(problem.document, problem.document_for(chosen))
    return Outcome(
        shape.name,
        before_att,
        before_hours,
        held_att,
        held_hours,
        brute[0] if brute else None,
        brute[1] if brute else None,
        seconds,
        wall_seconds,
        changes,
        chosen,
    )
