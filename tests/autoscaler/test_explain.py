"""`surge explain` against the Kubernetes API stand-in with recorded metrics answers.

The stand-in serves the HPA, the Deployment and its pods; the metrics groups (which a
real cluster serves through the aggregator) answer recorded bodies. Each expectation is
worked out by hand from the controller's rules, next to the test.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from autoscaler.explain import parse_target, run
from surge.cli import main as cli
from tests.autoscaler.explain_fixtures import (
    CPU_70,
    CUSTOM,
    EXTERNAL,
    MEMORY_80,
    NOW,
    NS,
    P99_5,
    POD_METRICS,
    PODS,
    SEED_BEHAVIOR,
    WAITING_50,
    RecordedMetrics,
    external_value_list,
    hpa,
    metric_value_list,
    pod_metrics_list,
    seed_objects,
    status_404,
)
from tests.support.kube_standin import K8S_VERSION, KubeStandin, KubeStandinThread

WAITING_PATH = f"{CUSTOM}/pods/*/http_requests_waiting"
P99_PATH = f"{CUSTOM}/deployments.apps/ai-service/ai_llm_response_time_p99_seconds"
CLOCK = datetime.fromisoformat(NOW)


@dataclass
class Cluster:
    standin: KubeStandin
    recorded: RecordedMetrics
    kubeconfig: Path

    async def explain(self, target: str, output: str = "json") -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = await run(target, str(self.kubeconfig), output, out, err, now=CLOCK)
        return code, out.getvalue(), err.getvalue()

    async def explain_json(self, target: str) -> dict[str, Any]:
        code, out, err = await self.explain(target)
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    recorded = RecordedMetrics()
    standin = KubeStandin()
    recorded.add_routes(standin.app)
    async with standin:
        for obj in seed_objects():
            standin.add(obj)
        yield Cluster(standin, recorded, standin.write_kubeconfig(tmp_path / "kubeconfig"))


def _seed_hpa_status() -> dict[str, Any]:
    return {
        "currentReplicas": 3,
        "desiredReplicas": 3,
        "lastScaleTime": "2026-01-05T11:58:00Z",
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": 45, "averageValue": "450m"},
                },
            },
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "current": {"averageUtilization": 50, "averageValue": "1Gi"},
                },
            },
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "http_requests_waiting"},
                    "current": {"averageValue": "20"},
                },
            },
        ],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "ScaleDownStabilized"},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
            {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"},
        ],
    }


def _record_seed_metrics(recorded: RecordedMetrics) -> None:
    # cpu 450m of a 1-CPU request (45%), memory 1Gi of 2Gi (50%), waiting 10/20/30 (20)
    recorded.answers[POD_METRICS] = (
        200,
        pod_metrics_list({p: {"cpu": "450m", "memory": "1Gi"} for p in PODS}),
    )
    recorded.answers[WAITING_PATH] = (
        200,
        metric_value_list(
            "http_requests_waiting", dict(zip(PODS, ("10", "20", "30"), strict=True))
        ),
    )


async def test_seed_hpa_scaling_down_inside_its_stabilization_window(cluster: Cluster) -> None:
    cluster.standin.add(
        hpa("ai-service-hpa", [CPU_70, MEMORY_80, WAITING_50], _seed_hpa_status(), SEED_BEHAVIOR)
    )
    _record_seed_metrics(cluster.recorded)
    body = await cluster.explain_json(f"{NS}/ai-service-hpa")

    # The controller's requests: pods by the Deployment's selector, for both APIs.
    assert cluster.recorded.asked(WAITING_PATH) == {"labelSelector": "app=ai-service"}
    assert cluster.recorded.asked(POD_METRICS) == {"labelSelector": "app=ai-service"}
    # cpu and memory share one PodMetrics list, as the controller's lister does.
    assert [p for p, _ in cluster.recorded.seen].count(POD_METRICS) == 1
    assert body["scale"] == {
        "replicas": 3,
        "selector": "app=ai-service",
        "source": "Deployment spec (no /scale served)",
    }
    # cpu 45/70 -> ceil(3 x 0.643) = 2; memory 50/80 -> ceil(1.875) = 2; waiting 20/50 ->
    # ceil(1.2) = 2. The first largest proposal wins: cpu.
    rows = {m["name"]: m for m in body["metrics"]}
    assert [(m["name"], m["current"], m["proposal"]) for m in body["metrics"]] == [
        ("cpu", 45.0, 2),
        ("memory", 50.0, 2),
        ("http_requests_waiting", 20.0, 2),
    ]
    assert rows["cpu"]["winner"] and not rows["memory"]["winner"]
    assert rows["cpu"]["ratio"] == pytest.approx(45 / 70)
    assert rows["cpu"]["target"] == {"type": "Utilization", "value": 70.0}
    assert all(m["agreesWithStatus"] for m in body["metrics"])
    # Settled: 3 -> 2 is within the scale-down policy (int(3 x 0.8) = 2) and minReplicas.
    # Without memory the window holds 3; the status (3) lies between: consistent.
    assert body["proposal"] == 2
    assert body["desiredReplicas"] == 2
    assert body["desiredReplicasWithoutMemory"] == 3
    assert body["agreement"].startswith("consistent")
    assert len(body["limits"]) == 1 and body["limits"][0].startswith("stabilization window (300 s)")
    conditions = {c["type"]: c for c in body["conditions"]}
    assert conditions["AbleToScale"]["ours"]["reason"] == "SucceededRescale"
    assert not conditions["AbleToScale"]["agrees"]
    assert conditions["ScalingActive"]["agrees"] and conditions["ScalingLimited"]["agrees"]
    assert any("120 s ago" in note for note in body["memory"])


async def test_table_on_stdout_names_the_winner_and_the_limit(cluster: Cluster) -> None:
    cluster.standin.add(
        hpa("ai-service-hpa", [CPU_70, MEMORY_80, WAITING_50], _seed_hpa_status(), SEED_BEHAVIOR)
    )
    _record_seed_metrics(cluster.recorded)
    code, out, err = await cluster.explain(f"{NS}/ai-service-hpa", output="table")
    assert code == 0, err
    assert "\x1b[" not in out  # not a terminal: no colours
    lines = out.splitlines()
    cpu = next(line for line in lines if line.strip().startswith("Resource cpu"))
    assert "Utilization 70%" in cpu and "45%" in cpu and "wins" in cpu
    assert "desired replicas: 2 (a controller without memory holds 3)" in out
    assert "limited by stabilization window (300 s)" in out
    assert "HPA status: consistent" in out


async def test_latency_object_metric_scales_up_to_the_ratio(cluster: Cluster) -> None:
    status = {"currentReplicas": 3, "desiredReplicas": 5}
    cluster.standin.add(hpa("ai-service-hpa-latency", [P99_5], status))
    cluster.recorded.answers[P99_PATH] = (
        200,
        metric_value_list(
            "ai_llm_response_time_p99_seconds", {"ai-service": "7500m"}, kind="Deployment"
        ),
    )
    body = await cluster.explain_json(f"{NS}/ai-service-hpa-latency")
    assert cluster.recorded.asked(P99_PATH) == {}
    # 7.5 / 5 = 1.5 -> ceil(1.5 x 3 ready pods) = 5; no behavior: the fixed scale-up limit
    # is max(2 x 3, 4) = 6, so 5 stands, with or without memory.
    (row,) = body["metrics"]
    assert (row["current"], row["ratio"], row["proposal"]) == (7.5, 1.5, 5)
    assert row["statusCurrent"] is None and row["agreesWithStatus"] is None
    assert body["desiredReplicas"] == body["desiredReplicasWithoutMemory"] == 5
    assert body["limits"] == []
    assert body["agreement"] == "agrees: status.desiredReplicas is 5"
    assert any("never rescaled" in note for note in body["memory"])


async def test_a_failed_metric_blocks_the_scale_down(cluster: Cluster) -> None:
    cluster.standin.add(
        hpa("ai-service-hpa", [CPU_70, MEMORY_80, WAITING_50], _seed_hpa_status(), SEED_BEHAVIOR)
    )
    _record_seed_metrics(cluster.recorded)
    message = "the server could not find the metric http_requests_waiting for pods"
    cluster.recorded.answers[WAITING_PATH] = (404, status_404(message))
    body = await cluster.explain_json(f"{NS}/ai-service-hpa")
    # The valid metrics propose 2 < 3 replicas while one metric failed: the controller
    # does not scale (invalid metrics block a scale-down) and says why.
    waiting = body["metrics"][2]
    assert waiting["proposal"] is None and waiting["error"] == message
    assert not any(m["winner"] for m in body["metrics"])
    assert body["proposal"] is None
    assert body["desiredReplicas"] == 3
    active = next(c for c in body["conditions"] if c["type"] == "ScalingActive")
    assert active["ours"]["status"] == "False"
    assert active["ours"]["reason"] == "FailedGetPodsMetric"
    assert not active["agrees"]


async def test_external_metric_selector_and_per_pod_target(cluster: Cluster) -> None:
    metric = {
        "type": "External",
        "external": {
            "metric": {
                "name": "ai_service_requests_waiting_total",
                "selector": {"matchLabels": {"service": "ai-service"}},
            },
            "target": {"type": "AverageValue", "averageValue": "50"},
        },
    }
    cluster.standin.add(hpa("queue-total", [metric], {"currentReplicas": 3, "desiredReplicas": 3}))
    path = f"{EXTERNAL}/ai_service_requests_waiting_total"
    cluster.recorded.answers[path] = (
        200,
        external_value_list("ai_service_requests_waiting_total", "240"),
    )
    body = await cluster.explain_json(f"{NS}/queue-total")
    assert cluster.recorded.asked(path) == {"labelSelector": "service=ai-service"}
    # 240 over 3 pods = 80 per pod; ceil(240 / 50) = 5.
    (row,) = body["metrics"]
    assert (row["current"], row["proposal"]) == (80.0, 5)
    assert body["desiredReplicas"] == 5
    assert body["agreement"].startswith("differs: status.desiredReplicas is 3")


async def test_scale_subresource_wins_over_the_spec(tmp_path: Path) -> None:
    recorded = RecordedMetrics()
    standin = KubeStandin()
    scale_path = f"/apis/apps/v1/namespaces/{NS}/deployments/ai-service/scale"

    async def scale(_: Any) -> Any:
        from aiohttp import web

        return web.json_response(
            {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {"name": "ai-service", "namespace": NS},
                "spec": {"replicas": 4},
                "status": {"replicas": 4, "selector": "app=ai-service,pod-template-hash"},
            }
        )

    standin.app.router.add_get(scale_path, scale)
    recorded.add_routes(standin.app)
    async with standin:
        for obj in seed_objects():
            standin.add(obj)
        standin.add(hpa("ai-service-hpa-latency", [P99_5]))
        recorded.answers[P99_PATH] = (
            200,
            metric_value_list(
                "ai_llm_response_time_p99_seconds", {"ai-service": "5"}, kind="Deployment"
            ),
        )
        cluster = Cluster(standin, recorded, standin.write_kubeconfig(tmp_path / "kubeconfig"))
        body = await cluster.explain_json(f"{NS}/ai-service-hpa-latency")
    assert body["scale"] == {
        "replicas": 4,
        "selector": "app=ai-service,pod-template-hash",
        "source": "scale subresource",
    }
    # ratio 1.0 is within tolerance: the proposal is the current 4 replicas.
    (row,) = body["metrics"]
    assert row["withinTolerance"] and row["proposal"] == 4
    assert body["desiredReplicas"] == 4
    assert body["limits"] == [
        "tolerance: ai_llm_response_time_p99_seconds's ratio 1.00 is within 1 ± 0.1"
    ]


async def test_missing_hpa_is_one_line_and_exit_1(cluster: Cluster) -> None:
    code, out, err = await cluster.explain(f"{NS}/nope", output="table")
    assert (code, out) == (1, "")
    assert err == 'surge explain: horizontalpodautoscalers.autoscaling "nope" not found\n'


async def test_missing_target_is_exit_1(cluster: Cluster) -> None:
    obj = hpa("orphan", [P99_5])
    obj["spec"]["scaleTargetRef"]["name"] = "gone"
    cluster.standin.add(obj)
    code, _, err = await cluster.explain(f"{NS}/orphan")
    assert code == 1
    assert err.startswith("surge explain: cannot read the HPA's target Deployment/gone:")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "target",
    ["ai-service-hpa", "ai-platform/", "/x", "a/b/c", "Bad_NS/hpa", "ns/UPPER", "ns/with space"],
)
async def test_bad_target_is_exit_2(target: str, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await run(target, str(tmp_path / "unused"), "json", out, err)
    assert code == 2 and out.getvalue() == ""
    assert err.getvalue().startswith("surge explain: ")
    with pytest.raises(ValueError):
        parse_target(target)


async def test_unreadable_kubeconfig_is_exit_2(tmp_path: Path) -> None:
    err = io.StringIO()
    code = await run(f"{NS}/x", str(tmp_path / "missing"), "json", io.StringIO(), err)
    assert code == 2
    assert "cannot load Kubernetes client config" in err.getvalue()


def test_the_surge_command(
    kube_standin_thread: KubeStandinThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`surge explain` through the CLI; this stand-in serves no metrics groups, so the
    metric fails with the API server's own 404 and the controller would not scale."""
    for obj in seed_objects():
        kube_standin_thread.add(obj)
    kube_standin_thread.add(hpa("ai-service-hpa-latency", [P99_5], {"desiredReplicas": 3}))
    kubeconfig = str(kube_standin_thread.write_kubeconfig(tmp_path / "kubeconfig"))
    code = cli(["explain", f"{NS}/ai-service-hpa-latency", "--kubeconfig", kubeconfig])
    out, err = capsys.readouterr()
    assert code == 0, err
    row = next(
        line for line in out.splitlines() if "Object ai_llm_response_time_p99_seconds" in line
    )
    assert "Value 5" in row and "the server could not" in row
    assert "no decision: FailedGetObjectMetric" in out
    assert "HPA status: agrees: status.desiredReplicas is 3" in out
    code = cli(["explain", f"{NS}/missing", "--kubeconfig", kubeconfig, "-o", "json"])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err == 'surge explain: horizontalpodautoscalers.autoscaling "missing" not found\n'
    code = cli(["explain", "missing", "--kubeconfig", kubeconfig])
    assert code == 2


def _latency_hpa(p99: str, cluster: Cluster, first: bool = True, **spec: Any) -> str:
    obj = hpa("ai-service-hpa-latency", [P99_5], {"currentReplicas": 3, "desiredReplicas": 3})
    obj["spec"].update(spec)
    (cluster.standin.add if first else cluster.standin.update)(obj)
    cluster.recorded.answers[P99_PATH] = (
        200,
        metric_value_list("ai_llm_response_time_p99_seconds", {"ai-service": p99}, "Deployment"),
    )
    return f"{NS}/ai-service-hpa-latency"


async def test_rules_follow_the_api_servers_version(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in says v1.32.4: older than any known release, so 1.34's rules, said so;
    a v1.37.2 API server gets 1.37's, with its gate defaults."""
    target = _latency_hpa("5", cluster)
    old = (await cluster.explain_json(target))["kubernetes"]
    assert old["version"] == "1.34"
    assert old["featureGates"]["HPAConfigurableTolerance"] is False
    assert "v1.32.4, outside the known releases (1.34 to 1.37): the nearest" in old["source"]
    monkeypatch.setitem(K8S_VERSION, "gitVersion", "v1.37.2")
    new = (await cluster.explain_json(target))["kubernetes"]
    assert new == {
        "version": "1.37",
        "featureGates": {
            "HPAConfigurableTolerance": True,
            "HPAScaleToZero": True,
            "PodLevelResources": True,
        },
        "source": "the API server's /version is v1.37.2",
    }
    code, out, _ = await cluster.explain(target, "table")
    assert code == 0
    assert "rules: Kubernetes 1.37 HPA rules; gates HPAConfigurableTolerance=on" in out


async def test_behaviors_tolerance_from_1_35(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scaleUp.tolerance 0.01: a 2% rise (5.1 s against 5) scales 3 -> ceil(1.02 x 3) = 4
    from 1.35 on; 1.34 ignores the field and holds within 1 ± 0.1."""
    behavior = {"scaleUp": {"tolerance": "0.01"}}
    target = _latency_hpa("5100m", cluster, behavior=behavior)
    monkeypatch.setitem(K8S_VERSION, "gitVersion", "v1.34.12")
    old = await cluster.explain_json(target)
    assert (old["metrics"][0]["proposal"], old["desiredReplicas"]) == (3, 3)
    assert old["limits"] == [
        "tolerance: ai_llm_response_time_p99_seconds's ratio 1.02 is within 1 ± 0.1"
    ]
    monkeypatch.setitem(K8S_VERSION, "gitVersion", "v1.35.4")
    new = await cluster.explain_json(target)
    assert (new["metrics"][0]["proposal"], new["desiredReplicas"]) == (4, 4)
    assert new["metrics"][0]["withinTolerance"] is False
    # 5.04 s: 1.008 is inside [1 - 0.1, 1 + 0.01]
    target = _latency_hpa("5040m", cluster, first=False, behavior=behavior)
    held = await cluster.explain_json(target)
    assert held["limits"] == [
        "tolerance: ai_llm_response_time_p99_seconds's ratio 1.01 is within [1 - 0.1, 1 + 0.01]"
    ]


async def test_scaled_to_zero_condition_of_1_37(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """minReplicas 0 and no latency at all: 0 replicas, and 1.37 records ScaledToZero; the
    HPA's status (which has no such condition yet) differs on that row."""
    monkeypatch.setitem(K8S_VERSION, "gitVersion", "v1.37.2")
    body = await cluster.explain_json(_latency_hpa("0", cluster, minReplicas=0))
    assert body["desiredReplicas"] == 0
    rows = {row["type"]: row for row in body["conditions"]}
    assert rows["ScaledToZero"]["ours"] == {
        "type": "ScaledToZero",
        "status": "True",
        "reason": "ScaledToZero",
        "message": "the HPA controller scaled the workload to zero",
    }
    assert rows["ScaledToZero"]["status"] is None and rows["ScaledToZero"]["agrees"] is False


def test_unknown_feature_gate_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["explain", f"{NS}/x", "--feature-gates", "HPAScaleToZero=true,Nope=false"]) == 2
    assert capsys.readouterr().err == (
        'surge explain: unknown feature gate "Nope" (known: HPAConfigurableTolerance, '
        "HPAScaleToZero, PodLevelResources)\n"
    )


def test_bad_forecast_rules_are_exit_2_naming_the_first_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As serve says it: the first problem, and where to see the others."""
    rules = tmp_path / "surge.yaml"
    rules.write_text("forecastRules:\n- name: a\n  query: x\n  bogus: 1\n  lead: nope\n")
    assert cli(["explain", f"{NS}/x", "--forecast-config", str(rules)]) == 2
    assert capsys.readouterr().err == (
        f'surge explain: {rules}:4: forecastRules[0]: unknown field "bogus" '
        f"(and 1 more: run `surge check --forecast {rules}`)\n"
    )


FORECAST_100 = {
    "type": "Object",
    "object": {
        "metric": {"name": "ai_service_qps_forecast"},
        "describedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ai-service"},
        "target": {"type": "AverageValue", "averageValue": "100"},
    },
}
FORECAST_PATH = f"{CUSTOM}/deployments.apps/ai-service/ai_service_qps_forecast"


async def test_a_forecast_metric_shows_the_replicas_with_and_without_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.standin.add(hpa("ai-service-hpa-forecast", [WAITING_50, FORECAST_100]))
    _record_seed_metrics(cluster.recorded)  # waiting 20 a pod: 2 pods
    cluster.recorded.answers[FORECAST_PATH] = (
        200,
        metric_value_list("ai_service_qps_forecast", {"ai-service": "800"}, kind="Deployment"),
    )
    out, err = io.StringIO(), io.StringIO()
    code = await run(
        f"{NS}/ai-service-hpa-forecast",
        str(cluster.kubeconfig),
        "json",
        out,
        err,
        now=CLOCK,
        forecasts=("ai_service_qps_forecast", "another_forecast"),
    )
    assert code == 0, err.getvalue()
    body = json.loads(out.getvalue())
    # 800 QPS ahead at 100 a pod: 8; the queue now (20 a pod at 3 pods, target 50): 2.
    assert body["forecast"] == {
        "metrics": ["ai_service_qps_forecast"],
        "proposalWith": 8,
        "proposalWithout": 2,
        "winner": "forecast",
    }
    table = io.StringIO()
    await run(
        f"{NS}/ai-service-hpa-forecast",
        str(cluster.kubeconfig),
        "table",
        table,
        err,
        now=CLOCK,
        forecasts=("ai_service_qps_forecast",),
    )
    assert "with the forecast (ai_service_qps_forecast): 8; without it: 2: the forecast wins" in (
        table.getvalue()
    )
    # Without the rules file, nothing is called a forecast.
    plain = await cluster.explain_json(f"{NS}/ai-service-hpa-forecast")
    assert plain["forecast"] is None
