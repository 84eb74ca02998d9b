"""Prometheus stops mid-run: Surge serves its last answers for --max-staleness, then 503;
the HPA holds its replicas (it never scales to minReplicas on missing data) and resumes
once Prometheus is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

import pytest

from tests.e2e.cluster import Cluster, wait_for
from tests.e2e.exporter import Load
from tests.e2e.workload import GIB, Workload, example_hpa

pytestmark = pytest.mark.timeout(360)

STEADY = Load(waiting=200, cpu_cores=0.8, memory_bytes=1 * GIB)  # 200 / 50 = 4 pods
BUSY = Load(waiting=600, cpu_cores=0.8, memory_bytes=1 * GIB)  # 12 pods
# Longer than Surge's max-staleness (10s) plus the compressed scale-down window (25s): were
# missing data read as zero, the HPA would have scaled down within it.
OUTAGE_S = 45


def test_hpa_holds_while_prometheus_is_down(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    workload.create(STEADY)
    workload.apply_hpa(example_hpa("queue", workload.namespace))
    workload.wait_replicas(lambda r: r == 4, 90, "ai-service at 200 / 50 = 4")
    wait_for(
        lambda: workload.condition("ScalingActive").get("status") == "True", 30, "ScalingActive"
    )

    down_at = workload.history.mark("Prometheus stopped")
    cluster.prometheus.stop()
    try:
        inactive = wait_for(
            lambda: (c := workload.condition("ScalingActive")).get("status") == "False" and c,
            40,
            "ScalingActive=False while the metrics cannot be read",
        )
        path = (
            f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{workload.namespace}/pods/*/"
            f"http_requests_waiting?labelSelector={quote('app=ai-service')}"
        )
        refused = cluster.kubectl("get", "--raw", path, check=False)
        say(
            f"during the outage: ScalingActive {inactive}\n"
            f"$ kubectl get --raw ...\n{refused.stderr}"
        )
        assert refused.returncode != 0
        assert "ServiceUnavailable" in refused.stderr or "503" in refused.stderr
        time.sleep(max(0.0, down_at + OUTAGE_S - workload.history.now()))
        assert workload.history.replicas_in(down_at, workload.history.now()) == [4]
        assert workload.describe().count("FailedGet") > 0
    finally:
        workload.set_load(BUSY, "Prometheus back, load: 600 waiting")
        cluster.prometheus.start()
    workload.wait_replicas(lambda r: r == 12, 120, "scaling resumed up to 600 / 50 = 12")
    assert workload.condition("ScalingActive")["status"] == "True"
