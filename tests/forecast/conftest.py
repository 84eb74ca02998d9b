"""A real Prometheus holding 14 days of a daily pattern whose ramp comes just after "now".

Each day the load sits at LOW QPS, climbs to HIGH in six minutes at the ramp's time of
day, holds two hours and comes back. The ramp's time of day is the fixture's start plus
RAMP_AFTER_S, so a server started now sees the ramp coming; tests with an injected clock
walk through any day's ramp. Three counters, backfilled with promtool:

- `steady_requests_total`: the pattern, whole;
- `gappy_requests_total`: the same with two six-hour gaps and a counter reset;
- `vanishing_requests_total`: the same, ending an hour before now.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from surge.demo.localprom import LocalPrometheus, backfill

DAY = 86400
LOW, HIGH = 100.0, 1000.0
RAMP_AFTER_S = 6 * 60
STEP_S = 30
LABELS = 'namespace="ai-platform",service="ai-service"'


@dataclass(frozen=True)
class DailyData:
    prometheus: LocalPrometheus
    now: float  # when the data was made: the history ends here, the future is an hour
    ramp: float  # the next ramp's start (the same time of day, every day before)

    @property
    def url(self) -> str:
        return self.prometheus.url


def qps(t: float, ramp: float) -> float:
    """The pattern: LOW, six minutes up to HIGH at the ramp's time of day, two hours, down."""
    since = (t - ramp) % DAY
    if since < 360:
        return LOW + (HIGH - LOW) * since / 360
    if since < 360 + 7200:
        return HIGH
    if since < 720 + 7200:
        return HIGH - (HIGH - LOW) * (since - 7560) / 360
    return LOW


def _counter(name: str, start: float, end: float, ramp: float, *, gaps: bool) -> list[str]:
    lines = [f"# TYPE {name} counter"]
    total = 0.0
    t = start
    while t <= end:
        day = (t - start) // DAY
        if gaps and day == 7 and (t - start) % DAY < STEP_S:
            total = 0.0  # the process restarted: the counter starts over
        skipped = gaps and day in (3, 9) and 10 * 3600 <= (t - start) % DAY < 16 * 3600
        if not skipped:
            lines.append(f"{name}_total{{{LABELS}}} {total:.1f} {t:.0f}")
        total += qps(t, ramp) * STEP_S
        t += STEP_S
    return lines


@pytest.fixture(scope="package")
def daily_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DailyData]:
    now = math.floor(time.time() / 60) * 60
    ramp = now + RAMP_AFTER_S
    start = now - 14 * DAY - 3600
    lines = _counter("steady_requests", start, now + 3600, ramp, gaps=False)
    lines += _counter("gappy_requests", start, now + 3600, ramp, gaps=True)
    lines += _counter("vanishing_requests", start, now - 3600, ramp, gaps=False)
    data_dir = tmp_path_factory.mktemp("prometheus-daily")
    backfill(data_dir, "\n".join([*lines, "# EOF"]) + "\n")
    prometheus = LocalPrometheus(data_dir)
    prometheus.start()
    try:
        yield DailyData(prometheus, now, ramp)
    finally:
        prometheus.stop()
