"""`surge explain` on a live HPA agrees with what the real controller wrote in its status.

This cluster runs the HPA with a compressed clock (controlplane.HPA_OPTIONS): the library
is called with those options, and the command is given them as flags
(`--cpu-initialization-period`, `--downscale-stabilization`); both must agree with the
controller on every metric.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import config as kube_config

from adapter.objects import KubeAPI
from autoscaler import explain as explain_lib
from tests.e2e.cluster import Cluster, wait_for
from tests.e2e.controlplane import HPA_OPTIONS
from tests.e2e.exporter import Load
from tests.e2e.workload import GIB, Workload, example_hpa

pytestmark = pytest.mark.timeout(300)

STEADY = Load(waiting=200, cpu_cores=1.6, memory_bytes=2 * GIB)  # 200 / 50 = 4 pods


def explain_command(cluster: Cluster, target: str, *flags: str) -> subprocess.CompletedProcess[str]:
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


def explain_with_cluster_options(kubeconfig: Path, namespace: str, name: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        api = KubeAPI(await kube_config.new_client_from_config(config_file=str(kubeconfig)))
        try:
            fetched = await explain_lib.fetch(api, namespace, name)
        finally:
            await api.client.close()
        return explain_lib.explain(fetched, datetime.now(UTC), HPA_OPTIONS).as_json()

    return asyncio.run(run())


def settled(answer: dict[str, Any]) -> bool:
    """The controller's last sync read all three metrics at 4 pods."""
    return answer["status"]["desiredReplicas"] == 4 and all(
        r["statusCurrent"] is not None for r in answer["metrics"]
    )


def test_explain_agrees_with_the_controller(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    workload.create(STEADY)
    workload.apply_hpa(example_hpa("queue", workload.namespace))
    workload.wait_replicas(lambda r: r == 4, 90, "ai-service at 200 / 50 = 4")
    workload.wait_ready(4, timeout_s=60)
    target = f"{workload.namespace}/{workload.hpa_name}"
    assert workload.hpa_name

    def ours() -> dict[str, Any] | None:
        answer = explain_with_cluster_options(
            cluster.kubeconfig, workload.namespace, workload.hpa_name or ""
        )
        rows = {r["name"]: r for r in answer["metrics"]}
        return answer if settled(answer) and rows["cpu"]["current"] is not None else None

    answer = wait_for(ours, 60, "an explanation of the settled HPA", interval_s=2)
    status = workload.hpa()["status"]
    assert answer["desiredReplicas"] == status["desiredReplicas"] == 4
    assert answer["status"]["currentReplicas"] == status["currentReplicas"] == 4
    assert answer["agreement"].startswith("agrees"), answer["agreement"]
    rows = {r["name"]: r for r in answer["metrics"]}
    assert set(rows) == {"cpu", "memory", "http_requests_waiting"}
    for name, row in rows.items():
        assert row["agreesWithStatus"] is True, (name, row)
    assert rows["http_requests_waiting"]["current"] == pytest.approx(50)
    assert rows["http_requests_waiting"]["winner"] is True
    conditions = {c["type"]: c for c in answer["conditions"]}
    assert conditions["ScalingActive"]["agrees"], conditions["ScalingActive"]

    # The command, as a person runs it, told the controller's flags of this cluster.
    flags = (
        f"--cpu-initialization-period={HPA_OPTIONS.cpu_initialization_period_seconds:g}s",
        f"--downscale-stabilization={HPA_OPTIONS.downscale_stabilization_window_seconds}s",
    )
    done = explain_command(cluster, target, "-o", "json", *flags)
    assert done.returncode == 0, done.stderr
    command = json.loads(done.stdout)
    assert command["desiredReplicas"] == status["desiredReplicas"]
    assert command["agreement"].startswith("agrees"), command["agreement"]
    by_name = {r["name"]: r for r in command["metrics"]}
    for name in ("cpu", "memory", "http_requests_waiting"):
        assert by_name[name]["agreesWithStatus"] is True, by_name[name]

    table = explain_command(cluster, target, *flags)
    assert table.returncode == 0, table.stderr
    say(f"$ surge explain {target}\n{table.stdout}")
    assert "http_requests_waiting" in table.stdout
