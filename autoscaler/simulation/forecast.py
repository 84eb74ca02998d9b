"""Forecast metrics in a simulation, computed with the server's own model code.

A rule's load series is the simulated Deployment's total QPS. Its history is the traffic
before `now` on the rule's step grid (before the simulation's start too: Prometheus would
hold that past; a trace holds none before its first sample), refitted every refit interval
from the first sync (the server refits only a history with a new point, so a fit is kept
until then), served as the server serves it: the peak over [now, now + lead], never below
the load now. Only the past is read, so a run cut at T decides exactly as the full run up
to T.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from adapter.forecast.model import Fit, Series, extend, fit, served
from adapter.forecast.rules import ForecastRule
from autoscaler.simulation.simulate import Reading, Source

REFIT_INTERVAL_S = 60.0  # surge serve's --forecast-refit-interval default


@dataclass
class _Rule:
    history: Series | None = None
    fit: Fit | None = None
    fitted_at: float = -math.inf
    fitted_on: Series | None = None  # the history `fit` came from


@dataclass
class ForecastingSource:
    """`inner`'s readings plus one signal per forecast rule (named as the metric served)."""

    inner: Source
    rules: tuple[ForecastRule, ...]
    load: Callable[[float], float]  # the Deployment's QPS at a time (the traffic)
    since: float = -math.inf  # no history before this (a trace's first sample)
    refit_interval_s: float = REFIT_INTERVAL_S
    _states: dict[ForecastRule, _Rule] = field(init=False, default_factory=dict)

    @property
    def description(self) -> str:
        return self.inner.description

    def _history(self, rule: ForecastRule, state: _Rule, now: float) -> Series:
        step = rule.step_s
        last = math.floor(now / step) * step
        first = math.floor((now - rule.history_s) / step) * step + step
        if state.history is not None:
            first = max(first, state.history.end + step)
        if first <= last or state.history is None:
            times = np.arange(first, last + step / 2, step)
            values = np.array(
                [self.load(float(t)) if t >= self.since else math.nan for t in times],
                dtype=np.float64,
            )
            state.history = extend(state.history, first, step, values, rule.history_s)
        return state.history

    def read(self, now: float, ready: int) -> Reading:
        reading = self.inner.read(now, ready)
        load_now = reading.qps if reading.qps is not None else self.load(now)
        signals = dict(reading.signals)
        for rule in self.rules:
            state = self._states.setdefault(rule, _Rule())
            if now - state.fitted_at >= self.refit_interval_s:
                history = self._history(rule, state, now)
                if history is not state.fitted_on:
                    horizon = self.refit_interval_s + rule.lead_s + 2 * rule.step_s
                    state.fit = fit(history, horizon_s=horizon, period_s=rule.period_s)
                    state.fitted_on = history
                state.fitted_at = now
            assert state.fit is not None
            signals[rule.name] = served(state.fit, now, rule.lead_s, load_now)
        return Reading(signals, reading.qps, reading.p99_seconds, reading.load)
