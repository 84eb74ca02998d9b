"""Traffic traces: the whole Deployment's requests per second over time, from a file or
Prometheus, linear between samples; `surge simulate --traffic` and `surge tune` replay them
through a capacity model."""

from __future__ import annotations

import bisect
import csv
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoscaler.simulation import records
from autoscaler.simulation.timeline import TimelineError, parse_time, read_prometheus

# Longer than this between two samples is a hole in the record, not a step.
MAX_GAP_S = 3600.0
QPS = "qps"


class TrafficError(ValueError):
    """A trace that cannot be replayed; one line naming the problem (exit 2)."""


@dataclass(frozen=True)
class TraceTraffic:
    """QPS at a unix time: linear between samples, held flat before the first and after
    the last (a run covers the last sample's step: records.covered_until)."""

    times: tuple[float, ...]
    values: tuple[float, ...]
    source: str = ""

    @property
    def start(self) -> float:
        return self.times[0]

    @property
    def end(self) -> float:
        """The last sample's time (records.covered_until: how long it holds)."""
        return self.times[-1]

    def qps(self, t: float) -> float:
        times, values = self.times, self.values
        i = bisect.bisect_right(times, t)
        if i == 0:
            return values[0]
        if i == len(times):
            return values[-1]
        t0, t1 = times[i - 1], times[i]
        return values[i - 1] + (values[i] - values[i - 1]) * (t - t0) / (t1 - t0)


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def build(samples: Sequence[tuple[float, float, str]], source: str) -> TraceTraffic:
    """A trace from (time, qps, where) in file order: sorted, gaps of at most an hour."""
    if not samples:
        raise TrafficError(f"{source}: empty trace (no samples)")
    for (t0, _, _), (t1, _, where) in itertools.pairwise(samples):
        if t1 <= t0:
            raise TrafficError(
                f"{where}: time {_when(t1)} is not after the previous sample's {_when(t0)} "
                "(a trace is sorted by time)"
            )
        if t1 - t0 > MAX_GAP_S:
            raise TrafficError(
                f"{where}: a gap of {(t1 - t0) / 3600:.1f} h from {_when(t0)} to {_when(t1)} "
                f"(at most {MAX_GAP_S / 3600:g} h between samples)"
            )
    if len(samples) < 2:
        raise TrafficError(f"{source}: one sample is not a trace (two at least)")
    return TraceTraffic(tuple(s[0] for s in samples), tuple(s[1] for s in samples), source)


def _sample(time: Any, qps: Any, where: str) -> tuple[float, float, str]:
    try:
        t = parse_time(time)
    except (TypeError, ValueError) as err:
        raise TrafficError(f"{where}: time: {err}") from None
    if isinstance(qps, bool) or qps is None or (isinstance(qps, str) and not qps.strip()):
        raise TrafficError(f"{where}: qps: no value")
    try:
        value = float(qps)
    except (TypeError, ValueError):
        raise TrafficError(f"{where}: qps: not a number: {qps!r}") from None
    if not math.isfinite(value) or value < 0:
        raise TrafficError(f"{where}: qps: must be a number of at least 0, got {qps!r}")
    return t, value, where


def read_csv(path: Path) -> TraceTraffic:
    """A header `time,qps` (other columns ignored), then one row per sample."""
    header, rows = records.read_csv(path, TrafficError)
    if "time" not in header or QPS not in header:
        raise TrafficError(f"{path}: line 1: the header needs `time` and `qps` columns")
    samples = [_sample(record.get("time"), record.get(QPS), where) for where, record in rows]
    return build(samples, str(path))


def read_json(path: Path) -> TraceTraffic:
    """A list of `{"time": ..., "qps": ...}`."""
    document = records.read_json(path, TrafficError)
    if not isinstance(document, list):
        raise TrafficError(f'{path}: expected a list of {{"time": ..., "qps": ...}}')
    samples = []
    for i, record in enumerate(document):
        where = f"{path}: row {i}"
        if not isinstance(record, dict) or "time" not in record or QPS not in record:
            raise TrafficError(f'{where}: expected {{"time": ..., "qps": ...}}')
        samples.append(_sample(record["time"], record[QPS], where))
    return build(samples, str(path))


def read_file(path: str | Path) -> TraceTraffic:
    """CSV or JSON, by extension or, without one, by the first character."""
    p = Path(path)
    return read_json(p) if records.is_json(p, TrafficError) else read_csv(p)


def from_prometheus(
    url: str,
    promql: str,
    start: float,
    end: float,
    step_s: float,
    advance: Callable[[], None] = lambda: None,
) -> TraceTraffic:
    """The range reader of autoscaler.simulation.timeline, one `qps=PROMQL` query."""
    try:
        timeline = read_prometheus(url, {QPS: promql}, start, end, step_s, advance)
    except TimelineError as err:
        raise TrafficError(str(err)) from None
    series = timeline.columns[QPS]
    where = f"Prometheus {url}"
    return build([(t, v, where) for t, v in zip(series.times, series.values, strict=True)], where)


def write_csv(trace: TraceTraffic, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["time", QPS])
        for t, q in zip(trace.times, trace.values, strict=True):
            out.writerow([f"{t:.0f}", f"{q:.3f}"])
