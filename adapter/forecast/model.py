"""Forecasts of a replica-independent load from its own history: pure functions, no I/O.

The server (adapter/forecast/service.py), the benchmark (`python -m bench forecast`) and
simulations call the same code, so what is measured is what is served.

History is a regular grid (`Series`, NaN where Prometheus had no sample) aligned to the
epoch, so the phase of a sample in a day or a week is its index modulo the period's bins.
Three models share one signature (history, period, future times -> values):

- `profile`: the seasonal profile (the median of each phase over past cycles), scaled by a
  level correction (the last hour's load against the profile's): the baseline;
- `fourier`: a least-squares fit of the period's harmonics, with the same level correction;
- `holt-winters`: additive Holt-Winters (level and season, no trend), run over the history.

`python -m bench forecast` measures them (bench/README.md); `profile` is served.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

DAY_S = 86400.0
WEEK_S = 7 * DAY_S
# A detected season must repeat at least this well (correlation of the load with itself
# one period earlier); weekly wins over daily only when it repeats clearly better.
MIN_SEASON_CORRELATION = 0.5
WEEKLY_MARGIN = 0.05
# The level correction's ratio is kept within these bounds: a day twice as busy as the
# profile is believed, a tenfold one is more likely a broken series.
LEVEL_BOUNDS = (0.25, 4.0)


@dataclass(frozen=True)
class Series:
    """Samples on a regular grid: values[i] is the load at start + i * step (NaN: none)."""

    start: float
    step: float
    values: Array

    @property
    def end(self) -> float:
        """The time of the last slot (start - step when empty)."""
        return self.start + (len(self.values) - 1) * self.step

    def times(self) -> Array:
        return self.start + self.step * np.arange(len(self.values), dtype=np.float64)

    def covered_s(self) -> float:
        """Seconds from the first to the last sample actually present."""
        present = np.flatnonzero(~np.isnan(self.values))
        if len(present) < 2:
            return 0.0
        return float(present[-1] - present[0]) * self.step


@dataclass(frozen=True)
class Curve:
    """A forecast on a grid, linear in between: what a snapshot keeps between refits."""

    start: float
    step: float
    values: Array

    def peak(self, start: float, end: float) -> float:
        """The curve's highest point over [start, end] (the ends interpolated; clamped
        to the curve's own span)."""
        if len(self.values) == 0:
            return math.nan
        times = self.start + self.step * np.arange(len(self.values))
        inside = self.values[(times > start) & (times < end)]
        ends = np.interp([start, end], times, self.values)
        return float(max(ends.max(), inside.max() if len(inside) else -math.inf))


@dataclass(frozen=True)
class Fit:
    """A rule's forecast: the curve, or why there is none (then the load now is served)."""

    curve: Curve | None
    period_s: float | None
    reason: str = ""


Model = Callable[[Series, float, Array], Array]


def _bins(period_s: float, step: float) -> int:
    return max(1, round(period_s / step))


def _by_cycle(series: Series, bins: int) -> tuple[Array, Array]:
    """The history as a (cycles, bins) matrix of absolute phases, and each sample's phase."""
    first = round(series.start / series.step)
    index = first + np.arange(len(series.values))
    phase = index % bins
    cycle = index // bins
    matrix = np.full((int(cycle[-1] - cycle[0]) + 1, bins), np.nan)
    matrix[cycle - cycle[0], phase] = series.values
    return matrix, phase


def _phases(times: Array, step: float, bins: int) -> Array:
    return np.round(times / step).astype(np.int64) % bins


def _fill_circular(profile: Array) -> Array:
    """Phases never seen take the value interpolated from their neighbours (a gap
    in every cycle at the same hour); all-NaN stays NaN."""
    known = np.flatnonzero(~np.isnan(profile))
    if len(known) == 0 or len(known) == len(profile):
        return profile
    n = len(profile)
    x = np.concatenate([known - n, known, known + n])
    y = np.tile(profile[known], 3)
    return np.interp(np.arange(n), x, y)


def _level_window_s(step: float, period_s: float) -> float:
    """The recent stretch the level correction compares: an hour of a day or a week (a
    twenty-fourth of a shorter period), and at least three steps."""
    return max(3 * step, min(3600.0, period_s / 24))


def _level(series: Series, fitted: Array, period_s: float) -> float:
    """Recent load against what the model says for the same slots."""
    window = round(_level_window_s(series.step, period_s) / series.step)
    actual, model = series.values[-window:], fitted[-window:]
    keep = ~np.isnan(actual) & ~np.isnan(model)
    expected = float(model[keep].sum())
    if keep.sum() == 0 or expected <= 0:
        return 1.0
    return float(np.clip(actual[keep].sum() / expected, *LEVEL_BOUNDS))


def profile_model(series: Series, period_s: float, times: Array) -> Array:
    """Median of each phase over past cycles, times the level correction."""
    bins = _bins(period_s, series.step)
    matrix, phase = _by_cycle(series, bins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # phases with no sample at all
        profile = _fill_circular(np.nanmedian(matrix, axis=0))
    level = _level(series, profile[phase], period_s)
    return profile[_phases(times, series.step, bins)] * level


def _harmonics(times: Array, period_s: float, count: int) -> Array:
    angle = 2 * np.pi * np.outer(times / period_s, np.arange(1, count + 1))
    return np.hstack([np.ones((len(times), 1)), np.cos(angle), np.sin(angle)])


FOURIER_HARMONICS = 48  # a six-minute ramp in a day needs the fine ones


def fourier_model(series: Series, period_s: float, times: Array) -> Array:
    """Least squares on the period's harmonics (and the day's, for a weekly period),
    with the level correction."""
    count = min(FOURIER_HARMONICS, _bins(period_s, series.step) // 2 - 1)

    def design(t: Array) -> Array:
        parts = [_harmonics(t, period_s, max(count, 1))]
        if period_s > DAY_S and period_s % DAY_S == 0:
            parts.append(_harmonics(t, DAY_S, FOURIER_HARMONICS)[:, 1:])
        return np.hstack(parts)

    t = series.times()
    keep = ~np.isnan(series.values)
    coef, *_ = np.linalg.lstsq(design(t[keep]), series.values[keep], rcond=None)
    fitted = design(t) @ coef
    return np.maximum(design(times) @ coef * _level(series, fitted, period_s), 0.0)


HW_ALPHA, HW_GAMMA = 0.3, 0.3  # chosen on the benchmark's traces (bench/forecast.py)


def holt_winters_model(series: Series, period_s: float, times: Array) -> Array:
    """Additive Holt-Winters (level and season), started from the first cycle's profile and
    run over the history; a missing sample keeps the state."""
    bins = _bins(period_s, series.step)
    first = round(series.start / series.step)
    values = series.values
    season = np.zeros(bins)
    head = values[: min(bins, len(values))]
    level = float(np.nanmean(head)) if np.any(~np.isnan(head)) else 0.0
    seen = np.zeros(bins, dtype=bool)
    for i, y in enumerate(values.tolist()):
        p = (first + i) % bins
        if math.isnan(y):
            continue
        if not seen[p]:
            season[p], seen[p] = y - level, True
            continue
        previous = level
        level = HW_ALPHA * (y - season[p]) + (1 - HW_ALPHA) * level
        season[p] = HW_GAMMA * (y - previous) + (1 - HW_GAMMA) * season[p]
    return np.maximum(level + season[_phases(times, series.step, bins)], 0.0)


MODELS: dict[str, Model] = {
    "profile": profile_model,
    "fourier": fourier_model,
    "holt-winters": holt_winters_model,
}


def _lag_correlation(values: Array, lag: int) -> float:
    a, b = values[lag:], values[:-lag]
    keep = ~np.isnan(a) & ~np.isnan(b)
    if keep.sum() < max(10, lag // 4):
        return math.nan
    a, b = a[keep], b[keep]
    if a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def detect_period(series: Series) -> tuple[float | None, str]:
    """Weekly or daily, from the load's correlation with itself one period earlier; None
    and the reason when neither repeats (or the history is shorter than two cycles)."""
    found: dict[float, float] = {}
    for period in (DAY_S, WEEK_S):
        lag = _bins(period, series.step)
        if series.covered_s() >= 2 * period - series.step and len(series.values) > lag:
            found[period] = _lag_correlation(series.values, lag)
    daily, weekly = found.get(DAY_S, math.nan), found.get(WEEK_S, math.nan)
    if weekly >= MIN_SEASON_CORRELATION and not daily > weekly - WEEKLY_MARGIN:
        return WEEK_S, ""
    if daily >= MIN_SEASON_CORRELATION:
        return DAY_S, ""
    if not found:
        return None, "the history covers less than two days: no daily season can be detected"
    return None, (
        f"no daily or weekly season (correlation one day apart {daily:.2f}, "
        f"below {MIN_SEASON_CORRELATION})"
    )


def fit(
    series: Series,
    *,
    horizon_s: float,
    period_s: float | None = None,
    model: str = "profile",
) -> Fit:
    """The forecast from the end of `series` over the next `horizon_s`, or why not.

    A given period needs one cycle plus the level correction's window (an hour of a
    day, a twenty-fourth of a short period); a
    detected one needs two cycles. Less, or a history mostly missing since its first
    sample, is no forecast.
    """
    if len(series.values) == 0 or np.all(np.isnan(series.values)):
        return Fit(None, period_s, "no history yet")
    period = period_s
    if period is None:
        period, reason = detect_period(series)
        if period is None:
            return Fit(None, None, reason)
    needed = period + _level_window_s(series.step, period)
    if series.covered_s() < needed - series.step:
        return Fit(
            None,
            period,
            f"the history covers {_human(series.covered_s())} of the "
            f"{_human(needed)} a {_human(period)} season needs",
        )
    seen = ~np.isnan(series.values)
    present = float(np.mean(seen[np.argmax(seen) :]))  # since the series' first sample
    if present < 0.5:
        return Fit(None, period, f"{100 * (1 - present):.0f}% of the history is missing")
    start = series.end + series.step
    steps = max(2, math.ceil(horizon_s / series.step) + 1)
    times = start + series.step * np.arange(steps, dtype=np.float64)
    # The curve starts at the last known slot, so that "now" (between slots) is inside.
    values = MODELS[model](series, period, np.concatenate([[series.end], times]))
    return Fit(Curve(series.end, series.step, np.maximum(values, 0.0)), period)


def served(fit_: Fit, now: float, lead_s: float, load_now: float) -> float:
    """The value an HPA reads: the forecast's peak over [now, now + lead], never below
    the load now; the load now when there is no forecast."""
    if fit_.curve is None:
        return load_now
    peak = fit_.curve.peak(now, now + lead_s)
    return load_now if math.isnan(peak) else max(peak, load_now)


def extend(
    history: Series | None, start: float, step: float, values: Array, keep_s: float
) -> Series:
    """`history` followed by `values` (the slots from `start`), trimmed to `keep_s`."""
    if history is None or history.step != step:
        merged = Series(start, step, values)
    else:
        gap = round((start - history.end) / step) - 1
        filler = np.full(max(gap, 0), np.nan)
        merged = Series(history.start, step, np.concatenate([history.values, filler, values]))
    drop = max(0, len(merged.values) - round(keep_s / step))
    if drop:
        merged = Series(merged.start + drop * step, step, merged.values[drop:])
    return merged


def _human(seconds: float) -> str:
    for unit, size in (("d", DAY_S), ("h", 3600.0), ("m", 60.0)):
        if (seconds >= size and seconds % size == 0) or seconds >= 10 * size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.0f}s"
