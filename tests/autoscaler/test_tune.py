"""`surge tune`: the seed's workday tuned to its latency objective, the files it writes, what
it refuses to do (raise maxReplicas), --keep, determinism, and bad input."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.simulation.simulate import SimulationError, seed_hpa_text
from autoscaler.tune import report as tunereport
from autoscaler.tune import search, space
from autoscaler.tune.shapes import SHAPES, problem_for, trace
from surge.cli import main as cli

SEED = ["tune", "--scenario", "seed-workday", "--hpa", "autoscaler/seed-hpa.yaml"]
SEED_POD_HOURS = 175.4
# The seed's tune simulates about 30 days of syncs: half a minute of CPU, more on a busy machine.
pytestmark = pytest.mark.timeout(1200)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _without_tuned_fields(document: dict[str, Any]) -> dict[str, Any]:
    spec = dict(document["spec"])
    spec.pop("minReplicas", None)
    spec.pop("behavior", None)
    spec["metrics"] = [
        {
            k: {kk: vv for kk, vv in v.items() if kk != "target"} if isinstance(v, dict) else v
            for k, v in m.items()
        }
        for m in spec["metrics"]
    ]
    return {**document, "spec": spec}


@pytest.fixture(scope="module")
def seed_tune(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("tune")
    code = cli([*SEED, "--hpa-name", "ai-service-hpa", "--out", str(out), "-o", "json"])
    return code, json.loads((out / "report.json").read_text()), out


def test_the_seeds_workday_meets_its_objective_at_little_more_cost(
    seed_tune: tuple[int, dict[str, Any], Path],
) -> None:
    code, report, _ = seed_tune
    assert code == 0
    before, after = report["before"], report["after"]
    assert before["podHours"] == pytest.approx(SEED_POD_HOURS, abs=0.05)
    assert before["attainment"] == pytest.approx(0.7476, abs=0.001)
    assert after["attainment"] >= 0.99
    assert after["podHours"] <= 1.15 * before["podHours"]
    assert after["secondsAboveLatencyTarget"] <= 0.01 * after["secondsWithLatency"]
    assert report["holdout"] is None and report["met"] is True
    assert set(report) >= {"before", "after", "holdout", "hpa", "changes"}
    # SUMMARY has the keys of `surge simulate -o json`.
    assert {"podHours", "secondsAboveLatencyTarget", "secondsWithLatency", "rescales"} <= set(after)


def test_times_are_in_the_traces_own_zone(seed_tune: tuple[int, dict[str, Any], Path]) -> None:
    """The seed's workday is a day in UTC+8, as `surge simulate` shows it: every time in
    report.json is RFC 3339 with that offset, the span tuned on included."""
    _, report, _ = seed_tune
    day = {"start": "2026-01-05T00:00:00+08:00", "end": "2026-01-06T00:00:00+08:00"}
    for summary in (report["before"], report["after"]):
        assert summary["utcOffsetHours"] == 8
        assert {k: summary[k] for k in day} == day
    assert report["tunedOn"] == day
    assert sorted(_times(report)) == ["after", "before", "tunedOn"]


def _times(document: Any, where: str = "") -> list[str]:
    """Where report.json holds a span (`start`, `end`), each checked to be RFC 3339 with
    the +08:00 offset of the seed's trace."""
    found = []
    if isinstance(document, dict):
        if "start" in document or "end" in document:
            for key in ("start", "end"):
                parsed = datetime.fromisoformat(document[key])
                assert parsed.utcoffset() == timedelta(hours=8), (where, document[key])
            found.append(where)
        for key, value in document.items():
            found += _times(value, key)
    elif isinstance(document, list):
        for value in document:
            found += _times(value, where)
    return found


def test_hpa_yaml_changes_only_tuned_fields(seed_tune: tuple[int, dict[str, Any], Path]) -> None:
    _, report, out = seed_tune
    applied = yaml.safe_load(seed_hpa_text().split("\n---\n")[0])
    tuned = yaml.safe_load((out / "hpa.yaml").read_text())
    assert tuned == report["hpa"]
    assert tuned["apiVersion"] == "autoscaling/v2"
    assert tuned["spec"]["maxReplicas"] == applied["spec"]["maxReplicas"] == 20
    assert _without_tuned_fields(tuned) == _without_tuned_fields(applied)
    assert report["changes"], "the seed's HPA misses its objective: something must change"
    for change in report["changes"]:
        assert change["field"].startswith(("spec.metrics", "spec.minReplicas", "spec.behavior"))
        assert change["before"] != change["after"]
    assert (out / "tune.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_objective_out_of_reach_is_exit_1_with_the_best_attainable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(seed_hpa_text().replace("maxReplicas: 20", "maxReplicas: 8", 1))
    written = tmp_path / "out"
    code, out, err = _run(
        capsys, "tune", "--scenario", "seed-workday", "--hpa", str(hpa), "--out", str(written)
    )
    assert code == 1, err
    assert "NOT MET" in out and "within maxReplicas 8" in out and "best attainable" in out
    report = json.loads((written / "report.json").read_text())
    assert report["met"] is False and report["hpa"]["spec"]["maxReplicas"] == 8
    # 8 pods serve 900 of the day's 1,300 QPS: the best is far from 99%, and no worse than
    # the HPA as applied (with maxReplicas 8 too).
    assert report["before"]["attainment"] <= report["after"]["attainment"] < 0.99
    assert not (written / "hpa.yaml").exists() and (written / "tune.png").exists()


def _small_problem(
    keep: frozenset[str] = frozenset(), utc_offset_hours: float = 0.0
) -> tuple[search.Problem, float, float]:
    shape = next(s for s in SHAPES if s.name == "steep-ramps")
    traffic = trace(shape, 2, 3 * 3600.0, 15.0, seed=3)
    problem = problem_for(shape, traffic, 3 * 3600.0)
    problem = search.Problem(
        problem.document,
        problem.source,
        problem.new_source,
        problem.settings,
        problem.capacity,
        problem.slo_latency_s,
        problem.slo_attainment,
        keep,
        problem.day_s,
        utc_offset_hours,
    )
    return problem, traffic.start, traffic.end


def test_tuning_is_deterministic() -> None:
    problem, start, end = _small_problem()
    first = search.tune_and_hold_out(problem, start, end, 0.0)
    second = search.tune_and_hold_out(problem, start, end, 0.0)
    assert first.result.best is not None
    assert first.result.outcomes == second.result.outcomes
    assert [s.desired for s in first.after.steps] == [s.desired for s in second.after.steps]


def test_the_printed_spans_and_the_plot_are_in_the_traces_zone(tmp_path: Path) -> None:
    problem, start, end = _small_problem(utc_offset_hours=-5)
    tuned = search.tune_and_hold_out(problem, start, end, 3 * 3600.0)
    assert tuned.before.utc_offset_hours == tuned.after.utc_offset_hours == -5

    def part(run: search.Run, lo: float, hi: float) -> tunereport.Judged:
        return tunereport.judge(search.summaries_steps(run, lo, hi), 1.0, "USD")

    columns = [
        (title, part(run, lo, hi))
        for lo, hi in ((start, tuned.split), (tuned.split, end))
        for title, run in (("before", tuned.before), ("after", tuned.after))
    ]
    printed = io.StringIO()
    document = {
        "hpaName": "default/h",
        "traffic": "t",
        "slo": {"latencySeconds": 5, "attainment": 0.99},
    }
    tunereport.print_text(document, columns, [], [], printed)
    local = [
        datetime.fromtimestamp(t, timezone(timedelta(hours=-5))) for t in (start, tuned.split, end)
    ]
    assert f"tuned on: {local[0].isoformat()} to {local[1].isoformat()}" in printed.getvalue()
    assert f"held out: {local[1].isoformat()} to {local[2].isoformat()}" in printed.getvalue()
    assert "-05:00" in local[0].isoformat()


def test_keep_freezes_what_the_team_will_not_change() -> None:
    problem, start, end = _small_problem(frozenset({"http_requests_waiting", "minReplicas"}))
    tuned = search.tune_and_hold_out(problem, start, end, 0.0)
    chosen = (tuned.result.best or tuned.result.closest).knobs
    assert chosen.factors == (1.0,) and chosen.min_replicas == 2
    fields = [c["field"] for c in space.changes(problem.document, problem.document_for(chosen))]
    assert all(f.startswith("spec.behavior") for f in fields)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--keep", "replicas"], "--keep replicas: not one of targets"),
        (["--slo-attainment", "99"], "--slo-attainment must be above 0 and at most 1"),
        (["--holdout-days", "0.6"], "--holdout-days 0.6 leaves less to tune on than it holds out"),
        (["--capacity", "nowhere.yaml"], "nowhere.yaml: cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, *SEED, "--out", str(tmp_path), *extra)
    assert (code, out) == (2, "") and err.count("\n") == 1 and message in err


@pytest.mark.parametrize("traffic", [[], ["--scenario", "seed-workday", "--traffic", "t.csv"]])
def test_one_source_of_traffic_is_asked_for_in_tunes_own_flags(
    traffic: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tune has no --timeline (metric history cannot be replayed at other targets)."""
    argv = ["tune", "--hpa", "autoscaler/seed-hpa.yaml", "--out", str(tmp_path), *traffic]
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err == "surge tune: give one of --scenario NAME, --traffic FILE, --prometheus-url URL\n"


def test_an_hpa_the_capacity_cannot_serve_names_the_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(seed_hpa_text().replace("http_requests_waiting", "kafka_lag", 1))
    code, _, err = _run(capsys, "tune", "--scenario", "seed-workday", "--hpa", str(hpa))
    assert code == 2 and "does not model Pods metric 'kafka_lag'" in err


DEFAULT_UP = "100% or 4 pods per 15s"  # Kubernetes' scale-up rules, written out


@pytest.mark.parametrize(
    ("behavior", "up", "down", "fields"),
    [
        # Without behavior, an empty one is the change: the controller's behavior path.
        (None, DEFAULT_UP, space.AS_IS, ["spec.behavior"]),
        (None, DEFAULT_UP, "window 60s", ["spec.behavior.scaleDown.stabilizationWindowSeconds"]),
        # The window (0) and selectPolicy (Max) of a variant are the defaults: left out.
        (None, "200% or 8 pods per 15s", space.AS_IS, ["spec.behavior.scaleUp.policies"]),
        ({"scaleDown": {"stabilizationWindowSeconds": 60}}, DEFAULT_UP, space.AS_IS, []),
        (
            {"scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}},
            DEFAULT_UP,
            space.AS_IS,
            ["spec.behavior.scaleUp.policies"],
        ),
        (
            {"scaleUp": {"selectPolicy": "Min"}},
            "200% or 8 pods per 15s",
            space.AS_IS,
            ["spec.behavior.scaleUp.selectPolicy", "spec.behavior.scaleUp.policies"],
        ),
    ],
)
def test_a_change_is_only_what_differs_in_effect(
    behavior: dict[str, Any] | None, up: str, down: str, fields: list[str]
) -> None:
    shape = next(s for s in SHAPES if s.name == "steep-ramps")
    document = {**shape.hpa, "spec": {**shape.hpa["spec"]}}
    if behavior is not None:
        document["spec"]["behavior"] = behavior
    targets = space.targets(document)
    tuned = space.apply(document, targets, space.Knobs((1.0,), 2, up, down))
    assert [c["field"] for c in space.changes(document, tuned)] == fields


def test_without_matplotlib_there_is_no_plot_and_it_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pip install .` (the demo's) leaves the [tools] extra out: tune still tunes."""
    from autoscaler.simulation import report as simreport

    monkeypatch.setattr(simreport, "can_plot", lambda: False)
    shape = next(s for s in SHAPES if s.name == "steep-ramps")
    traffic = trace(shape, 1, 3 * 3600.0, 60.0, seed=5)
    trace_file, capacity_file, hpa = tmp_path / "t.csv", tmp_path / "c.yaml", tmp_path / "h.yaml"
    trace_file.write_text(
        "time,qps\n"
        + "".join(f"{t:.0f},{q:.2f}\n" for t, q in zip(traffic.times, traffic.values, strict=True))
    )
    capacity_file.write_text(yaml.safe_dump(shape.capacity))
    hpa.write_text(yaml.safe_dump(shape.hpa))
    out = tmp_path / "out"
    argv = ["--capacity", str(capacity_file), "--hpa", str(hpa), "--out", str(out)]
    code, printed, err = _run(capsys, "tune", "--traffic", str(trace_file), *argv)
    assert code == 0, err
    assert "no tune.png: matplotlib is not installed (the [tools] extra)" in printed
    assert (out / "hpa.yaml").exists() and not (out / "tune.png").exists()


def test_quantities_are_written_as_kubectl_prints_them() -> None:
    assert [space.quantity(v) for v in (45.0, 4.349, 0.25, 112.4, 1234.6)] == [
        "45",
        "4350m",
        "250m",
        "112",
        "1235",
    ]


def test_a_part_of_a_run_without_syncs_is_named() -> None:
    problem, start, _ = _small_problem()
    run = problem.run(problem.applied, start, start + 600)
    with pytest.raises(SimulationError, match="no syncs"):
        search.summaries_steps(run, start + 3600, start + 7200)


def _trace_inputs(tmp_path: Path, days: int, day_s: float, utc_offset_hours: float) -> list[str]:
    """A trace file as a recorder writes one, a sample a minute from local midnight to the
    last day's 23:59 (RFC 3339 with the offset), and the steep-ramps capacity and HPA."""
    shape = next(s for s in SHAPES if s.name == "steep-ramps")
    traffic = trace(shape, days, day_s, 60.0, seed=5)
    zone = timezone(timedelta(hours=utc_offset_hours))
    midnight = datetime.fromtimestamp(traffic.start, UTC).replace(tzinfo=zone).timestamp()
    # The generator also samples the end boundary; a recorder stops a step before it.
    samples = zip(traffic.times[:-1], traffic.values[:-1], strict=True)
    trace_file, capacity_file = tmp_path / "days.csv", tmp_path / "capacity.yaml"
    trace_file.write_text(
        "time,qps\n"
        + "".join(
            f"{datetime.fromtimestamp(midnight + t - traffic.start, zone).isoformat()},{q:.2f}\n"
            for t, q in samples
        )
    )
    capacity_file.write_text(yaml.safe_dump(shape.capacity))
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(yaml.safe_dump(shape.hpa))
    return ["--traffic", str(trace_file), "--capacity", str(capacity_file), "--hpa", str(hpa)]


def test_a_held_out_day_is_the_traces_last_day_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two days of per-minute samples in UTC+8: the first is tuned on and the second held
    out, each from local midnight to midnight (the last sample, 23:59, holds its minute)."""
    inputs = _trace_inputs(tmp_path, 2, 86400.0, 8)
    # Nothing to tune and an objective the HPA as applied meets: the spans are what is tested.
    keep = ["--keep", "targets,minReplicas,behavior", "--slo-latency", "60s"]
    code, printed, err = _run(
        capsys,
        "tune",
        *inputs,
        *keep,
        "--utc-offset",
        "8",
        "--holdout-days",
        "1",
        "-o",
        "json",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    report = json.loads(printed)
    first = {"start": "2026-01-05T00:00:00+08:00", "end": "2026-01-06T00:00:00+08:00"}
    second = {"start": "2026-01-06T00:00:00+08:00", "end": "2026-01-07T00:00:00+08:00"}
    assert report["tunedOn"] == first
    for summary in (report["before"], report["after"]):
        assert ({k: summary[k] for k in first}, summary["decisions"]) == (first, 5760)
    for summary in report["holdout"].values():
        assert ({k: summary[k] for k in second}, summary["decisions"]) == (second, 5760)


def test_held_out_days_are_judged_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trace file and a capacity file, the last quarter held out: before/after cover the
    tuning part, `holdout` the rest, each with the summary keys of `surge simulate`."""
    inputs = _trace_inputs(tmp_path, 4, 6 * 3600.0, 0)
    out = tmp_path / "out"
    code, printed, err = _run(
        capsys,
        "tune",
        *inputs,
        "--holdout-days",
        "0.25",
        "--out",
        str(out),
        "-o",
        "json",
    )
    assert code == 0, err
    report = json.loads(printed)
    assert report == json.loads((out / "report.json").read_text())
    assert (
        report["after"]["decisions"] == 18 * 240
        and report["holdout"]["after"]["decisions"] == 6 * 240
    )
    for summary in (report["before"], report["after"], *report["holdout"].values()):
        assert {"podHours", "secondsAboveLatencyTarget", "secondsWithLatency", "attainment"} <= set(
            summary
        )
    assert report["holdout"]["after"]["attainment"] >= 0.985
    assert (out / "hpa.yaml").exists() and (out / "tune.png").exists()
