"""Forecast metrics in `surge simulate`: the server's model on the simulated QPS, causal,
and an HPA using one is scaled up before a recurring ramp (a reactive one after)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapter.forecast.rules import parse_forecast_config
from autoscaler.simulation.forecast import ForecastingSource
from autoscaler.simulation.scenario import calibrate
from autoscaler.simulation.simulate import Run, ScenarioSource, Settings, load_hpa, simulate
from autoscaler.simulation.traffic import TraceTraffic
from surge.cli import main as cli

DAY = 86400.0
START = 1795996800.0  # Monday 00:00 UTC
RAMP = 8 * 3600.0  # 150 -> 1,100 QPS in six minutes at 08:00 every day
RULES = parse_forecast_config(
    """\
forecastRules:
- name: qps_forecast
  query: sum(rate(http_requests_total[2m]))
  namespace: ai-platform
  object: {kind: Deployment, name: ai-service}
  lead: 4m
  step: 1m
"""
).rules


def _ramps(days: int = 15) -> TraceTraffic:
    t = START + 60.0 * np.arange(days * 1440)
    since = (t - START) % DAY - RAMP
    qps = 150 + 950 * np.clip(since / 360, 0, 1) - 950 * np.clip((since - 10 * 3600) / 360, 0, 1)
    return TraceTraffic(tuple(t.tolist()), tuple(qps.tolist()), "ramps")


def _hpa(forecast: bool) -> str:
    metric = "qps_forecast" if forecast else "http_requests_per_second"
    return f"""\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: ai-service-hpa, namespace: ai-platform}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: ai-service}}
  minReplicas: 2
  maxReplicas: 30
  metrics:
  - type: Pods
    pods:
      metric: {{name: http_requests_per_second}}
      target: {{type: AverageValue, averageValue: "90"}}
  - type: Object
    object:
      metric: {{name: {metric}}}
      describedObject: {{apiVersion: apps/v1, kind: Deployment, name: ai-service}}
      target: {{type: AverageValue, averageValue: "90"}}
"""


def _run(forecast: bool, start: float, end: float) -> Run:
    capacity = calibrate()
    traffic = _ramps()
    source = ScenarioSource(traffic, capacity, "ramps")
    hpa = load_hpa(_hpa(forecast), "test")
    return simulate(
        hpa,
        ForecastingSource(source, RULES, traffic.qps) if forecast else source,
        start,
        end,
        Settings(ready_delay_s=180),
        capacity,
    )


def _replicas_at(run: Run, t: float) -> int:
    return next(s.replicas for s in run.steps if s.time >= t)


def test_the_forecast_scales_up_before_the_ramp_the_reactive_hpa_after() -> None:
    day = START + 14 * DAY  # 14 days of history before it
    start, ramp = day + RAMP - 1800, day + RAMP
    forecast = _run(True, start, ramp + 1800)
    reactive = _run(False, start, ramp + 1800)
    assert _replicas_at(reactive, ramp) <= 3  # the reactive HPA has not moved
    assert _replicas_at(forecast, ramp) >= 8  # 1,100 QPS needs 13 pods: well on its way
    # ready pods when the load peaks (ramp + 6 min, pods take 3 min to be ready)
    peak = ramp + 360
    ready = {
        n: next(s.ready for s in r.steps if s.time >= peak)
        for n, r in (("forecast", forecast), ("reactive", reactive))
    }
    assert ready["forecast"] > ready["reactive"] + 4, ready
    results = [m for s in forecast.steps for m in s.metrics if m.spec.name == "qps_forecast"]
    assert results and all(m.error is None and m.proposal for m in results)


def test_a_run_cut_at_t_decides_as_the_full_run_up_to_t() -> None:
    day = START + 14 * DAY
    start = day + RAMP - 3600
    full = _run(True, start, start + 7200)
    cut = _run(True, start, start + 3615)
    assert len(cut.steps) == 241
    for a, b in zip(cut.steps, full.steps, strict=False):
        assert (a.time, a.replicas, a.desired, a.metrics) == (
            b.time,
            b.replicas,
            b.desired,
            b.metrics,
        )


def test_surge_simulate_takes_the_forecast_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(_hpa(True))
    rules = tmp_path / "surge.yaml"
    rules.write_text(
        "forecastRules:\n- name: qps_forecast\n  query: x\n  namespace: ai-platform\n"
        "  object: {kind: Deployment, name: ai-service}\n"
    )
    args = [
        "simulate",
        "--scenario",
        "seed-workday",
        "--hpa",
        str(hpa),
        "--days",
        "0.1",
        "--plot",
        "",
        "--csv",
        "",
        "-o",
        "json",
    ]
    assert cli([*args, "--config", str(rules)]) == 0
    assert '"podHours"' in capsys.readouterr().out
    assert cli(args) == 2  # without the rules, nothing answers qps_forecast
    assert "does not model Object metric 'qps_forecast'" in capsys.readouterr().err
    rules.write_text("forecastRules:\n- name: qps_forecast\n")
    assert cli([*args, "--config", str(rules)]) == 2
    assert 'missing required field "query"' in capsys.readouterr().err
