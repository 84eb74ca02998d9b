"""`surge explain` on a live HPA agrees with what the real controller wrote in its status."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.e2e.cluster import Cluster, wait_for
from tests.e2e.exporter import Load
from tests.e2e.workload import GIB, Workload, example_hpa

pytestmark = pytest.mark.timeout(300)

STEADY = Load(waiting=200, cpu_cores=1.6, memory_bytes=2 * GIB)  # 200 / 50 = 4 pods


def explain(cluster: Cluster, target: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "surge",
            "explain",
            target,
            f"--kubeconfig={cluster.kubeconfig}",
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_explain_agrees_with_the_controller(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    workload.create(STEADY)
    workload.apply_hpa(example_hpa("queue", workload.namespace))
    workload.wait_replicas(lambda r: r == 4, 90, "ai-service at 200 / 50 = 4")
    workload.wait_ready(4, timeout_s=60)
    target = f"{workload.namespace}/{workload.hpa_name}"

    def explained() -> dict[str, object] | None:
        done = explain(cluster, target, "-o", "json")
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        rows = answer["metrics"]
        # The controller's status is from its last sync; wait for one where all three
        # metrics were read at 4 pods.
        if answer["status"]["desiredReplicas"] != 4 or any(
            r["statusCurrent"] is None for r in rows
        ):
            return None
        return dict(answer)

    answer = wait_for(explained, 60, "an explanation of the settled HPA", interval_s=2)
    status = workload.hpa()["status"]
    assert answer["desiredReplicas"] == status["desiredReplicas"] == 4
    assert answer["status"]["currentReplicas"] == status["currentReplicas"] == 4
    assert str(answer["agreement"]).startswith("agrees"), answer["agreement"]
    rows = {r["name"]: r for r in answer["metrics"]}  # type: ignore[union-attr]
    assert set(rows) == {"cpu", "memory", "http_requests_waiting"}
    for name, row in rows.items():
        assert row["agreesWithStatus"] is True, (name, row)
        assert row["error"] is None, (name, row)
    assert rows["http_requests_waiting"]["current"] == pytest.approx(50)
    assert rows["http_requests_waiting"]["winner"] is True
    conditions = {c["type"]: c for c in answer["conditions"]}  # type: ignore[union-attr]
    assert conditions["ScalingActive"]["agrees"], conditions["ScalingActive"]

    table = explain(cluster, target)
    assert table.returncode == 0, table.stderr
    say(f"$ surge explain {target}\n{table.stdout}")
    assert "http_requests_waiting" in table.stdout
