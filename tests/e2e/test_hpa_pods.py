"""The seed's first HPA, complete (deploy/examples/ai-service/queue): requests waiting per
pod (Pods, AverageValue 50) from custom.metrics.k8s.io, CPU 70% and memory 80% from
Surge's metrics.k8s.io, the seed's behavior with its windows compressed 12x. The real HPA
controller scales the Deployment; the test reads what the cluster reports."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from apiservice.quantity import Quantity
from tests.e2e.cluster import NODES, Cluster, wait_for
from tests.e2e.exporter import NODE_BASE_CPU, Load
from tests.e2e.workload import (
    GIB,
    TIME_COMPRESSION,
    Workload,
    assert_scale_down_within,
    assert_scale_up_within,
    example_hpa,
)

pytestmark = pytest.mark.timeout(420)

MIB = 2**20
# 10 waiting per pod, 20% CPU, 25% memory: every metric proposes fewer than minReplicas.
QUIET = Load(waiting=20, cpu_cores=0.8, memory_bytes=1 * GIB)
# 600 waiting in all: 600 / 50 = 12 pods; CPU 6 cores in all (25% of 12 x 2 cores);
# memory 62.5% of each pod's 4 GiB.
BUSY = Load(waiting=600, cpu_cores=6.0, memory_bytes=2560 * MIB)
PERIOD_S = 60 // TIME_COMPRESSION  # the seed's 60s policy periods
STABILIZATION_S = 300 // TIME_COMPRESSION  # the seed's 300s scale-down window


def current_metrics(workload: Workload) -> dict[str, dict[str, object]]:
    """status.currentMetrics by metric name (cpu, memory, http_requests_waiting)."""
    out = {}
    for m in workload.hpa().get("status", {}).get("currentMetrics") or []:
        source = m.get("resource") or m.get("pods") or {}
        name = source.get("name") or source.get("metric", {}).get("name")
        out[name] = source["current"]
    return out


def reads(workload: Workload, waiting: int, cpu: int, memory: int) -> bool:
    """The HPA's last sync read these: waiting per pod, CPU (±1 point) and memory (% of
    requests)."""
    m = current_metrics(workload)
    if len(m) != 3:
        return False
    average = Quantity.parse(str(m["http_requests_waiting"]["averageValue"]))
    return (
        average.milli_value() == waiting * 1000
        and abs(int(str(m["cpu"]["averageUtilization"])) - cpu) <= 1
        and m["memory"]["averageUtilization"] == memory
    )


def test_queue_hpa_scales_up_and_down(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    workload.create(QUIET)
    workload.apply_hpa(example_hpa("queue", workload.namespace))

    # CPU comes from counters through irate(), a scrape behind the gauges and moved a point
    # or so by scrape timing: wait for a sync that read all three as set.
    wait_for(lambda: reads(workload, waiting=10, cpu=20, memory=25), 90, "the quiet readings")
    assert workload.condition("ScalingActive")["status"] == "True"
    assert workload.replicas() == 2

    busy_at = workload.set_load(BUSY, "load: 600 waiting, 6 cores, 2.5 GiB/pod")
    workload.wait_replicas(lambda r: r == 12, 120, "ai-service scaled to 12")
    workload.wait_ready(12, timeout_s=60)
    rises = [s.replicas for s in workload.history.changes() if s.at_s > busy_at]
    # First sync after the load: the proposal is 12, the policies allow max(2x2, 2+4) = 6;
    # a sync that reads the new CPU before the new queue proposes ceil(150/70 x 2) = 5.
    assert rises[0] in (5, 6), rises
    assert_scale_up_within(workload.history, busy_at, PERIOD_S, pods=4)

    wait_for(lambda: reads(workload, waiting=50, cpu=25, memory=62), 60, "the readings at 12")
    described = workload.describe()
    say(f"$ kubectl describe hpa {workload.hpa_name} -n {workload.namespace}\n{described}")
    assert re.search(r'"http_requests_waiting" on pods:\s+50 / 50', described), described
    assert re.search(r"resource cpu on pods .*: +2[456]% \(\d+m\) / 70%", described), described
    assert re.search(r"resource memory on pods .*: +62% \(2560Mi\) / 80%", described), described

    def top_all() -> str | None:
        """kubectl top once every pod has a sample: the HPA's average reads as set as soon
        as the first pods have theirs, the newest pods' cAdvisor series come a scrape later."""
        out = cluster.kubectl("top", "pod", "-n", workload.namespace, "--no-headers").stdout
        return out if len(out.splitlines()) == 12 else None

    top_pods = wait_for(top_all, 60, "kubectl top listing the 12 pods")
    say(f"$ kubectl top pod -n {workload.namespace}\n{top_pods}")
    rows = [line.split() for line in top_pods.splitlines()]
    assert len(rows) == 12
    for _pod, cpu, memory in rows:
        assert Quantity.parse(cpu).milli_value() == pytest.approx(500, rel=0.03)
        assert memory == "2560Mi"

    top_nodes = cluster.kubectl("top", "node", "--no-headers").stdout
    say(f"$ kubectl top node\n{top_nodes}")
    nodes = {row.split()[0]: row.split()[1:] for row in top_nodes.splitlines()}
    assert set(nodes) == set(NODES)
    total_cpu = sum(Quantity.parse(cols[0]).milli_value() for cols in nodes.values())
    # Only this scenario has load now: the nodes' own use plus the 12 pods' 6 cores.
    assert total_cpu == pytest.approx(
        1000 * (NODE_BASE_CPU * len(NODES) + BUSY.cpu_cores), rel=0.02
    )

    quiet_at = workload.set_load(QUIET, "load: 20 waiting, 0.8 cores, 1 GiB/pod")
    workload.wait_replicas(lambda r: r == 2, 180, "ai-service back to minReplicas 2")
    falls = [s for s in workload.history.changes() if s.at_s > quiet_at]
    # Nothing falls before the stabilization window has passed since the load dropped.
    assert falls[0].at_s - quiet_at >= STABILIZATION_S - 1, falls
    assert len(falls) > 1, falls  # 20% per period: several steps, never 12 -> 2 at once
    assert_scale_down_within(workload.history, quiet_at, PERIOD_S, percent=20)
