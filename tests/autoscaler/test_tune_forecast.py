"""`surge tune --forecast`'s parts: the rule it writes reads back as used, the forecast
computed once for every candidate is the one a fresh run computes, a trace holds no history
before its first sample, and bad input is one line and exit 2. The full comparison with the
reactive tune, and the round trip through `surge simulate --config`, run in
tests/bench/test_forecast_tune.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from adapter.forecast.rules import HPA_SYNC_S
from autoscaler.simulation.forecast import ForecastingSource
from autoscaler.simulation.scenario import calibrate
from autoscaler.simulation.simulate import ScenarioSource, Settings, hpa_document, load_hpa
from autoscaler.simulation.traffic import TraceTraffic
from autoscaler.tune import forecast, search
from bench.forecast_traces import MONDAY, steep_ramps, write_csv
from bench.forecast_tune import HPA
from surge.cli import main as cli

DOCUMENT = hpa_document(HPA, "test")
HOUR = 3600.0


def _traffic(days: int = 3, day_s: float = 3 * HOUR) -> TraceTraffic:
    trace = steep_ramps(days, day_s, 15.0)
    times = trace.start + trace.step * np.arange(len(trace.qps))
    return TraceTraffic(tuple(times.tolist()), tuple(trace.qps.tolist()), "ramps")


def test_the_rule_written_reads_back_as_the_one_used() -> None:
    plan = forecast.plan(DOCUMENT, calibrate(), 180.0, 5.0, "3h", None)
    rule = plan.rule
    assert rule.name == "ai_service_qps_forecast"
    assert (rule.namespace, rule.described and rule.described.name) == ("ai-platform", "ai-service")
    assert rule.lead_s == 180.0 + 2 * HPA_SYNC_S and rule.period_s == 3 * HOUR
    again = forecast.parse_rule(yaml.safe_dump(yaml.safe_load(plan.text)))
    assert replace(again, line=rule.line) == rule
    assert "The query is a guess" in plan.text
    odd = forecast.plan(DOCUMENT, calibrate(), 40.5, 5.0, "auto", 'sum(rate(x{a="b"}[2m]))')
    assert odd.rule.lead_s == 70.5 and odd.rule.query == 'sum(rate(x{a="b"}[2m]))'
    assert odd.rule.period_s is None and "guess" not in odd.text
    # The first target: what one pod serves within 5 s in steady state.
    capacity = calibrate()
    assert capacity.pod_load(plan.first_target).p99_seconds <= 5.0
    assert capacity.pod_load(plan.first_target * 1.01).p99_seconds > 5.0


def test_the_forecast_computed_once_is_what_a_fresh_run_computes() -> None:
    traffic = _traffic()
    rule = forecast.plan(DOCUMENT, calibrate(), 180.0, 5.0, "3h", None).rule
    start = traffic.start + 3 * HOUR
    signals = forecast.Signals(rule, traffic.qps, start, traffic.start)
    later = start + 4 * HOUR  # asked out of order: computed up to there in sync order
    shared = signals.at(later)
    fresh = ForecastingSource(
        ScenarioSource(traffic, calibrate(), "ramps"), (rule,), traffic.qps, traffic.start
    )
    values = [fresh.read(start + 15 * i, 2).signals[rule.name] for i in range(4 * 240 + 1)]
    assert values[-1] == shared
    assert values == [signals.at(start + 15 * i) for i in range(len(values))]
    assert max(values) > 900 > min(values)  # a ramp forecast, not a constant
    with pytest.raises(ValueError, match="not a sync"):
        signals.at(start + 7)


def test_a_trace_holds_no_history_before_its_first_sample() -> None:
    """On the first day the forecast is the load now: the trace's first value, repeated
    into the past, would be a flat day that hides the ramp."""
    traffic = _traffic(days=2)
    rule = forecast.plan(DOCUMENT, calibrate(), 180.0, 5.0, "3h", None).rule
    source = ForecastingSource(
        ScenarioSource(traffic, calibrate(), "ramps"), (rule,), traffic.qps, traffic.start
    )
    for i in range(0, 720, 4):  # the first three hours
        now = traffic.start + 15 * i
        assert source.read(now, 2).signals[rule.name] == pytest.approx(traffic.qps(now))


def test_the_search_takes_the_forecast_metric_as_served() -> None:
    capacity = calibrate()
    traffic = _traffic()
    plan = forecast.plan(DOCUMENT, capacity, 180.0, 5.0, "3h", None)
    reactive = search.Problem(
        DOCUMENT,
        "test",
        lambda: ScenarioSource(traffic, capacity, "ramps"),
        Settings(180.0),
        capacity,
        5.0,
        0.99,
    )
    signals = forecast.Signals(plan.rule, traffic.qps, traffic.start, traffic.start)
    problem = forecast.problem(reactive, plan, signals, reactive.new_source)
    search.check_capacity(problem)  # the forecast metric is not the capacity model's
    metrics = problem.document["spec"]["metrics"]
    assert len(metrics) == 2 and metrics[1]["object"]["metric"]["name"] == plan.rule.name
    assert metrics[1]["object"]["target"]["type"] == "AverageValue"
    load_hpa(yaml.safe_dump(problem.document), "test")  # a valid HPA


@pytest.fixture(scope="module")
def short_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "ramps.csv"
    write_csv(steep_ramps(2, 86400.0, 300.0), path)
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--forecast"],
            "--forecast: the traffic tuned on (before any held-out days) covers 1.50 days",
        ),
        (["--forecast-lead", "5m"], "--forecast-lead needs --forecast"),
        (["--forecast-query", "up"], "--forecast-query needs --forecast"),
        (["--forecast", "--forecast-lead", "0s"], "--forecast-lead must be positive"),
        (
            ["--forecast", "--forecast-seasonality", "fortnightly"],
            "--forecast-seasonality: 'fortnightly': expected auto, daily, weekly",
        ),
        (["--forecast", "--forecast-seasonality", "7m"], "--forecast-seasonality: the period"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    extra: list[str],
    message: str,
    short_trace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(HPA)
    argv = ["tune", "--traffic", str(short_trace), "--hpa", str(hpa), "--holdout-days", "0.5"]
    code = cli([*argv, "--out", str(tmp_path), *extra])
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, ""), captured.err
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err
    assert not (tmp_path / "surge.yaml").exists()


def test_history_before_start_counts_for_the_length(tmp_path: Path) -> None:
    """The days before --start are the rule's history: they make a short week long enough."""
    rule = forecast.plan(DOCUMENT, calibrate(), 180.0, 5.0, "auto", None).rule
    forecast.check_length(rule, MONDAY, MONDAY + 3 * 86400)
    with pytest.raises(forecast.ForecastError, match=r"covers 2\.00 days"):
        forecast.check_length(rule, MONDAY, MONDAY + 2 * 86400)


def test_the_report_says_whether_the_forecast_was_added_with_its_target_and_lead() -> None:
    from surge.tune import _forecast_notes

    def judged(pod_hours: float, attainment: float) -> dict[str, float]:
        return {"podHours": pod_hours, "attainment": attainment}

    added = {
        "added": True,
        "metric": "ai_service_qps_forecast",
        "targetAverageValue": "98700m",
        "leadSeconds": 210.0,
        "withForecast": {"tuningDays": judged(1030, 0.995), "heldOut": judged(178.2, 0.9936)},
        "reactive": {"tuningDays": judged(1038.5, 0.992), "heldOut": judged(188.2, 0.9927)},
    }
    (line,) = _forecast_notes(added)
    assert "ai_service_qps_forecast added" in line and "ahead by 3m30s" in line
    assert "target AverageValue 98700m a pod" in line and "on the held-out days" in line
    assert "178.2 pod-hours at 99.36% with the forecast, 188.2 at 99.27%" in line
    assert "(-5.3%)" in line and "surge.yaml" in line
    (line,) = _forecast_notes({**added, "added": False})
    assert line.startswith("forecast metric ai_service_qps_forecast not added")
    assert _forecast_notes(None) == []
