"""The forecast model on synthetic histories: seasons found, ramps foreseen, never below
the load now, and too little history said in words."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adapter.forecast.model import DAY_S, MODELS, Curve, Fit, Series, detect_period, fit, served

STEP = 300.0
START = 1795996800.0  # a Monday 00:00 UTC


def daily(
    days: float,
    *,
    ramp_hour: float = 8.0,
    low: float = 100.0,
    high: float = 1000.0,
    noise: float = 0.0,
    step: float = STEP,
    seed: int = 1,
) -> Series:
    n = round(days * DAY_S / step)
    t = START + step * np.arange(n)
    hour = (t % DAY_S) / 3600
    up = np.clip((hour - ramp_hour) * 10, 0, 1)  # six minutes
    down = np.clip((hour - 20) * 10, 0, 1)
    values = low + (high - low) * (up - down)
    if noise:
        values = values * np.random.default_rng(seed).lognormal(0, noise, n)
    return Series(START, step, values)


def test_daily_season_is_detected() -> None:
    assert detect_period(daily(14, noise=0.05)) == (DAY_S, "")


def test_weekly_season_wins_when_weekends_differ() -> None:
    s = daily(14, noise=0.02)
    weekday = ((s.times() - START) // DAY_S) % 7
    values = np.where(weekday >= 5, s.values * 0.2, s.values)
    assert detect_period(Series(s.start, s.step, values))[0] == 7 * DAY_S


def test_no_season_in_noise() -> None:
    rng = np.random.default_rng(3)
    s = Series(START, STEP, rng.uniform(100, 200, round(14 * DAY_S / STEP)))
    period, reason = detect_period(s)
    assert period is None and "no daily or weekly season" in reason


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_foresees_the_morning_ramp(model: str) -> None:
    # History ends at 07:50 on day 14; the ramp comes at 08:00.
    s = daily(13 + 7.84 / 24, noise=0.03)
    result = fit(s, horizon_s=3600, model=model)
    assert result.curve is not None, result.reason
    now = s.end + 60
    assert served(result, now, 5 * 60, load_now=100.0) < 200  # not yet
    # the ramp is within the lead (Fourier rings on a step: less sharp)
    assert served(result, now, 20 * 60, load_now=100.0) > 650


def test_level_correction_follows_a_busier_day() -> None:
    s = daily(13.5, noise=0.0)
    busier = s.values.copy()
    busier[-round(DAY_S / 2 / STEP) :] *= 1.3  # today is 30% busier so far
    result = fit(Series(s.start, s.step, busier), horizon_s=3600)
    assert result.curve is not None
    assert result.curve.values[1] == pytest.approx(1.3 * 1000, rel=0.02)


def test_too_little_history_is_the_load_now_with_a_reason() -> None:
    result = fit(daily(1.2), horizon_s=600)
    assert result.curve is None
    assert "less than two days" in result.reason
    assert served(result, START, 600, load_now=123.0) == 123.0
    given = fit(daily(0.5, step=60.0), horizon_s=600, period_s=DAY_S)
    assert (
        given.curve is None
        and given.reason == "the history covers 12h of the 25h a 1d season needs"
    )


def test_a_given_period_needs_one_cycle_and_an_hour() -> None:
    s = daily(1.1, step=60.0)
    assert fit(s, horizon_s=600, period_s=DAY_S).curve is not None


def test_gaps_are_bridged_and_a_mostly_missing_history_is_refused() -> None:
    s = daily(14, noise=0.03)
    holes = s.values.copy()
    holes[100:400] = np.nan  # a day without samples
    holes[::7] = np.nan
    assert fit(Series(s.start, s.step, holes), horizon_s=3600).curve is not None
    sparse = s.values.copy()
    sparse[np.arange(len(sparse)) % 10 != 0] = np.nan
    result = fit(Series(s.start, s.step, sparse), horizon_s=3600, period_s=DAY_S)
    assert result.curve is None and "90% of the history is missing" in result.reason


def test_served_is_never_below_the_load_now() -> None:
    low = Fit(Curve(START, STEP, np.array([10.0, 10.0, 10.0])), DAY_S)
    assert served(low, START + 10, 300, load_now=500.0) == 500.0
    nan = Fit(Curve(START, STEP, np.array([])), DAY_S)
    assert served(nan, START, 300, load_now=7.0) == 7.0


def test_curve_peak_interpolates_the_ends() -> None:
    c = Curve(0.0, 10.0, np.array([0.0, 100.0, 0.0]))
    assert c.peak(0.0, 5.0) == pytest.approx(50.0)
    assert c.peak(2.0, 18.0) == 100.0
    assert c.peak(15.0, 20.0) == pytest.approx(50.0)
    assert math.isnan(Curve(0.0, 1.0, np.array([])).peak(0, 1))


def test_a_young_series_counts_its_gaps_from_its_first_sample() -> None:
    # A 10-minute window over a 2-minute season: the series began 4 minutes ago.
    step, period = 5.0, 120.0
    values = np.full(120, np.nan)
    t = START + step * np.arange(120)
    values[72:] = np.where((t[72:] % period) >= 90, 300.0, 40.0)
    result = fit(Series(START, step, values), horizon_s=60, period_s=period)
    assert result.curve is not None, result.reason
