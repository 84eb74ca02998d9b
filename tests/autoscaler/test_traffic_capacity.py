"""Traffic traces and capacity files: `surge simulate --traffic`, `--capacity`,
`surge capacity export --seed`, and their one-line answers to bad input (exit 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from autoscaler.simulation import records
from autoscaler.simulation.capacity import CapacityError, export_seed, parse, read_file
from autoscaler.simulation.simulate import (
    SCENARIO_DAY,
    ScenarioSource,
    Settings,
    load_hpa,
    simulate,
)
from autoscaler.simulation.traffic import TraceTraffic, TrafficError
from autoscaler.simulation.traffic import read_file as read_trace
from surge.cli import main as cli
from tests.support.oracle import ConstantData

T0 = 1_767_571_200  # 2026-01-05T00:00:00Z
WAITING_HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: queue, namespace: ai-platform}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ai-service}
  minReplicas: 1
  maxReplicas: 30
  metrics:
    - type: Pods
      pods:
        metric: {name: http_requests_waiting}
        target: {type: AverageValue, averageValue: "40"}
"""
SMALL_CAPACITY = {
    "kind": "Capacity",
    "readyDelaySeconds": 40,
    "cpuRequestCores": 0.5,
    "memoryRequestBytes": 1073741824,
    "maxQps": 105,
    "points": [
        {"qps": 0, "p99Seconds": 2.6, "waiting": 0, "cpuCores": 0.03, "memoryBytes": 5e8},
        {"qps": 90, "p99Seconds": 4.6, "waiting": 40, "cpuCores": 0.34, "memoryBytes": 5.4e8},
    ],
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# --- traces ----------------------------------------------------------------------------------


def test_a_csv_trace_in_unix_seconds_is_linear_between_samples(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", f"time,qps\n{T0},100\n{T0 + 60},400\n{T0 + 120},400\n")
    trace = read_trace(path)
    assert trace.qps(T0 + 15) == pytest.approx(175)
    assert trace.qps(T0 + 90) == 400
    assert (trace.start, trace.end) == (T0, T0 + 120)


def test_the_last_sample_holds_for_the_traces_usual_step() -> None:
    """Per-minute samples with a hole: the last one covers its minute, not the hole's
    length, nor a sync."""
    times = (T0, T0 + 60, T0 + 120, T0 + 2400, T0 + 2460)
    assert records.covered_until(times, 15.0) == T0 + 2520
    assert records.covered_until((T0,), 15.0) == T0 + 15


def test_a_json_trace_in_rfc3339_with_a_zone(tmp_path: Path) -> None:
    rows = [
        {"time": "2026-01-05T08:00:00+08:00", "qps": 10},
        {"time": "2026-01-05T00:01:00Z", "qps": 20},
    ]
    trace = read_trace(_write(tmp_path / "t.json", json.dumps(rows)))
    assert trace.times == (T0, T0 + 60)
    assert trace.qps(T0 + 30) == 15


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,qps\n", "empty trace"),
        (f"time,qps\n{T0},1\n{T0 - 15},2\n", "line 3: time 2026-01-04T23:59:45Z is not after"),
        (f"time,qps\n{T0},1\n{T0 + 7200},2\n", "line 3: a gap of 2.0 h from 2026-01-05T00:00:00Z"),
        (f"time,qps\n{T0},1\n{T0 + 60},-3\n", "line 3: qps: must be a number of at least 0"),
        (f"time,load\n{T0},1\n", "line 1: the header needs `time` and `qps`"),
        (f"time,qps\n{T0},1,7\n", "line 2: more cells than the header has names"),
        (f"time,qps\n2026-01-05T00:00:00,1\n{T0},2\n", "no time zone"),
    ],
)
def test_bad_traces_are_one_line_and_exit_2(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "t.csv", content)
    with pytest.raises(TrafficError, match=message.replace("(", r"\(")):
        read_trace(path)
    hpa = _write(tmp_path / "hpa.yaml", WAITING_HPA)
    code, out, err = _run(capsys, "simulate", "--traffic", path, "--hpa", hpa, "--plot", "")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message.split(":")[0] in err


def test_a_trace_replays_through_a_capacity_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two hours: 200 QPS, then 900. On the file's curve, 40 waiting is 90 QPS per pod, so a
    target of 40 holds about 900 / 90 = 10 pods at the end (3 at 200 QPS)."""
    # A sample a minute, 00:00 to 01:59: the last holds its minute, so two hours exactly.
    rows = ["time,qps"] + [f"{T0 + 60 * i},{200 if i < 60 else 900}" for i in range(120)]
    trace = _write(tmp_path / "t.csv", "\n".join(rows) + "\n")
    cap = _write(tmp_path / "cap.yaml", yaml.safe_dump(SMALL_CAPACITY))
    hpa = _write(tmp_path / "hpa.yaml", WAITING_HPA)
    code, out, err = _run(
        capsys,
        "simulate",
        "--traffic",
        trace,
        "--capacity",
        cap,
        "--hpa",
        hpa,
        "--plot",
        "",
        "--csv",
        str(tmp_path / "run.csv"),
        "-o",
        "json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["decisions"] == 480 and summary["readyDelaySeconds"] == 40
    rows_out = (tmp_path / "run.csv").read_text().splitlines()
    at_30_min, last = rows_out[121].split(","), rows_out[-1].split(",")
    assert int(at_30_min[4]) == 3  # 200 QPS: 66.7 per pod is 29.6 waiting on 3
    assert int(last[4]) == 10
    # The step to 900 QPS puts 300 on each of 3 pods (maxQps 105): a backlog, p99 above 5 s
    # until the new pods are ready and it drains, a few minutes.
    assert 0 < summary["secondsAboveLatencyTarget"] <= 300


def test_a_trace_from_prometheus(
    prometheus_constant: ConstantData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--prometheus-url` with the one query `qps=...` is a trace, not metric history."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=2, seconds=now.second % 15)
    hpa = _write(tmp_path / "hpa.yaml", WAITING_HPA)
    total = sum(prometheus_constant.waiting(p) for p in prometheus_constant.pods)
    code, out, err = _run(
        capsys,
        "simulate",
        "--prometheus-url",
        prometheus_constant.url,
        "--query",
        'qps=sum(http_requests_waiting{namespace="ai-platform"})',
        "--start",
        start.isoformat(),
        "--end",
        (start + timedelta(minutes=30)).isoformat(),
        "--hpa",
        hpa,
        "--plot",
        "",
        "--csv",
        str(tmp_path / "run.csv"),
        "-o",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["decisions"] == 120
    second = (tmp_path / "run.csv").read_text().splitlines()[2].split(",")
    assert float(second[1]) == pytest.approx(total)


# --- capacity files --------------------------------------------------------------------------


def test_the_seeds_exported_model_gives_the_seeds_pod_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, exported, _ = _run(capsys, "capacity", "export", "--seed")
    assert code == 0
    path = _write(tmp_path / "seed.yaml", exported)
    assert read_file(path).max_qps == pytest.approx(112.16, abs=0.01)
    results = []
    for capacity in ("seed", path):
        code, out, err = _run(
            capsys,
            "simulate",
            "--scenario",
            "seed-workday",
            "--capacity",
            capacity,
            "--plot",
            "",
            "--csv",
            "",
            "-o",
            "json",
        )
        assert code == 0, err
        results.append(json.loads(out))
    seed, exported_run = results
    assert exported_run["podHours"] == pytest.approx(seed["podHours"], rel=0.02)
    assert exported_run["secondsAboveLatencyTarget"] == pytest.approx(
        seed["secondsAboveLatencyTarget"], rel=0.05
    )


def test_past_max_qps_the_backlog_adds_to_waiting_and_p99() -> None:
    cap = parse(SMALL_CAPACITY, "cap")
    assert cap.pod_load(45).p99_seconds == pytest.approx(3.6)
    queued = cap.pod_load(120, queued=210)
    assert queued.p99_seconds == pytest.approx(4.6 + 210 / 105)
    assert queued.waiting == pytest.approx(40 + 210)


def _broken(**changes: object) -> dict[str, object]:
    document = json.loads(json.dumps(SMALL_CAPACITY))
    for key, value in changes.items():
        if value is None:
            del document[key]
        else:
            document[key] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_broken(maxQps=None), "missing field maxQps"),
        (
            _broken(points=[{"qps": 0, "p99Seconds": 1, "waiting": 0, "cpuCores": 0}]),
            "points[0]: missing field memoryBytes",
        ),
        (
            _broken(
                points=[
                    {"qps": 0, "p99Seconds": 3, "waiting": 0, "cpuCores": 0, "memoryBytes": 1},
                    {"qps": 50, "p99Seconds": 2, "waiting": 9, "cpuCores": 1, "memoryBytes": 1},
                ]
            ),
            "points[1]: p99Seconds 2 falls below the previous point's 3: the load is not monotone",
        ),
        (
            _broken(
                points=[
                    {"qps": 50, "p99Seconds": 3, "waiting": 0, "cpuCores": 0, "memoryBytes": 1},
                    {"qps": 10, "p99Seconds": 4, "waiting": 9, "cpuCores": 1, "memoryBytes": 1},
                ]
            ),
            "points[1]: qps 10 is not above the previous point's 50",
        ),
        (_broken(kind="Deployment"), "kind must be Capacity"),
    ],
)
def test_bad_capacity_files_are_named(
    document: dict[str, object],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(CapacityError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse(document, "cap.yaml")
    cap = _write(tmp_path / "cap.yaml", yaml.safe_dump(document))
    code, out, err = _run(
        capsys, "simulate", "--scenario", "seed-workday", "--capacity", cap, "--plot", ""
    )
    assert (code, out) == (2, "") and err.count("\n") == 1 and message in err


def test_an_hpa_metric_the_capacity_does_not_model_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = _write(
        tmp_path / "hpa.yaml", WAITING_HPA.replace("http_requests_waiting", "gpu_queue_depth")
    )
    code, _, err = _run(
        capsys, "simulate", "--scenario", "seed-workday", "--hpa", hpa, "--plot", ""
    )
    assert code == 2 and err.count("\n") == 1
    assert "does not model Pods metric 'gpu_queue_depth'" in err


def test_a_capacity_file_names_its_own_metrics() -> None:
    """`metrics:` maps a service's metric names onto the model's quantities."""
    document = dict(SMALL_CAPACITY, metrics={"gpu_queue_depth": "waiting"})
    cap = parse(document, "cap")
    hpa = load_hpa(WAITING_HPA.replace("http_requests_waiting", "gpu_queue_depth"), "hpa")
    ScenarioSource.check(hpa, cap)
    start = datetime(*SCENARIO_DAY, tzinfo=UTC).timestamp()
    flat = TraceTraffic((start, start + 3600), (450.0, 450.0))
    run = simulate(hpa, ScenarioSource(flat, cap), start, start + 3600, Settings(), cap)
    # 450 QPS at 40 waiting per pod (90 QPS) is 5 pods.
    assert run.steps[-1].desired == 5


def test_export_is_monotone_and_round_trips_through_the_reader(tmp_path: Path) -> None:
    from autoscaler.simulation.capacity import SEED_EXPORT_COMMENTS, document

    exported = export_seed()
    path = _write(tmp_path / "s.yaml", document(exported, SEED_EXPORT_COMMENTS))
    again = read_file(path)
    assert again.qps == pytest.approx(exported.qps)
    assert again.curves["p99Seconds"] == pytest.approx(exported.curves["p99Seconds"], rel=1e-5)
