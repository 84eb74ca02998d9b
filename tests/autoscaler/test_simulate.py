"""`surge simulate --scenario seed-workday`: the seed's HPA over the seed's workday.

The scenario and its capacity model are calibrated on the seed's tables; the run must
land where the seed's HPA log says it does (replicas per period, give or take one) and
cost about half the pod-hours of a fleet of 14 fixed pods, as the seed's table implies.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.simulation.report import SEED_PERIODS, narrowest_range, parse_periods, summarize
from autoscaler.simulation.scenario import (
    SEED_LOAD_TEST,
    SEED_WORKDAY_TABLE,
    Service,
    Traffic,
    calibrate,
)
from autoscaler.simulation.simulate import (
    Fleet,
    Run,
    Settings,
    load_hpa,
    scenario_run,
    seed_hpa_text,
)
from surge.cli import main as cli

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def seed_run() -> Run:
    return scenario_run()


def test_seed_hpa_file_is_the_one_shipped_with_the_package() -> None:
    assert (HERE / "seed-hpa.yaml").read_text() == seed_hpa_text()
    hpa = load_hpa(seed_hpa_text(), "seed")
    assert (hpa.name, hpa.min_replicas, hpa.max_replicas) == ("ai-service-hpa", 2, 20)
    assert [m.name for m in hpa.metrics] == ["cpu", "memory", "http_requests_waiting"]
    latency = load_hpa(seed_hpa_text(), "seed", "ai-service-hpa-latency")
    assert [m.type for m in latency.metrics] == ["Object"] and latency.behavior is None


def test_replicas_per_period_land_in_the_seeds_table(seed_run: Run) -> None:
    summary = summarize(seed_run, SEED_PERIODS, seed=True)
    assert [p.label for p in summary.periods] == [r.label for r in SEED_WORKDAY_TABLE]
    for period, row in zip(summary.periods, SEED_WORKDAY_TABLE, strict=True):
        low, high = period.typical
        assert row.pods[0] - 1 <= low <= high <= row.pods[1] + 1, (period, row)
        assert period.seed_pods == row.pods
    # Transitions between periods take minutes (scale-down waits 5 minutes, then 20% a
    # minute), but never leave the HPA's bounds or exceed the seed's peak by more than one.
    assert all(2 <= p.full[0] and p.full[1] <= 15 for p in summary.periods)


def test_pod_hours_are_about_half_of_a_fixed_fleet_of_14(seed_run: Run) -> None:
    summary = summarize(seed_run, SEED_PERIODS, fixed_pods=14, seed=True)
    # The seed's table: 2x6 + 3.5x3 + 10x9 + 12x4 + 4.5x2 = 169.5 pod-hours a day, against
    # 14 x 24 = 336 for the fixed fleet.
    assert summary.days == 1
    assert 150 <= summary.pod_hours <= 195
    assert 0.42 <= summary.pod_hours / summary.fixed_pod_hours_per_day <= 0.58
    # Every sync counted once: 5,760 decisions, the replicas after each held for 15 s.
    assert summary.decisions == len(seed_run.steps) == 5760
    assert summary.pod_hours == pytest.approx(sum(s.desired for s in seed_run.steps) / 240)
    assert summary.peak_replicas in (14, 15)
    # The price's default is the seed's fixed hosts as pods: 14,000 / (16 x 730) per hour.
    assert summary.fixed_monthly_cost == pytest.approx(14 * 730 * 1.2)
    assert summary.monthly_cost == pytest.approx(summary.pod_hours * 730 / 24 * 1.2)


def _raw(step: object) -> int | None:
    """The largest metric proposal of a sync (before stabilization and policies)."""
    proposals = [m.proposal for m in step.metrics if m.proposal is not None]  # type: ignore[attr-defined]
    return max(proposals) if proposals else None


def test_the_run_follows_the_behavior_of_the_seeds_hpa(seed_run: Run) -> None:
    """Re-derived from the steps: scaleDown keeps the highest proposal of the last 300 s
    and removes at most 20% of the replicas of the last 60 s; scaleUp adds at most the
    larger of 100% and 4 pods per 60 s."""
    steps = seed_run.steps
    held = 0
    for i, step in enumerate(steps):
        # Rescales within the policies' 60 s period (events strictly newer than now-60s).
        recent = steps[max(i - 3, 0) : i]
        period_start = step.replicas - sum(s.desired - s.replicas for s in recent)
        if step.desired < step.replicas:
            window = [_raw(s) for s in steps[max(i - 19, 0) : i + 1]]
            highest = max(r for r in window if r is not None)
            assert step.desired >= min(step.replicas, highest), i
            assert step.desired >= max(int(period_start * 0.8), 2), i
        if step.desired > step.replicas:
            assert step.desired <= max(2 * period_start, period_start + 4), i
        raw = _raw(step)
        if raw is not None and raw < step.replicas == step.desired:
            held += 1
    assert held > 100, "the 5-minute window held scale-downs back"
    assert any(s.desired < s.replicas for s in steps) and any(s.desired > s.replicas for s in steps)


def test_time_above_the_latency_target_is_the_p99_of_the_model(seed_run: Run) -> None:
    summary = summarize(seed_run)
    above = sum(15 for s in seed_run.steps if s.p99_seconds is not None and s.p99_seconds > 5)
    assert summary.seconds_above_latency_target == above
    # Nights are far below the target (p99 3.2 s at concurrency 5 or less).
    night = [s for s in seed_run.steps[: 4 * 240]]
    assert all(s.p99_seconds is not None and s.p99_seconds < 5 for s in night[40:])


def test_capacity_model_is_calibrated_on_the_seeds_tables() -> None:
    cap = calibrate()
    # CPU at the target load is the target; the night row is reproduced.
    assert cap.cpu_percent(cap.reference_qps) == pytest.approx(70)
    assert cap.cpu_percent(30) == pytest.approx(15, abs=1)
    assert 95 <= cap.reference_qps <= 102 and cap.cpu_exponent > 1
    # At the target load the LLM calls run at p99 5 s, and 50 requests wait.
    load = cap.pod_load(cap.reference_qps)
    assert load.p99_seconds == pytest.approx(5.0)
    assert load.waiting == pytest.approx(50.0)
    # The load test through Little's law: the most one pod completes is 20 / 4.18 s.
    assert cap.llm_capacity == pytest.approx(20 / 4.18)
    for row in SEED_LOAD_TEST[:3]:
        assert cap.llm_throughput(row.concurrency) == pytest.approx(row.concurrency / row.mean_s)
        assert cap.llm_concurrency(row.concurrency / row.mean_s) == pytest.approx(
            row.concurrency, rel=1e-6
        )
    assert 0.03 < cap.llm_share < 0.06


def test_queue_builds_past_capacity_and_drains() -> None:
    cap = calibrate()
    service = Service(cap)
    per_pod_capacity_qps = cap.llm_capacity / cap.llm_share
    over = service.step(per_pod_capacity_qps * 2 * 1.2, 2, 60)
    # 20% too much for a minute: 0.2 x capacity x 2 pods x 60 s of calls queue.
    assert service.queued == pytest.approx(0.2 * cap.llm_capacity * 2 * 60)
    assert over.waiting > cap.pod_load(per_pod_capacity_qps * 0.99).waiting + 20
    assert over.p99_seconds > cap.p99(20)
    service.step(per_pod_capacity_qps * 2 * 0.5, 2, 3600)
    assert service.queued == 0


def test_traffic_follows_the_seeds_table() -> None:
    traffic = Traffic()
    midnight = datetime.fromisoformat("2026-01-05T00:00:00+08:00").timestamp()
    for row in SEED_WORKDAY_TABLE:
        seconds = range(int(row.start_hour * 3600), int(row.end_hour * 3600), 60)
        qps = [traffic.qps(midnight + s) for s in seconds]
        mean = sum(qps) / len(qps)
        assert mean == pytest.approx(sum(row.qps) / 2, rel=0.06), row
        # Away from the 20-minute ramps between periods, inside the table's range.
        core = [
            traffic.qps(midnight + s)
            for s in seconds
            if row.start_hour * 3600 + 600 <= s < row.end_hour * 3600 - 600
        ]
        assert row.qps[0] * 0.97 <= min(core) and max(core) <= row.qps[1] * 1.03, row
    # The same every day: the curve is a function of the time of day.
    assert traffic.qps(midnight + 3600 * 13) == traffic.qps(midnight + 86400 + 3600 * 13)


def test_fleet_readiness_and_removal_order() -> None:
    fleet = Fleet(2, 0.0, 40.0)
    assert fleet.ready(0.0) == 2
    fleet.rescale(5, 100.0)
    assert (fleet.replicas, fleet.ready(139.0), fleet.ready(140.0)) == (5, 2, 5)
    fleet.rescale(6, 150.0)
    # Down to 4: the pod not ready yet goes first, then the newest ready one.
    fleet.rescale(4, 160.0)
    names = [p.name for p in fleet.pods]
    assert names == ["pod-0000", "pod-0001", "pod-0002", "pod-0003"]


def test_narrowest_range_holds_80_percent() -> None:
    assert narrowest_range([5] * 8 + [9, 10]) == (5, 5)
    assert narrowest_range([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) == (2, 9)
    assert narrowest_range([4] * 5 + [5] * 4 + [12]) == (4, 5)


def test_periods_flag() -> None:
    assert parse_periods(None) == SEED_PERIODS
    periods = parse_periods("0-12,12:30-24")
    assert [p.label for p in periods] == ["00:00-12:00", "12:30-24:00"]
    for bad in ("0-25", "6-3", "x-3", "6"):
        with pytest.raises(ValueError):
            parse_periods(bad)


def test_cli_writes_summary_plot_and_timeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot, table = tmp_path / "day.png", tmp_path / "day.csv"
    code = cli(
        [
            "simulate",
            "--scenario",
            "seed-workday",
            "--plot",
            str(plot),
            "--csv",
            str(table),
            "-o",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""  # not a terminal: no progress bar
    summary = json.loads(out)
    assert summary["files"] == {"timeline": str(table), "plot": str(plot)}
    assert summary["hpa"] == "ai-platform/ai-service-hpa"
    assert [p["seedPods"] for p in summary["periods"]] == [list(r.pods) for r in SEED_WORKDAY_TABLE]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 50_000
    with table.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5760
    assert rows[0]["time"] == "2026-01-05T00:00:00+08:00"
    assert {"qps", "replicas", "desired_replicas", "cpu_current", "cpu_target"} <= set(rows[0])
    assert {float(r["cpu_target"]) for r in rows} == {70.0}
    steps = [datetime.fromisoformat(r["time"]) for r in rows[:3]]
    assert steps[1] - steps[0] == timedelta(seconds=15)
    assert sum(int(r["desired_replicas"]) for r in rows) / 240 == pytest.approx(summary["podHours"])


def test_cli_text_summary_sets_the_seeds_money_beside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli(["simulate", "--scenario", "seed-workday", "--plot", "", "--csv", ""])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "\x1b[" not in out
    assert "QPS and replicas: the narrowest ranges holding 80% of each period" in out
    assert "fixed fleet of 14 pods" in out or "fixed fleet of 15 pods" in out
    assert "14,000 against 5,200 CNY a month (-63%)" in out
    assert "plot:" not in out and not list(tmp_path.iterdir())


def test_cli_without_matplotlib_plots_only_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """matplotlib is the [tools] extra, which the server's image leaves out."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    code = cli(["simulate", "--scenario", "seed-workday", "--plot", "day.png", "--csv", ""])
    out, err = capsys.readouterr()
    assert code == 1 and not out and not list(tmp_path.iterdir())
    assert err.count("\n") == 1 and "--plot needs matplotlib" in err
    assert "pip install '.[tools]'" in err
    # The default plot is skipped, the rest of the report stands.
    code = cli(["simulate", "--scenario", "seed-workday", "--days", "0.25"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["surge-simulate.csv"] and "plot:" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one of --scenario NAME, --traffic FILE, --timeline FILE, --prometheus-url URL"),
        (["--scenario", "seed-workday", "--timeline", "x.csv"], "give one of"),
        (["--scenario", "seed-workday", "--hpa", "/nonexistent.yaml"], "cannot read"),
        (["--scenario", "seed-workday", "--hpa-name", "nope"], "no HorizontalPodAutoscaler named"),
        (["--scenario", "seed-workday", "--periods", "9-5"], "ends before it starts"),
        (["--scenario", "seed-workday", "--days", "0"], "--days must be positive"),
        (["--scenario", "seed-workday", "--fixed-pods", "0"], "--fixed-pods must be at least 1"),
        (["--timeline", "x.csv"], "--hpa FILE is required"),
        (
            ["--scenario", "seed-workday", "--kubernetes-version", "1.33"],
            '--kubernetes-version: unknown Kubernetes version "1.33" (known: 1.34, 1.35, 1.36, '
            "1.37)",
        ),
    ],
)
def test_cli_bad_input_is_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = cli(["simulate", *args, "--plot", "", "--csv", ""])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_an_hpa_the_scenario_cannot_answer_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hpa.yaml"
    path.write_text(seed_hpa_text().replace("name: http_requests_waiting", "name: kafka_lag", 1))
    code = cli(["simulate", "--scenario", "seed-workday", "--hpa", str(path), "--plot", ""])
    _, err = capsys.readouterr()
    assert code == 2
    assert "the seed's capacity model does not model Pods metric 'kafka_lag'" in err


def test_an_invalid_hpa_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "hpa.yaml"
    path.write_text(seed_hpa_text().replace("maxReplicas: 20", "maxReplicas: many", 1))
    err = io.StringIO()
    from contextlib import redirect_stderr

    with redirect_stderr(err):
        code = cli(["simulate", "--scenario", "seed-workday", "--hpa", str(path), "--plot", ""])
    assert code == 2
    assert "hpa.spec.maxReplicas: must be an integer" in err.getvalue()


def test_more_traffic_needs_more_pods_up_to_max() -> None:
    base = summarize(scenario_run(days=0.25, traffic_scale=1.0))
    # A quarter day is the night: 2 pods. Ten times the night's traffic needs more.
    busy = summarize(scenario_run(days=0.25, traffic_scale=10.0))
    assert base.peak_replicas == 2
    assert busy.peak_replicas > 2
    assert math.isclose(base.days, 0.25)


def test_ready_delay_slows_the_morning_ramp() -> None:
    fast = scenario_run(days=0.5, settings=Settings(ready_delay_s=0))
    slow = scenario_run(days=0.5, settings=Settings(ready_delay_s=300))
    # Pods not ready yet carry no traffic: with a long delay the ready pods run hotter.
    hot_fast = max(s.load.cpu_percent for s in fast.steps if s.load)
    hot_slow = max(s.load.cpu_percent for s in slow.steps if s.load)
    assert hot_slow > hot_fast
