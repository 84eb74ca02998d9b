"""The seed's second HPA (Object: the Deployment's p99 LLM latency, Value 5, from the
histogram rule) and the External-metric HPA (the service's whole queue, AverageValue 50),
each alone on its own ai-service: two HPAs on the same pods are AmbiguousSelector."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable

import pytest

from apiservice.quantity import Quantity
from tests.e2e.cluster import Cluster, wait_for
from tests.e2e.exporter import Load
from tests.e2e.workload import (
    GIB,
    TIME_COMPRESSION,
    Workload,
    assert_scale_down_within,
    assert_scale_up_within,
    example_hpa,
)

pytestmark = pytest.mark.timeout(420)

PERIOD_S = 60 // TIME_COMPRESSION
STABILIZATION_S = 300 // TIME_COMPRESSION
TOLERANCE = 0.1


def object_value(workload: Workload) -> float | None:
    for m in workload.hpa().get("status", {}).get("currentMetrics") or []:
        if m["type"] == "Object":
            return float(Quantity.parse(m["object"]["current"]["value"]).milli_value()) / 1000
    return None


def prometheus_p99(cluster: Cluster, namespace: str) -> float:
    """The seed rule's query, asked of Prometheus directly: the independent side."""
    query = (
        "histogram_quantile(0.99, sum(rate(ai_llm_response_time_seconds_bucket"
        f'{{namespace="{namespace}",deployment="ai-service"}}[5m])) by (le, deployment))'
    )
    url = f"{cluster.prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        result = json.load(resp)["data"]["result"]
    return float(result[0]["value"][1])


def test_latency_hpa_scales_on_p99(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    # 8 LLM calls in flight over 2 pods: p99 about 2.7 s, in the (2, 3] bucket.
    workload.create(Load(waiting=0, cpu_cores=0.4, memory_bytes=1 * GIB, llm_calls=8))
    workload.apply_hpa(example_hpa("latency", workload.namespace))
    quiet = wait_for(lambda: object_value(workload), 90, "the HPA reading the p99")
    assert quiet == pytest.approx(2.99, abs=0.02)  # histogram_quantile within (2, 3]
    assert workload.replicas() == 2

    # 80 calls in flight: 40 per pod at 2 pods, p99 past 30 s (seed load test: 30 -> 22 s).
    busy_at = workload.set_load(
        Load(waiting=0, cpu_cores=0.4, memory_bytes=1 * GIB, llm_calls=80), "80 LLM calls"
    )
    workload.wait_replicas(lambda r: r > 2, 60, "a scale-up on p99 > 5 s")

    def converged() -> int | None:
        """Replicas at which the p99 the HPA reads is within tolerance of 5 s and stays."""
        value, replicas = object_value(workload), workload.replicas()
        if value is None or abs(value / 5 - 1) > TOLERANCE:
            return None
        stable = workload.history.replicas_in(workload.history.now() - 8, workload.history.now())
        return replicas if stable == [replicas] else None

    settled = wait_for(converged, 150, "the p99 back within tolerance of 5 s")
    # Each pod's share fell until the p99 met the target (seed table: 10 calls -> 5.1 s).
    assert 80 / settled < 10
    assert prometheus_p99(cluster, workload.namespace) == pytest.approx(
        object_value(workload), rel=0.1
    )
    # Without spec.behavior the controller limits each sync, not a period: at most
    # max(2 x current, 4) (horizontal.go, scaleUpLimitFactor and scaleUpLimitMinimum).
    steps = [s.replicas for s in workload.history.changes() if s.at_s > busy_at]
    before = [2, *steps]
    assert all(new <= max(2 * old, 4) for old, new in zip(before, steps, strict=False)), steps
    say(f"$ kubectl describe hpa (latency, settled at {settled})\n{workload.describe()}")

    quiet_at = workload.set_load(
        Load(waiting=0, cpu_cores=0.4, memory_bytes=1 * GIB, llm_calls=2), "2 LLM calls"
    )
    workload.wait_replicas(lambda r: r == 2, 150, "ai-service back to 2 on a low p99")
    falls = [s for s in workload.history.changes() if s.at_s > quiet_at]
    assert falls[0].at_s - quiet_at >= STABILIZATION_S - 1, falls  # kcm's compressed default


def external_value(workload: Workload) -> float | None:
    for m in workload.hpa().get("status", {}).get("currentMetrics") or []:
        if m["type"] == "External":
            return (
                float(Quantity.parse(m["external"]["current"]["averageValue"]).milli_value()) / 1000
            )
    return None


def test_external_hpa_scales_on_the_whole_queue(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    workload.create(Load(waiting=40, cpu_cores=0.4, memory_bytes=1 * GIB))
    workload.apply_hpa(example_hpa("external", workload.namespace))
    assert wait_for(lambda: external_value(workload), 90, "the external metric") == 20  # 40 / 2

    busy_at = workload.set_load(Load(waiting=300, cpu_cores=0.4, memory_bytes=1 * GIB), "queue 300")
    workload.wait_replicas(lambda r: r == 6, 90, "ai-service scaled to 300 / 50 = 6")
    assert_scale_up_within(workload.history, busy_at, PERIOD_S, pods=4)
    assert wait_for(lambda: external_value(workload) == 50, 30, "50 per pod at 6 pods")
    say(f"$ kubectl describe hpa (external)\n{workload.describe()}")

    quiet_at = workload.set_load(Load(waiting=40, cpu_cores=0.4, memory_bytes=1 * GIB), "queue 40")
    workload.wait_replicas(lambda r: r == 2, 120, "ai-service back to minReplicas 2")
    falls = [s for s in workload.history.changes() if s.at_s > quiet_at]
    assert falls[0].at_s - quiet_at >= STABILIZATION_S - 1, falls
    assert_scale_down_within(workload.history, quiet_at, PERIOD_S, percent=20)
    assert [s.replicas for s in falls] == [4, 3, 2]  # int(6 x 0.8), int(4 x 0.8), min
