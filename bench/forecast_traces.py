"""Traffic with known seasons, for choosing and checking the forecast model.

Each trace is the whole Deployment's QPS, one value a minute, over 15 days that start on a
Monday at 00:00 UTC: 14 days of history and a held-out 15th. Noise is seeded, so every
run measures the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from adapter.forecast.model import Array
from autoscaler.simulation.scenario import Traffic

DAY_S = 86400
# 2026-11-30 00:00 UTC, a Monday: weekly traces put their weekend on days 5 and 6.
MONDAY = 1796083200
DAYS = 15


@dataclass(frozen=True)
class Trace:
    name: str
    description: str
    start: float
    step: float
    qps: Array


def _noisy(name: str, base: Callable[[Array, Array], Array], description: str) -> Trace:
    rng = np.random.default_rng(sum(map(ord, name)))
    t = MONDAY + 60.0 * np.arange(DAYS * 1440)
    day = ((t - MONDAY) // DAY_S).astype(int)
    level = rng.normal(1.0, 0.05, DAYS)[day]  # some days are busier than others
    noise = rng.lognormal(0.0, 0.05, len(t))
    return Trace(name, description, float(MONDAY), 60.0, base(t, day) * level * noise)


def _ramp(hour: Array, start: float, minutes: float, low: float, high: float) -> Array:
    return low + (high - low) * np.clip((hour - start) * 60 / minutes, 0.0, 1.0)


def seed_workday() -> Trace:
    traffic = Traffic()
    return _noisy(
        "seed-workday",
        lambda t, _d: np.array([traffic.qps(float(x)) for x in t]),
        "the seed's workday (autoscaler/simulation/scenario.py), every day, 5% noise, days +-5%",
    )


def steep_ramps() -> Trace:
    rng = np.random.default_rng(7)
    jitter = rng.uniform(-3, 3, DAYS) / 60  # the ramp starts within +-3 min of 08:00

    def qps(t: Array, day: Array) -> Array:
        hour = (t % DAY_S) / 3600
        up = _ramp(hour, 8.0 + jitter[day], 6, 150, 1100)
        down = _ramp(hour, 19.0, 60, 0, 950)
        return up - down

    return _noisy("steep-ramps", qps, "150 -> 1,100 QPS in six minutes at 08:00 (+-3 min)")


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
