"""`surge capacity fit`: history simulated from a known capacity file fits back to it (p99
within 10% over the covered load), with the covered range, the error and maxQps stated;
`surge simulate --csv`'s own file is such a history as it is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from autoscaler.simulation.capacity import parse, read_file
from autoscaler.simulation.fit import from_simulation
from autoscaler.simulation.simulate import ScenarioSource, Settings, load_hpa, simulate
from autoscaler.simulation.timeline import Series, Timeline
from autoscaler.simulation.traffic import TraceTraffic
from surge.cli import main as cli

T0 = 1_767_571_200.0
KNOWN = {
    "kind": "Capacity",
    "readyDelaySeconds": 40,
    "cpuRequestCores": 1.0,
    "memoryRequestBytes": 2147483648,
    "maxQps": 105,
    "points": [
        {"qps": 0, "p99Seconds": 2.0, "waiting": 0, "cpuCores": 0.05, "memoryBytes": 6e8},
        {"qps": 60, "p99Seconds": 2.5, "waiting": 20, "cpuCores": 0.5, "memoryBytes": 6.2e8},
        {"qps": 90, "p99Seconds": 4.0, "waiting": 45, "cpuCores": 0.8, "memoryBytes": 6.6e8},
        {"qps": 105, "p99Seconds": 9.0, "waiting": 80, "cpuCores": 0.95, "memoryBytes": 7e8},
    ],
}
# Four pods, whatever the load: the history then covers a wide range of load per pod.
FIXED_HPA = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: fixed, namespace: ns}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: svc}
  minReplicas: 4
  maxReplicas: 4
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
"""


HOURS = 6 * 3600


def _history(tmp_path: Path, peak_qps: float) -> Path:
    """Six hours ramping from 20 QPS to `peak_qps` on four pods, in the documented columns."""
    cap = parse(KNOWN, "known")
    trace = TraceTraffic((T0, T0 + HOURS), (20.0, peak_qps))
    hpa = load_hpa(FIXED_HPA, "hpa")
    run = simulate(hpa, ScenarioSource(trace, cap), T0, T0 + HOURS, Settings(), cap, 4)
    lines = ["time,qps,replicas,p99_seconds,waiting,cpu,memory"]
    for s in run.steps:
        load = s.load
        assert load is not None
        cores = load.cpu_percent / 100 * cap.cpu_request_cores
        lines.append(
            f"{s.time:.0f},{s.qps},{s.ready},{s.p99_seconds},{load.waiting},{cores},"
            f"{load.memory_bytes}"
        )
    path = tmp_path / "history.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _simulated(tmp_path: Path, peak_qps: float) -> Path:
    """The same six hours written by `surge simulate --traffic ... --csv`."""
    steps = 36  # a sample every 10 minutes: the trace is linear between them
    rows = [f"{T0 + HOURS * i / steps:.0f},{20 + (peak_qps - 20) * i / steps}" for i in range(37)]
    trace = tmp_path / "trace.csv"
    trace.write_text("time,qps\n" + "\n".join(rows) + "\n")
    cap = tmp_path / "known.yaml"
    cap.write_text(yaml.safe_dump(KNOWN))
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(FIXED_HPA)
    path = tmp_path / "simulated.csv"
    argv = ["simulate", "--traffic", str(trace), "--capacity", str(cap), "--hpa", str(hpa)]
    # The six hours end on the last sample (without --end it would hold its 10 minutes).
    argv += ["--end", str(T0 + HOURS), "--initial-replicas", "4", "--plot", "", "--csv", str(path)]
    assert cli(argv) == 0
    return path


def _fit(capsys: pytest.CaptureFixture[str], tmp_path: Path, history: Path) -> tuple[str, Path]:
    out = tmp_path / "fitted.yaml"
    code = cli(
        ["capacity", "fit", "--timeline", str(history), "--cpu-request", "1", "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out, out


@pytest.mark.parametrize("write", [_history, _simulated], ids=["columns", "simulate-csv"])
def test_history_fits_back_to_the_capacity_it_came_from(
    write: Callable[[Path, float], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write(tmp_path, 400.0)
    capsys.readouterr()
    printed, path = _fit(capsys, tmp_path, history)
    fitted, known = read_file(str(path)), parse(KNOWN, "known")
    low, high = fitted.qps[0], fitted.qps[-1]
    assert low == pytest.approx(5, abs=0.1) and high == pytest.approx(100, abs=0.1)
    assert "per-pod load 5.0-99.9 QPS" in printed  # the last sync is 15 s before the end
    for i in range(101):
        q = low + (high - low) * i / 100
        truth = known.curve("p99Seconds", q)
        assert fitted.curve("p99Seconds", q) == pytest.approx(truth, rel=0.10), q
        assert fitted.curve("waiting", q) == pytest.approx(known.curve("waiting", q), abs=1.0)
        for curve in ("cpuCores", "memoryBytes"):
            assert fitted.curve(curve, q) == pytest.approx(known.curve(curve, q), rel=0.02), q
    # p99 reaches 3x its light-load 2 s (6 s) between the 90 and 105 points: maxQps found.
    assert fitted.max_qps is not None and 90 < fitted.max_qps <= 100
    assert "maxQps: 9" in printed and "EXTRAPOLATED" not in printed
    assert "p99Seconds: fit error" in printed


def test_history_that_never_turns_up_states_max_qps_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed, path = _fit(capsys, tmp_path, _history(tmp_path, 280.0))
    assert read_file(str(path)).max_qps is None
    assert "maxQps: unknown" in printed and "EXTRAPOLATED past 70.0 QPS per pod" in printed
    assert "maxQps: null" in path.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,qps,p99_seconds\n1,2,3\n", "no column replicas"),
        ("time,qps,replicas,p99_seconds\n1,2,1,3\n2,2,1,3\n", "2 usable samples"),
    ],
)
def test_history_that_cannot_be_fitted_is_named(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "h.csv"
    history.write_text(content)
    code = cli(["capacity", "fit", "--timeline", str(history), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err
    assert not (tmp_path / "o").exists()


def test_a_simulation_counts_its_ready_pods_and_cpu_of_the_request() -> None:
    """Starting pods carry no traffic: `ready_pods`, not `replicas`, divides the load; CPU
    percent becomes cores of the request the fit is given."""

    def series(*values: float) -> Series:
        return Series((T0, T0 + 15), values)

    simulated = Timeline(
        {
            "qps": series(100, 120),
            "replicas": series(5, 5),
            "ready_pods": series(4, 5),
            "cpu_percent": series(50, 80),
            "waiting_per_pod": series(3, 4),
            "memory_bytes": series(6e8, 7e8),
        },
        "run.csv",
    )
    mapped = from_simulation(simulated, cpu_request_cores=0.5)
    assert mapped.columns["replicas"].values == (4, 5)
    assert mapped.columns["cpu"].values == (0.25, 0.4)
    assert mapped.columns["waiting"].values == (3, 4)
    assert mapped.columns["memory"].values == (6e8, 7e8)
    documented = Timeline({"qps": series(1, 2), "replicas": series(5, 5)}, "h.csv")
    assert from_simulation(documented, 0.5) is documented
