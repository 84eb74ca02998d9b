"""Forecasts kept current off the request path, answered from snapshots.

Per rule: the history is read once with range queries (chunked below Prometheus' 11,000
points per series), then extended at each new step; every refit interval the model is
refitted on a worker thread and its curve kept with its time. A request reads the load
now through the engine (a snapshot like every other answer: fresh, refreshed ahead,
stale within --max-staleness, then 503) and gets the curve's peak over [now, now + lead],
never below that load. Without a usable curve (too little history, no season, refits
failing past the staleness bound) the load now is served and the reason is kept
(`status()`, `surge_forecast_uses_load_now`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge

from adapter.engine import Clock
from adapter.engine_protocol import Engine
from adapter.forecast.model import Fit, Series, extend, fit, served
from adapter.forecast.rules import ForecastConfig, ForecastRule
from adapter.prometheus import PrometheusClient, RangeSeries
from apiservice.errors import APIError, InternalError, ServiceUnavailable

log = logging.getLogger(__name__)

MAX_POINTS_PER_QUERY = 10_000  # Prometheus refuses more than 11,000 per series


@dataclass(frozen=True)
class Reading:
    """What a request gets: the served value, the load now, and the time they describe."""

    value: float
    load: float
    evaluated_at: float
    forecast: bool  # False: the load now is served (see the rule's status)


@dataclass
class _State:
    history: Series | None = None
    fit: Fit | None = None
    fitted_at: float | None = None
    read_at: float | None = None  # the last round whose read worked (new points or none)
    failure: str = ""  # the last refresh's error, "" when it worked


@dataclass
class RoundStats:
    """One refresh round: what it cost Prometheus and the machine."""

    queries: int = 0
    points: int = 0
    failures: int = 0
    fit_seconds: float = 0.0
    seconds: float = 0.0


@dataclass
class ForecastSettings:
    refit_interval_s: float = 60.0
    max_staleness_s: float = 120.0  # the engine's: past it a forecast is not served
    max_concurrency: int = 4
    model: str = "profile"


class _Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.queries = Counter(
            "surge_forecast_range_queries", "Range queries read for forecast history.", registry=reg
        )
        self.errors = Counter(
            "surge_forecast_refresh_errors",
            "Forecast refreshes that failed, per rule.",
            ["metric"],
            registry=reg,
        )
        self.load_now = Gauge(
            "surge_forecast_uses_load_now",
            "1 while a forecast metric serves the load now (too little history, no season, "
            "or refits failing past the staleness bound).",
            ["metric"],
            registry=reg,
        )
        self.points = Gauge(
            "surge_forecast_history_points", "History points kept, all rules.", registry=reg
        )
        self.refit = Gauge(
            "surge_forecast_refresh_seconds", "Duration of the last refresh round.", registry=reg
        )


def _grid(t: float, step: float) -> float:
    return math.floor(t / step) * step


def _one_series(rule: ForecastRule, result: list[RangeSeries]) -> RangeSeries | None:
    if len(result) > 1:
        raise InternalError(
            f"forecast {rule.name}: the load query returns {len(result)} series; a forecast "
            "needs one (aggregate it, e.g. sum(...))"
        )
    return result[0] if result else None


class Forecaster:
    """Every forecast rule's history, fit and answer; see the module docstring."""

    def __init__(
        self,
        config: ForecastConfig,
        prometheus: PrometheusClient,
        engine: Engine,
        settings: ForecastSettings | None = None,
        *,
        clock: Clock = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.rules = config.rules
        self.prometheus = prometheus
        self.engine = engine
        self.settings = settings or ForecastSettings()
        self.clock = clock
        self.metrics = _Metrics(registry)
        self._states = {rule: _State() for rule in self.rules}
        self._backend = asyncio.Semaphore(self.settings.max_concurrency)
        self._task: asyncio.Task[None] | None = None

    # -- off the request path -----------------------------------------------------------

    async def _read(self, rule: ForecastRule, start: float, end: float) -> tuple[np.ndarray, int]:
        """The load at every step in [start, end] (NaN where Prometheus has no point)."""
        step = rule.step_s
        slots = round((end - start) / step) + 1
        values = np.full(slots, np.nan)
        queries = 0
        chunk = MAX_POINTS_PER_QUERY * step
        at = start
        while at <= end:
            last = min(end, at + chunk - step)
            async with self._backend:
                self.metrics.queries.inc()
                queries += 1
                result = await self.prometheus.query_range(rule.query, at, last, step)
            series = _one_series(rule, result)
            for t, v in series.points if series else ():
                i = round((t - start) / step)
                if 0 <= i < slots and math.isfinite(v):
                    values[i] = v
            at = last + step
        return values, queries

    async def _extend(self, rule: ForecastRule, now: float, stats: RoundStats) -> bool:
        """Read the steps since the last one; False when no new step has come."""
        state = self._states[rule]
        end = _grid(now, rule.step_s)
        oldest = _grid(now - rule.history_s, rule.step_s) + rule.step_s
        start = oldest if state.history is None else max(oldest, state.history.end + rule.step_s)
        if start > end:
            return False
        values, queries = await self._read(rule, start, end)
        stats.queries += queries
        stats.points += len(values)
        state.history = extend(state.history, start, rule.step_s, values, rule.history_s)
        return True

    def _horizon(self, rule: ForecastRule) -> float:
        s = self.settings
        return max(s.refit_interval_s, s.max_staleness_s) + rule.lead_s + 2 * rule.step_s

    def _fit_all(self, rules: list[ForecastRule]) -> list[Fit]:
        return [
            fit(
                self._states[r].history,  # type: ignore[arg-type]
                horizon_s=self._horizon(r),
                period_s=r.period_s,
                model=self.settings.model,
            )
            for r in rules
        ]

    async def refresh(self) -> RoundStats:
        """One round: extend every history, refit every rule whose history was read.
        A rule whose read fails keeps its last history and fit."""
        stats = RoundStats()
        began = time.perf_counter()
        now = self.clock()

        changed: list[ForecastRule] = []

        async def one(rule: ForecastRule) -> None:
            state = self._states[rule]
            try:
                extended = await self._extend(rule, now, stats)
            except APIError as err:
                stats.failures += 1
                state.failure = err.message
                self.metrics.errors.labels(rule.name).inc()
                log.warning("forecast %s: history not extended: %s", rule.where, err.message)
                return
            state.failure, state.read_at = "", now
            if (extended or state.fit is None) and state.history is not None:
                changed.append(rule)

        await asyncio.gather(*(one(r) for r in self.rules))
        # Refit only what has new points: the curve reaches past the next step.
        ready = [r for r in self.rules if r in set(changed)]
        fit_began = time.perf_counter()
        fits = await asyncio.to_thread(self._fit_all, ready)
        stats.fit_seconds = time.perf_counter() - fit_began
        for rule, new in zip(ready, fits, strict=True):
            state = self._states[rule]
            if new.curve is None and (state.fit is None or state.fit.reason != new.reason):
                log.info("forecast %s serves the load now: %s", rule.where, new.reason)
            state.fit, state.fitted_at = new, now
            self.metrics.load_now.labels(rule.name).set(0 if new.curve is not None else 1)
        self.metrics.points.set(
            sum(len(s.history.values) for s in self._states.values() if s.history is not None)
        )
        stats.seconds = time.perf_counter() - began
        self.metrics.refit.set(stats.seconds)
        return stats

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("forecast refresh round failed")
            await asyncio.sleep(self.settings.refit_interval_s)

    async def start(self) -> None:
        if self._task is None and self.rules:
            self._task = asyncio.create_task(self._loop(), name="forecast-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- on the request path ------------------------------------------------------------

    def _usable(self, rule: ForecastRule, now: float) -> Fit | None:
        state = self._states[rule]
        if state.fit is None or state.read_at is None:
            return None
        if now - state.read_at > self.settings.max_staleness_s:
            return None
        return state.fit

    async def read(self, rule: ForecastRule) -> Reading:
        """The served value; raises 503 when the load now is unknown (Prometheus down past
        the staleness bound, or the series gone): no value is better than a wrong one."""
        answer = await self.engine.query(rule.query, rule.name)
        result = answer.result
        if result.result_type not in ("vector", "scalar"):
            raise InternalError(
                f"forecast {rule.name}: the load query returns a {result.result_type}"
            )
        if len(result.samples) > 1:
            raise InternalError(
                f"forecast {rule.name}: the load query returns {len(result.samples)} series; "
                "a forecast needs one (aggregate it, e.g. sum(...))"
            )
        load = result.samples[0].value if result.samples else math.nan
        if not math.isfinite(load):
            raise ServiceUnavailable(
                f"forecast {rule.name}: the load series has no sample now; "
                "no forecast is served without it"
            )
        now = self.clock()
        usable = self._usable(rule, now)
        if usable is None:
            return Reading(load, load, answer.evaluated_at, False)
        value = served(usable, now, rule.lead_s, load)
        return Reading(value, load, answer.evaluated_at, usable.curve is not None)

    def status(self, rule: ForecastRule) -> dict[str, object]:
        """What `surge explain` can say about a forecast: fitted or why the load now."""
        state = self._states[rule]
        now = self.clock()
        usable = self._usable(rule, now)
        if state.fit is None:
            reason = state.failure or "no history read yet"
        elif usable is None:
            reason = (
                f"the history was last read {now - (state.read_at or now):.0f}s ago "
                f"(max staleness {self.settings.max_staleness_s:g}s): {state.failure}"
            )
        else:
            reason = usable.reason
        history = state.history
        return {
            "metric": rule.name,
            "forecast": usable is not None and usable.curve is not None,
            "reason": reason,
            "periodSeconds": usable.period_s if usable else None,
            "historySeconds": history.covered_s() if history else 0.0,
            "fittedAt": state.fitted_at,
            "leadSeconds": rule.lead_s,
            "lastError": state.failure,
        }
