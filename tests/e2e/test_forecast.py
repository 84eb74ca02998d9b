"""A forecast metric scales the Deployment before a recurring ramp, not after it.

Time is compressed: the "day" is two minutes (90 s quiet, 30 s busy), the forecast's lead
20 s, its history read every 5 s (tests/e2e/forecasts.yaml). The HPA has the live queue
(Pods, AverageValue 50) and the forecast of the whole queue (Object, AverageValue 50): in
the quiet part both say 2 pods, until the forecast sees the next busy part coming.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.exporter import Load
from tests.e2e.workload import GIB, Workload

pytestmark = pytest.mark.timeout(900)

PERIOD_S, QUIET_S, LEAD_S, CYCLES = 120, 90, 20, 3
QUIET = Load(waiting=40, cpu_cores=0.4, memory_bytes=1 * GIB)
BUSY = Load(waiting=300, cpu_cores=0.4, memory_bytes=1 * GIB)
FORECAST = "ai_service_waiting_forecast"


def _hpa(namespace: str) -> dict[str, Any]:
    target = {"type": "AverageValue", "averageValue": "50"}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "ai-service-forecast", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ai-service"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": "http_requests_waiting"}, "target": target},
                },
                {
                    "type": "Object",
                    "object": {
                        "metric": {"name": FORECAST},
                        "describedObject": {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": "ai-service",
                        },
                        "target": target,
                    },
                },
            ],
        },
    }


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def test_forecast_scales_up_before_the_ramp(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    workload.create(QUIET)
    workload.apply_hpa(_hpa(workload.namespace))
    # The season is on the epoch's grid, as the forecast's phases are.
    first = (time.time() // PERIOD_S + 1) * PERIOD_S
    _sleep_until(first)
    ramps: list[float] = []  # each busy part's start, on the history's clock
    for cycle in range(CYCLES):
        start = first + cycle * PERIOD_S
        _sleep_until(start)
        workload.set_load(QUIET, f"cycle {cycle}: quiet")
        _sleep_until(start + QUIET_S)
        ramps.append(workload.set_load(BUSY, f"cycle {cycle}: busy"))
    _sleep_until(first + CYCLES * PERIOD_S)
    workload.set_load(QUIET, "quiet")
    say(f"$ kubectl describe hpa (forecast)\n{workload.describe()}")
    # The first cycle fills the history (one season and its level window). From the
    # second on: back to 2 pods in the quiet part, then up in the lead before the ramp,
    # while the queue is still quiet.
    for ramp in ramps[1:]:
        quiet = workload.history.replicas_in(ramp - QUIET_S + 40, ramp - LEAD_S - 5)
        assert quiet[:1] == [2], (ramp, quiet, workload.history.render())
        ahead = workload.history.replicas_in(ramp - LEAD_S - 5, ramp)
        assert max(ahead) >= 4, (ramp, ahead, workload.history.render())
