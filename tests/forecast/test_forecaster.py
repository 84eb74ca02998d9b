"""The Forecaster against a real Prometheus, on an injected clock: the engine's "now" walks
through a morning ramp, Prometheus goes down mid-refit, series have gaps, resets, or go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from adapter.engine import EngineSettings, OptimizedEngine
from adapter.forecast.rules import parse_forecast_config
from adapter.forecast.service import Forecaster, ForecastSettings
from adapter.prometheus import PrometheusClient, PrometheusSettings
from apiservice.errors import ServiceUnavailable
from tests.forecast.conftest import HIGH, LABELS, LOW, DailyData
from tests.support.clock import Clock

pytestmark = pytest.mark.timeout(600)

RULES = f"""\
forecastRules:
- name: steady_forecast
  query: sum(rate(steady_requests_total{{{LABELS}}}[2m]))
  lead: 5m
  step: 1m
- name: gappy_forecast
  query: sum(rate(gappy_requests_total{{{LABELS}}}[2m]))
  lead: 5m
  step: 1m
- name: vanishing_forecast
  query: sum(rate(vanishing_requests_total{{{LABELS}}}[2m]))
  lead: 5m
  step: 1m
"""


@dataclass
class Rig:
    clock: Clock
    engine: OptimizedEngine
    forecaster: Forecaster

    def rule(self, name: str):  # type: ignore[no-untyped-def]
        return next(r for r in self.forecaster.rules if r.name == name)

    async def at(self, t: float, name: str = "steady_forecast") -> tuple[float, float, bool]:
        self.clock.now = t
        await self.engine.refresh_due()  # what the server's refresh-ahead loop does
        await self.forecaster.refresh()
        reading = await self.forecaster.read(self.rule(name))
        return reading.value, reading.load, reading.forecast


@pytest.fixture
async def rig(daily_prometheus: DailyData) -> AsyncIterator[Rig]:
    clock = Clock(daily_prometheus.ramp - 30 * 60)
    prometheus = PrometheusClient(PrometheusSettings(daily_prometheus.url, timeout_s=5))
    engine = OptimizedEngine(prometheus, EngineSettings(max_staleness_s=120), clock=clock)
    forecaster = Forecaster(
        parse_forecast_config(RULES),
        prometheus,
        engine,
        ForecastSettings(refit_interval_s=60, max_staleness_s=120),
        clock=clock,
    )
    yield Rig(clock, engine, forecaster)
    await prometheus.close()


async def test_the_forecast_rises_ahead_of_the_ramp(rig: Rig, daily_prometheus: DailyData) -> None:
    ramp = daily_prometheus.ramp - 86400  # yesterday's ramp: 13 days of history before it
    seen: dict[int, tuple[float, float, bool]] = {}
    for minutes in range(-20, 4):
        seen[minutes] = await rig.at(ramp + 60 * minutes)
    # Quiet until the ramp comes within the lead (5 minutes)...
    for minutes in range(-20, -7):
        value, load, forecast = seen[minutes]
        assert forecast and value < 1.3 * LOW and load < 1.1 * LOW, (minutes, seen[minutes])
    # ... then up before the load moves: the HPA sees the ramp coming.
    value, load, forecast = seen[-1]
    assert forecast and load < 1.1 * LOW and value > 0.5 * HIGH, seen[-1]
    assert seen[-3][0] > 2 * LOW
    # Never below the load now, on the ramp too.
    assert all(v >= load for v, load, _ in seen.values())
    status = rig.forecaster.status(rig.rule("steady_forecast"))
    assert status["forecast"] is True and status["periodSeconds"] == 86400


async def test_prometheus_down_keeps_the_last_forecast_within_staleness(
    rig: Rig, daily_prometheus: DailyData
) -> None:
    ramp = daily_prometheus.ramp - 86400
    before, _, forecast = await rig.at(ramp - 120)
    assert forecast and before > 0.3 * HIGH
    await asyncio.to_thread(daily_prometheus.prometheus.stop)
    try:
        # Refits fail; the HPA keeps asking every 15 s and gets the last forecast...
        for seconds in range(-105, 0, 15):
            during, _, forecast = await rig.at(ramp + seconds)
            assert forecast and during >= 0.9 * before
        status = rig.forecaster.status(rig.rule("steady_forecast"))
        assert "unreachable" in str(status["lastError"])
        # ... until --max-staleness (2m) has passed: then 503, and the HPA holds.
        with pytest.raises(ServiceUnavailable, match="max staleness 120s"):
            await rig.at(ramp + 15)
    finally:
        await asyncio.to_thread(daily_prometheus.prometheus.start)
    after, load, forecast = await rig.at(ramp + 180)
    assert forecast and after >= load and after > 0.8 * HIGH  # back, mid-ramp


async def test_gaps_and_a_counter_reset_still_forecast(
    rig: Rig, daily_prometheus: DailyData
) -> None:
    ramp = daily_prometheus.ramp - 86400
    value, load, forecast = await rig.at(ramp - 60, "gappy_forecast")
    assert forecast and load < 1.1 * LOW
    assert 0.5 * HIGH < value < 1.2 * HIGH  # the reset made no spike


async def test_a_vanished_series_is_a_clear_503_not_a_value(
    rig: Rig, daily_prometheus: DailyData
) -> None:
    with pytest.raises(ServiceUnavailable, match="the load series has no sample now"):
        await rig.at(daily_prometheus.now, "vanishing_forecast")
    # its history stays, and the other rules are not disturbed
    value, load, forecast = await rig.at(daily_prometheus.now)
    assert forecast and value >= load


async def test_one_refresh_reads_the_history_once_then_extends_it(
    rig: Rig, daily_prometheus: DailyData
) -> None:
    first = await rig.forecaster.refresh()
    assert first.queries == 3 * 3  # 14 days at 1m: three range queries of <= 10,000 points
    rig.clock.now += 30
    assert (await rig.forecaster.refresh()).queries == 0  # no new step yet
    rig.clock.now += 60
    again = await rig.forecaster.refresh()
    assert again.queries == 3 and again.points <= 3 * 2
