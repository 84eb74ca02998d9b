"""A capacity file fitted from a service's own history (`surge capacity fit`).

Per-pod load is qps / replicas; every curve (p99, waiting, CPU, memory) is fitted monotone
in it by SciPy's isotonic regression over the samples, binned along the load so a week of
15 s samples stays cheap. The model is only as good as the loads the history covers: the fit
says which, how far it misses the samples, and whether latency ever turned up (`maxQps`),
else it states maxQps as unknown and the model as extrapolated past the covered range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from autoscaler.simulation.capacity import CURVES, PointsCapacity
from autoscaler.simulation.scenario import SEED_METRIC_NAMES
from autoscaler.simulation.timeline import Series, Timeline

# Timeline columns: total qps, the pods serving it, and per-pod values of the curves.
QPS, REPLICAS, P99 = "qps", "replicas", "p99_seconds"
CURVE_COLUMNS = {
    "p99Seconds": P99,
    "waiting": "waiting",
    "cpuCores": "cpu",
    "memoryBytes": "memory",
}
REQUIRED_COLUMNS = (QPS, REPLICAS, P99)
# `surge simulate --csv` names them its own way: the pods serving are `ready_pods` (its
# `replicas` counts starting pods too), CPU is a percent of the request.
SIMULATE_COLUMNS = {"ready_pods": REPLICAS, "waiting_per_pod": "waiting", "memory_bytes": "memory"}
SIMULATE_CPU_PERCENT = "cpu_percent"
# What a fit reads of a file; a simulation's other columns (its decisions) are left alone.
READ_COLUMNS = frozenset(
    {*REQUIRED_COLUMNS, *CURVE_COLUMNS.values(), *SIMULATE_COLUMNS, SIMULATE_CPU_PERCENT}
)
BINS = 200  # samples are pooled into this many load bins before the fit
MAX_POINTS = 40  # points written to the capacity file
MIN_SAMPLES = 20
# Latency "turns up" where the fitted p99 reaches this multiple of its light-load value.
TURN_UP = 3.0


class FitError(ValueError):
    """History that cannot give a capacity model; one line naming the problem (exit 2)."""


@dataclass(frozen=True)
class CurveFit:
    name: str
    rmse: float
    relative_rmse: float  # rmse over the mean of the samples
    measured: bool  # False: the history has no column for it, the curve is 0


@dataclass(frozen=True)
class Fit:
    capacity: PointsCapacity
    covered: tuple[float, float]  # per-pod QPS the history covers
    samples: int
    curves: tuple[CurveFit, ...]
    max_qps_found: bool

    @property
    def extrapolated(self) -> bool:
        """Loads above the covered range, where latency never turned up, are guesses."""
        return not self.max_qps_found

    def lines(self) -> list[str]:
        low, high = self.covered
        out = [
            f"history: {self.samples:,} samples, per-pod load {low:.1f}-{high:.1f} QPS",
        ]
        for c in self.curves:
            if c.measured:
                out.append(f"  {c.name}: fit error {c.rmse:.4g} RMS ({c.relative_rmse:.1%})")
            else:
                out.append(f"  {c.name}: not in the history, written as 0")
        cap = self.capacity
        if cap.max_qps is not None:
            out.append(
                f"maxQps: {cap.max_qps:.1f} (p99 reached {TURN_UP:g}x its light-load "
                f"{cap.curves['p99Seconds'][0]:.3g} s there)"
            )
        else:
            out.append(
                f"maxQps: unknown (p99 never reached {TURN_UP:g}x its light-load value in the "
                f"history); EXTRAPOLATED past {high:.1f} QPS per pod: the model holds every "
                "curve flat there and queues nothing, so it is optimistic at higher loads"
            )
        return out

    def comments(self) -> list[str]:
        return [
            "Fitted by `surge capacity fit` (isotonic in per-pod load, SciPy).",
            *self.lines(),
        ]


def from_simulation(timeline: Timeline, cpu_request_cores: float) -> Timeline:
    """A `surge simulate --csv` timeline (it has `ready_pods`) under a fit's column names;
    its CPU percent is taken as of `cpu_request_cores`. Any other timeline as it is."""
    if "ready_pods" not in timeline.columns:
        return timeline
    columns = dict(timeline.columns)
    for theirs, ours in SIMULATE_COLUMNS.items():
        if theirs in columns:
            columns[ours] = columns.pop(theirs)
    percent = columns.pop(SIMULATE_CPU_PERCENT, None)
    if percent is not None:
        cores = tuple(v / 100 * cpu_request_cores for v in percent.values)
        columns[CURVE_COLUMNS["cpuCores"]] = Series(percent.times, cores)
    return Timeline(columns, timeline.source)


def _column(timeline: Timeline, name: str, times: np.ndarray) -> np.ndarray | None:
    """The column's samples at `times` (the last value at or before each), or None."""
    series = timeline.columns.get(name)
    if series is None or not series.times:
        return None
    t = np.asarray(series.times)
    v = np.asarray(series.values)
    i = np.searchsorted(t, times, side="right") - 1
    return np.where(i >= 0, v[np.clip(i, 0, None)], np.nan)


def fit(
    timeline: Timeline,
    cpu_request_cores: float,
    memory_request_bytes: int,
    ready_delay_s: float,
    metric_names: Mapping[str, str] | None = None,
) -> Fit:
    """The capacity file a history implies (columns: qps, replicas, p99_seconds and
    optionally waiting, cpu in cores and memory in bytes, each per pod)."""
    from scipy.optimize import isotonic_regression

    missing = [c for c in REQUIRED_COLUMNS if c not in timeline.columns]
    if missing:
        raise FitError(
            f"{timeline.source}: no column {', '.join(missing)} "
            f"(a fit needs {', '.join(REQUIRED_COLUMNS)})"
        )
    times = np.asarray(timeline.columns[QPS].times)
    qps = np.asarray(timeline.columns[QPS].values)
    replicas = _column(timeline, REPLICAS, times)
    values = {name: _column(timeline, col, times) for name, col in CURVE_COLUMNS.items()}
    p99 = values["p99Seconds"]
    if replicas is None or p99 is None:
        raise FitError(f"{timeline.source}: replicas and p99_seconds have no values")
    ok = np.isfinite(replicas) & (replicas > 0) & np.isfinite(p99)
    load = np.where(ok, qps / np.where(replicas > 0, replicas, 1), np.nan)
    ok &= np.isfinite(load)
    if int(ok.sum()) < MIN_SAMPLES:
        raise FitError(
            f"{timeline.source}: {int(ok.sum())} usable samples (qps, replicas > 0 and "
            f"p99_seconds at the same time); a fit needs {MIN_SAMPLES}"
        )
    x = load[ok]
    low, high = float(x.min()), float(x.max())
    if high - low <= 1e-9:
        raise FitError(f"{timeline.source}: per-pod load never changes ({low:g} QPS): no curve")
    edges = np.linspace(low, high, BINS + 1)
    which = np.clip(np.digitize(x, edges) - 1, 0, BINS - 1)
    counts = np.bincount(which, minlength=BINS)
    used = counts > 0
    centers = np.bincount(which, weights=x, minlength=BINS)[used] / counts[used]
    curves: dict[str, tuple[float, ...]] = {}
    reports = []
    grid = _grid(centers, low, high)
    for name in CURVES:
        column = values[name]
        if column is None or not np.isfinite(column[ok]).any():
            curves[name] = tuple(0.0 for _ in grid)
            reports.append(CurveFit(name, 0.0, 0.0, measured=False))
            continue
        y = column[ok]
        finite = np.isfinite(y)
        sums = np.bincount(which[finite], weights=y[finite], minlength=BINS)
        n = np.bincount(which[finite], minlength=BINS)
        have = used & (n > 0)
        means = sums[have] / n[have]
        result = isotonic_regression(means, weights=n[have], increasing=True)
        at_bins = np.asarray(result.x)
        xs = np.bincount(which, weights=x, minlength=BINS)[have] / counts[have]
        fitted_samples = np.interp(x[finite], xs, at_bins)
        rmse = float(np.sqrt(np.mean((fitted_samples - y[finite]) ** 2)))
        mean = float(np.mean(np.abs(y[finite])))
        reports.append(CurveFit(name, rmse, rmse / mean if mean else 0.0, measured=True))
        curves[name] = tuple(float(v) for v in np.interp(grid, xs, at_bins))
    fitted = curves["p99Seconds"]
    turn = next((q for q, p in zip(grid, fitted, strict=True) if p >= TURN_UP * fitted[0]), None)
    capacity = PointsCapacity(
        ready_delay_s=ready_delay_s,
        cpu_request_cores=cpu_request_cores,
        memory_request_bytes=memory_request_bytes,
        max_qps=turn,
        qps=tuple(grid),
        curves=curves,
        metric_names=dict(metric_names or SEED_METRIC_NAMES),
        source=timeline.source,
    )
    return Fit(capacity, (low, high), int(ok.sum()), tuple(reports), turn is not None)


def _grid(centers: np.ndarray, low: float, high: float) -> list[float]:
    """At most MAX_POINTS loads from the lowest seen to the highest, strictly increasing."""
    if len(centers) > MAX_POINTS - 2:
        centers = centers[np.round(np.linspace(0, len(centers) - 1, MAX_POINTS - 2)).astype(int)]
    out: list[float] = []
    for q in (low, *centers, high):
        value = round(float(q), 3)
        if not out or value > out[-1]:
            out.append(value)
    if math.isclose(out[0], out[-1]):
        raise FitError("per-pod load covers too narrow a range for a curve")
    return out
