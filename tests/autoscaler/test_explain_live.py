"""`surge explain` end to end: the Kubernetes API stand-in, a running Surge serving the
metrics groups from the real `prometheus_constant` Prometheus, and a proxy between them
standing in for kube-apiserver's aggregator (explain_fixtures.add_aggregator_proxy).

The HPA reads a Pods, an Object and an External metric, all through Surge; Resource
metrics (metrics.k8s.io, which Surge does not serve yet) are covered by test_explain.py.
Expected values come from the constant data's model (tests.support.oracle).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from autoscaler.explain import run
from surge.demo.data import write_objects_yaml
from tests.autoscaler.explain_fixtures import (
    NS,
    P99_5,
    WAITING_50,
    add_aggregator_proxy,
    hpa,
    seed_objects,
)
from tests.support.kube_standin import KubeStandin
from tests.support.oracle import ConstantData
from tests.support.surge_process import SurgeProcess

ROOT = Path(__file__).resolve().parents[2]
SEED_RULES = ROOT / "deploy" / "config" / "seed-rules.yaml"
EXTERNAL_WAITING = {
    "type": "External",
    "external": {
        "metric": {"name": "ai_service_requests_waiting_total"},
        "target": {"type": "AverageValue", "averageValue": "50"},
    },
}


@pytest.fixture
def surge_server(tmp_path: Path, prometheus_constant: ConstantData) -> Iterator[str]:
    """`surge serve` on a free loopback port, stopped at the end of the test."""
    objects = tmp_path / "objects.yaml"
    write_objects_yaml(objects, prometheus_constant.pods)
    with SurgeProcess(
        tmp_path,
        f"--config={SEED_RULES}",
        f"--prometheus-url={prometheus_constant.url}",
        f"--objects={objects}",
        "--metrics-max-age=6h",
    ) as surge:
        yield surge.url


@pytest.fixture
async def standin(
    surge_server: str, prometheus_constant: ConstantData
) -> AsyncIterator[KubeStandin]:
    server = KubeStandin()
    add_aggregator_proxy(server.app, surge_server)
    async with server:
        for obj in seed_objects(prometheus_constant.pods):
            server.add(obj)
        yield server


async def _explain(standin: KubeStandin, tmp_path: Path, target: str) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    code = await run(target, str(kubeconfig), "json", out, err)
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


async def test_explain_reads_every_metric_through_the_aggregator(
    standin: KubeStandin, prometheus_constant: ConstantData, tmp_path: Path
) -> None:
    data = prometheus_constant
    pods = data.pods
    status = {"currentReplicas": 3, "desiredReplicas": 3}
    standin.add(hpa("ai-service-mixed", [WAITING_50, P99_5, EXTERNAL_WAITING], status))
    body = await _explain(standin, tmp_path, f"{NS}/ai-service-mixed")
    waiting, p99, external = body["metrics"]
    assert all(m["error"] is None for m in body["metrics"]), body["metrics"]

    # Pods: the mean of the pods' gauges, 10, 20, 30 -> 20; ceil(3 x 20 / 50) = 2.
    mean_waiting = sum(data.waiting(p) for p in pods) / len(pods)
    assert waiting["current"] == mean_waiting == 20
    assert waiting["proposal"] == 2
    # Object: the Deployment's p99 from the histogram (Surge keeps milli-units).
    expected_p99 = data.latency_quantile(0.99, pods)
    assert p99["current"] == pytest.approx(expected_p99, abs=0.001)
    ratio = expected_p99 / 5
    expected = 3 if abs(ratio - 1) <= 0.1 else math.ceil(ratio * 3)
    assert p99["proposal"] == expected
    # External: the namespace's waiting requests summed by service (60), per pod 20;
    # ceil(60 / 50) = 2.
    assert external["current"] == pytest.approx(sum(data.waiting(p) for p in pods) / 3)
    assert external["proposal"] == 2
    # No behavior: the largest proposal, within the fixed scale-up limit, min 2 and max 20.
    largest = max(2, expected)
    assert body["proposal"] == largest
    winner = next(m for m in body["metrics"] if m["winner"])
    assert winner["proposal"] == largest
    assert body["desiredReplicas"] == min(largest, 6)  # max(2 x 3, 4): the scale-up limit


async def test_an_unknown_metric_is_surges_404_through_the_proxy(
    standin: KubeStandin, tmp_path: Path
) -> None:
    missing = {
        "type": "Pods",
        "pods": {
            "metric": {"name": "no_such_metric"},
            "target": {"type": "AverageValue", "averageValue": "1"},
        },
    }
    standin.add(hpa("ai-service-missing", [WAITING_50, missing]))
    body = await _explain(standin, tmp_path, f"{NS}/ai-service-missing")
    row = body["metrics"][1]
    assert row["proposal"] is None
    assert "no_such_metric" in row["error"]
    # The valid metric proposes 2 < 3 with one invalid: no decision, replicas stay.
    assert body["proposal"] is None and body["desiredReplicas"] == 3
