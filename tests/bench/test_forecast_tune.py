"""`python -m bench forecast --part tune` small (three-hour days, a 15 s trace): `surge
tune --forecast` holds the objective on the held-out day with fewer pod-hours than the
reactive `surge tune` on the same week, and `surge simulate --config DIR/surge.yaml`
replays its result exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.forecast_tune import Size, compare

SMALL = Size(history=2, week=7, day_s=3 * 3600.0, step=15.0, seasonality="3h")


@pytest.mark.timeout(1800)
def test_the_forecast_tune_beats_the_reactive_tune_on_the_held_out_day(tmp_path: Path) -> None:
    c = compare(tmp_path, SMALL)
    held = c.held_out("forecast")
    assert held["attainment"] >= 0.99, held
    assert held["podHours"] < c.held_out("reactive")["podHours"], (held, c.held_out("reactive"))
    added = c.forecast["forecast"]
    assert added["added"] and added["leadSeconds"] == 210
    change = c.forecast["changes"][-1]
    assert change["before"] is None and change["forecast"]["leadSeconds"] == 210
    assert change["after"]["object"]["metric"]["name"] == added["metric"]
    written = yaml.safe_load((tmp_path / "forecast" / "surge.yaml").read_text())
    assert written == added["rules"] and written["forecastRules"][0]["seasonality"] == "3h"
    hpa = yaml.safe_load((tmp_path / "forecast" / "hpa.yaml").read_text())
    assert hpa == c.forecast["hpa"]
    # The reactive tune writes no rules; its report says no forecast was asked for.
    assert c.reactive["forecast"] is None and not (tmp_path / "reactive" / "surge.yaml").exists()
    # The round trip: the whole run's figures are the tuning days' and the held-out day's.
    tuned, held_out = c.forecast["after"], c.forecast["holdout"]["after"]
    for key in ("podHours", "secondsAboveLatencyTarget", "secondsWithLatency", "rescales"):
        assert c.replayed[key] == pytest.approx(tuned[key] + held_out[key], rel=1e-12), key
