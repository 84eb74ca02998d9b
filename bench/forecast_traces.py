"""Traffic with known seasons, for choosing and checking the forecast model.

Each trace is the whole Deployment's QPS, one value a minute, over 15 days that start on a
Monday at 00:00 UTC: 14 days of history and a held-out 15th. Noise is seeded, so every
run measures the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adapter.forecast.model import Array
from autoscaler.simulation.scenario import Traffic

DAY_S = 86400
# 2026-11-30 00:00 UTC, a Monday: weekly traces put their weekend on days 5 and 6.
MONDAY = 1795996800
DAYS = 15


@dataclass(frozen=True)
class Trace:
    name: str
    description: str
    start: float
    step: float
    qps: Array


def _noisy(
    name: str,
    base: Callable[[Array, Array], Array],
    description: str,
    days: int = DAYS,
    day_s: float = DAY_S,
    step: float = 60.0,
) -> Trace:
    rng = np.random.default_rng(sum(map(ord, name)))
    t = MONDAY + step * np.arange(round(days * day_s / step))
    day = ((t - MONDAY) // day_s).astype(int)
    level = rng.normal(1.0, 0.05, days)[day]  # some days are busier than others
    noise = rng.lognormal(0.0, 0.05, len(t))
    return Trace(name, description, float(MONDAY), step, base(t, day) * level * noise)


def _ramp(hour: Array, start: float, minutes: float, low: float, high: float) -> Array:
    return low + (high - low) * np.clip((hour - start) * 60 / minutes, 0.0, 1.0)


def seed_workday() -> Trace:
    traffic = Traffic()
    return _noisy(
        "seed-workday",
        lambda t, _d: np.array([traffic.qps(float(x)) for x in t]),
        "the seed's workday (autoscaler/simulation/scenario.py), every day, 5% noise, days +-5%",
    )


def steep_ramps(days: int = DAYS, day_s: float = DAY_S, step: float = 60.0) -> Trace:
    """Shorter days (tests) keep the ramp's six minutes and its +-3 minutes of jitter."""
    rng = np.random.default_rng(7)
    scale = DAY_S / day_s  # a day's hours per hour of a compressed day
    jitter = rng.uniform(-3, 3, days) / 60 * scale  # the ramp starts within +-3 min of 08:00

    def qps(t: Array, day: Array) -> Array:
        hour = ((t - MONDAY) % day_s) / 3600 * scale
        up = _ramp(hour, 8.0 + jitter[day], 6 * scale, 150, 1100)
        down = _ramp(hour, 19.0, 60, 0, 950)
        return up - down

    return _noisy(
        "steep-ramps",
        qps,
        "150 -> 1,100 QPS in six minutes at 08:00 (+-3 min)",
        days,
        day_s,
        step,
    )


def write_csv(trace: Trace, path: Path) -> None:
    """The trace as `surge simulate --traffic` reads it (time,qps)."""
    times = trace.start + trace.step * np.arange(len(trace.qps))
    rows = (f"{t:.0f},{q:.3f}" for t, q in zip(times, trace.qps, strict=True))
    path.write_text("time,qps\n" + "\n".join(rows) + "\n", encoding="utf-8")


def weekly_office() -> Trace:
    def qps(t: Array, day: Array) -> Array:
        hour = (t % DAY_S) / 3600
        office = 100 + 700 * np.clip(np.sin(np.pi * (hour - 8) / 10), 0, None) ** 0.5
        weekend = (day % 7) >= 5
        return np.where(weekend, 0.25 * office + 40, office)

    return _noisy("weekly-office", qps, "office hours on weekdays, a quarter of it at weekends")


def growing() -> Trace:
    traffic = Traffic()

    def qps(t: Array, day: Array) -> Array:
        base = np.array([traffic.qps(float(x)) for x in t])
        return base * (1.0 + 0.02 * (t - MONDAY) / DAY_S)

    return _noisy("growing", qps, "the seed's workday growing 2% a day")


TRACES: dict[str, Callable[[], Trace]] = {
    "seed-workday": seed_workday,
    "steep-ramps": steep_ramps,
    "weekly-office": weekly_office,
    "growing": growing,
}
