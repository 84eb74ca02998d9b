"""`surge simulate` replaying metric history: CSV and JSON files, and Prometheus range
queries against the real `prometheus_constant` Prometheus.

With a `replicas` column the per-pod metric follows the simulated pods (the same load
spread over more of them); without it the recorded values are replayed as they were.
Expected replicas are worked out from the controller's rules next to each test.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autoscaler.simulation.progress import progress
from autoscaler.simulation.timeline import (
    MAX_POINTS_PER_QUERY,
    TimelineError,
    chunks,
    read_file,
    read_prometheus,
)
from surge.cli import main as cli
from tests.support.oracle import ConstantData

START = datetime(2026, 1, 5, tzinfo=UTC)
WAITING_HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: queue, namespace: ai-platform}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ai-service}
  minReplicas: 1
  maxReplicas: 20
  metrics:
    - type: Pods
      pods:
        metric: {name: http_requests_waiting}
        target: {type: AverageValue, averageValue: "TARGET"}
"""
CPU_HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: cpu, namespace: ai-platform}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ai-service}
  minReplicas: 1
  maxReplicas: 20
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
"""


def _hpa(tmp_path: Path, text: str = WAITING_HPA, target: str = "50") -> Path:
    path = tmp_path / "hpa.yaml"
    path.write_text(text.replace("TARGET", target))
    return path


def _rows(minutes: int, **columns: float) -> list[dict[str, Any]]:
    return [
        {"time": (START + timedelta(minutes=m)).isoformat().replace("+00:00", "Z"), **columns}
        for m in range(minutes)
    ]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _simulate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str
) -> tuple[int, dict[str, Any], list[dict[str, str]], str]:
    """Run the CLI with -o json; the summary, the timeline CSV rows and stderr."""
    table = tmp_path / "out.csv"
    code = cli(["simulate", *args, "--plot", "", "--csv", str(table), "-o", "json"])
    out, err = capsys.readouterr()
    if code != 0:
        return code, {}, [], err
    with table.open() as f:
        return code, json.loads(out), list(csv.DictReader(f)), err


def test_csv_with_replicas_spreads_the_load_over_the_simulated_pods(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = _write_csv(
        tmp_path / "h.csv", _rows(60, replicas=4, http_requests_waiting=100, qps=400)
    )
    code, summary, rows, err = _simulate(
        capsys,
        tmp_path,
        "--timeline",
        str(history),
        "--hpa",
        str(_hpa(tmp_path)),
        "--initial-replicas",
        "4",
    )
    assert code == 0, err
    # An hour of per-minute rows is an hour of syncs: the last row holds its minute.
    assert len(rows) == 60 * 4 and summary["end"] == "2026-01-05T01:00:00+00:00"
    # 100 per pod over 4 pods is 400 waiting; at 50 per pod that is 8 pods. The first sync
    # goes 4 -> 8 (ratio 2, the scale-up limit max(2 x 4, 4) = 8); while the new pods start
    # they report nothing and count as 0 (ratio 1: no change); once ready each has 50.
    assert [int(r["desired_replicas"]) for r in rows[:3]] == [8, 8, 8]
    assert {int(r["desired_replicas"]) for r in rows} == {8}
    assert float(rows[0]["http_requests_waiting_current"]) == 100
    assert float(rows[-1]["http_requests_waiting_current"]) == 50
    assert int(rows[-1]["ready_pods"]) == 8
    assert summary["secondsAboveLatencyTarget"] is None
    assert summary["podHours"] == pytest.approx(8 * len(rows) * 15 / 3600)
    assert summary["periods"][0]["qps"] == [400, 400]


def test_csv_without_replicas_replays_the_values_as_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = _write_csv(tmp_path / "h.csv", _rows(30, http_requests_waiting=100))
    code, summary, rows, err = _simulate(
        capsys,
        tmp_path,
        "--timeline",
        str(history),
        "--hpa",
        str(_hpa(tmp_path)),
        "--initial-replicas",
        "4",
    )
    assert code == 0, err
    # Open loop: the queue never shrinks, so the HPA doubles (once the new pods are ready
    # and report 100 too) until maxReplicas.
    desired = [int(r["desired_replicas"]) for r in rows]
    assert desired[0] == 8 and desired[-1] == 20
    assert desired == sorted(desired)
    assert summary["peakReplicas"] == 20


def test_json_is_read_like_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(20, replicas=4, http_requests_waiting=100)
    rows[5]["http_requests_waiting"] = None  # a gap: the last value holds
    csv_rows = [{**r, "http_requests_waiting": r["http_requests_waiting"] or ""} for r in rows]
    hpa = str(_hpa(tmp_path))
    (tmp_path / "h.json").write_text(json.dumps(rows))
    _write_csv(tmp_path / "h.csv", csv_rows)
    results = []
    for name in ("h.json", "h.csv"):
        code, summary, out, err = _simulate(
            capsys,
            tmp_path,
            "--timeline",
            str(tmp_path / name),
            "--hpa",
            hpa,
            "--initial-replicas",
            "4",
        )
        assert code == 0, err
        results.append(([r["desired_replicas"] for r in out], summary["podHours"]))
    assert results[0] == results[1]
    timeline = read_file(tmp_path / "h.json")
    assert timeline.value_at("http_requests_waiting", START.timestamp() + 5 * 60 + 30) == 100
    assert timeline.value_at("http_requests_waiting", START.timestamp() - 1) is None


def test_cpu_utilization_column_is_percent_of_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = _write_csv(tmp_path / "h.csv", _rows(10, replicas=2, cpu=140))
    code, _, rows, err = _simulate(
        capsys,
        tmp_path,
        "--timeline",
        str(history),
        "--hpa",
        str(_hpa(tmp_path, CPU_HPA)),
        "--initial-replicas",
        "2",
    )
    assert code == 0, err
    # 140% on 2 pods is 280% of one request: 4 pods at 70%.
    assert float(rows[0]["cpu_current"]) == 140
    assert {int(r["desired_replicas"]) for r in rows} == {4}
    assert float(rows[-1]["cpu_current"]) == 70


def test_before_the_first_sample_the_metric_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(10, http_requests_waiting=100)
    for row in rows[:3]:
        row["http_requests_waiting"] = ""
    history = _write_csv(tmp_path / "h.csv", rows)
    code, _, out, err = _simulate(
        capsys,
        tmp_path,
        "--timeline",
        str(history),
        "--hpa",
        str(_hpa(tmp_path)),
        "--initial-replicas",
        "4",
        "--start",
        "2026-01-05T00:00:00Z",
    )
    assert code == 0, err
    # The first 3 minutes have no value: the HPA cannot compute and holds 4 replicas.
    assert {r["limit"] for r in out[:12]} == {"FailedGetPodsMetric"}
    assert {int(r["desired_replicas"]) for r in out[:12]} == {4}
    assert int(out[12]["desired_replicas"]) == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "time,replicas\n2026-01-05T00:00:00Z,3\n",
            "no column for the HPA's metric(s) http_requests_waiting (columns: replicas)",
        ),
        ("when,http_requests_waiting\n1,2\n", "line 1: the header needs a `time` column"),
        (
            "time,http_requests_waiting\n2026-01-05T00:00:00Z,1\nyesterday,2\n",
            "line 3: time: not a time: 'yesterday'",
        ),
        ("time,http_requests_waiting\n2026-01-05T00:00:00,1\n", "has no time zone"),
        (
            "time,http_requests_waiting\n1767571200,lots\n",
            "line 2: http_requests_waiting: not a number: 'lots'",
        ),
        ("time,http_requests_waiting\n1767571200,1,2\n", "line 2: more cells than the header"),
        ("time,http_requests_waiting\n", "no samples"),
    ],
)
def test_bad_csv_is_one_line_and_exit_2(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "h.csv"
    history.write_text(content)
    code, _, _, err = _simulate(
        capsys, tmp_path, "--timeline", str(history), "--hpa", str(_hpa(tmp_path))
    )
    assert code == 2
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"time": 1}', "expected a list"),
        ("[1, 2]", "row 0: not an object"),
        ('[{"t": 1}]', "row 0: has no `time`"),
        ('[{"time": 1, "http_requests_waiting": true}]', "not a number: True"),
        ("[{", "not JSON"),
    ],
)
def test_bad_json_is_named(content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text(content)
    with pytest.raises(TimelineError, match=message.replace("(", r"\(")):
        read_file(path)


# --- Prometheus -------------------------------------------------------------------------------

WAITING_AVG = 'http_requests_waiting=avg(http_requests_waiting{namespace="ai-platform"})'
WAITING_COUNT = 'replicas=count(http_requests_waiting{namespace="ai-platform"})'


def _window(hours_ago: float, hours: float) -> tuple[str, str]:
    """A range inside the constant data (6 hours back to 3 ahead), aligned to 15 s."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=hours_ago)
    start -= timedelta(seconds=start.second % 15)
    return start.isoformat(), (start + timedelta(hours=hours)).isoformat()


def test_prometheus_range_queries_drive_the_hpa(
    prometheus_constant: ConstantData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = _window(2, 0.5)
    code, summary, rows, err = _simulate(
        capsys,
        tmp_path,
        "--prometheus-url",
        prometheus_constant.url,
        "--start",
        start,
        "--end",
        end,
        "--query",
        WAITING_AVG,
        "--query",
        WAITING_COUNT,
        "--hpa",
        str(_hpa(tmp_path, target="10")),
        "--initial-replicas",
        "3",
    )
    assert code == 0, err
    assert err == ""  # not a terminal: no progress bar
    pods = prometheus_constant.pods
    mean = sum(prometheus_constant.waiting(p) for p in pods) / len(pods)
    assert float(rows[0]["http_requests_waiting_current"]) == mean == 20
    # 20 per pod on the 3 recorded pods is 60 waiting; at 10 per pod: 6 pods.
    assert int(rows[0]["desired_replicas"]) == 6
    assert int(rows[-1]["desired_replicas"]) == 6
    assert float(rows[-1]["http_requests_waiting_current"]) == 10
    assert len(rows) == 120  # half an hour of syncs
    assert summary["source"] == f"Prometheus {prometheus_constant.url}"


def test_prometheus_long_ranges_are_read_in_pieces(prometheus_constant: ConstantData) -> None:
    start, end = _window(4, 3)
    t0, t1 = datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(end).timestamp()
    pieces = chunks(t0, t1, 1.0)
    assert len(pieces) == 2 and pieces[0][1] - pieces[0][0] == MAX_POINTS_PER_QUERY - 1
    calls = []
    timeline = read_prometheus(
        prometheus_constant.url,
        {"waiting": 'sum(http_requests_waiting{namespace="ai-platform"})'},
        t0,
        t1,
        1.0,
        lambda: calls.append(1),
    )
    series = timeline.columns["waiting"]
    # Every second once, across the seam between the two range queries.
    assert len(calls) == 2
    assert series.times == tuple(float(t) for t in range(int(t0), int(t1) + 1))
    assert set(series.values) == {60.0}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("http_requests_waiting=avg(", "--query http_requests_waiting: Prometheus refused it"),
        (
            'http_requests_waiting=http_requests_waiting{namespace="ai-platform"}',
            "--query http_requests_waiting: 3 series; aggregate them to one",
        ),
        ("http_requests_waiting=avg(no_such_metric)", "no data between --start and --end"),
        ("http_requests_waiting", "expected NAME=PROMQL"),
    ],
)
def test_prometheus_bad_queries_are_exit_2(
    query: str,
    message: str,
    prometheus_constant: ConstantData,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    start, end = _window(2, 0.1)
    code, _, _, err = _simulate(
        capsys,
        tmp_path,
        "--prometheus-url",
        prometheus_constant.url,
        "--start",
        start,
        "--end",
        end,
        "--query",
        query,
        "--hpa",
        str(_hpa(tmp_path)),
    )
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_unreachable_prometheus_is_exit_1(
    free_port: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = _window(2, 0.1)
    code, _, _, err = _simulate(
        capsys,
        tmp_path,
        "--prometheus-url",
        f"http://127.0.0.1:{free_port()}",
        "--start",
        start,
        "--end",
        end,
        "--query",
        WAITING_AVG,
        "--hpa",
        str(_hpa(tmp_path)),
    )
    assert code == 1
    assert "unreachable" in err and err.count("\n") == 1


def test_prometheus_needs_a_range_and_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = str(_hpa(tmp_path))
    code, _, _, err = _simulate(capsys, tmp_path, "--prometheus-url", "http://x", "--hpa", hpa)
    assert code == 2 and "needs --start and --end" in err
    code, _, _, err = _simulate(
        capsys,
        tmp_path,
        "--prometheus-url",
        "http://x",
        "--hpa",
        hpa,
        "--start",
        "2026-01-05T00:00:00Z",
        "--end",
        "2026-01-05T01:00:00Z",
    )
    assert code == 2 and "needs --query NAME=PROMQL" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only() -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        with progress("simulating", 10, stream) as bar:
            for _ in range(10):
                bar.advance()
    assert "simulating" in terminal.getvalue()
    assert pipe.getvalue() == ""
