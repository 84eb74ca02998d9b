"""What Kubernetes 1.37's HPA controller does that 1.34's did not, on the real controller:
behavior's per-direction tolerance (KEP-4951, HPAConfigurableTolerance GA) and scale to
zero (KEP-2021, HPAScaleToZero beta, on): an idle Deployment goes to 0 on an Object metric
from Surge and comes back when it rises. `surge explain` agrees with the status each time.
On an older control plane (SURGE_E2E_RELEASE=v1.34.12) they are skipped, saying so."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from apiservice.quantity import Quantity
from tests.e2e.cluster import Cluster, wait_for
from tests.e2e.exporter import Load
from tests.e2e.test_explain_live import explain_command, explain_with_cluster_options
from tests.e2e.workload import DEPLOYMENT, GIB, Workload

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(autouse=True)
def release_1_37(cluster: Cluster) -> None:
    version = str(cluster.kube.get("/version")["gitVersion"])
    if not version.startswith("v1.37."):
        pytest.skip(f"the control plane runs {version}: these are 1.37's rules")


TOLERANCE_HPA = "ai-service-hpa-tolerance"
ZERO_HPA = "ai-service-hpa-scale-to-zero"


def queue_hpa(namespace: str, name: str, tolerance: str | None) -> dict[str, Any]:
    """Requests waiting per pod (Pods, AverageValue 50); a 2% rise of the queue is a 2%
    rise of the ratio, which only a scale-up tolerance under 0.02 acts on."""
    scale_up: dict[str, Any] = {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 4, "periodSeconds": 5}],
    }
    if tolerance is not None:
        scale_up["tolerance"] = tolerance
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOYMENT},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "http_requests_waiting"},
                        "target": {"type": "AverageValue", "averageValue": "50"},
                    },
                }
            ],
            "behavior": {"scaleUp": scale_up, "scaleDown": {"stabilizationWindowSeconds": 25}},
        },
    }


def zero_hpa(namespace: str) -> dict[str, Any]:
    """minReplicas 0 on the gateway's pending requests for the Deployment (Object,
    AverageValue 10 per pod): the one metric that is there while no pod runs."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": ZERO_HPA, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOYMENT},
            "minReplicas": 0,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Object",
                    "object": {
                        "describedObject": {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": DEPLOYMENT,
                        },
                        "metric": {"name": "gateway_requests_pending"},
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                }
            ],
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 5,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 5}],
                }
            },
        },
    }


def waiting_read(workload: Workload) -> float | None:
    """The per-pod queue the HPA's last sync read."""
    for m in workload.hpa().get("status", {}).get("currentMetrics") or []:
        if m["type"] == "Pods":
            return Quantity.parse(str(m["pods"]["current"]["averageValue"])).milli_value() / 1000
    return None


def agreeing_explanation(cluster: Cluster, workload: Workload, desired: int) -> dict[str, Any]:
    """`surge explain` (the library, with this cluster's controller flags) once the
    controller's status says `desired`, has read every metric and agrees with it on every
    metric and condition (a sync or two after a rescale, whose status lags by one sync)."""
    assert workload.hpa_name
    last: list[dict[str, Any]] = []

    def ours() -> dict[str, Any] | None:
        answer = explain_with_cluster_options(
            cluster.kubeconfig, workload.namespace, workload.hpa_name or ""
        )
        last[:] = [answer]
        status = answer["status"]
        return (
            answer
            # the API leaves out a currentReplicas of 0 (omitempty)
            if status["desiredReplicas"] == desired == (status["currentReplicas"] or 0)
            and answer["desiredReplicas"] == desired
            and answer["agreement"].startswith("agrees")
            and all(r["agreesWithStatus"] is True for r in answer["metrics"])
            and all(r["agrees"] for r in answer["conditions"])
            else None
        )

    try:
        answer = wait_for(ours, 60, f"an explanation agreeing on {desired}", interval_s=2)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{json.dumps(last, indent=1)}") from None
    assert answer["kubernetes"]["version"] == "1.37", answer["kubernetes"]
    assert answer["kubernetes"]["source"].startswith("the API server's /version is v1.37.")
    return answer


def test_scale_up_tolerance_acts_on_a_two_percent_rise(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    # A twin without behavior.scaleUp.tolerance sees the same queue: the default 0.1 holds it.
    twin = Workload(cluster, f"{workload.namespace}-default"[:63])
    try:
        for w, tolerance in ((workload, "0.01"), (twin, None)):
            w.create(Load(waiting=200, cpu_cores=0.4, memory_bytes=1 * GIB))
            name = TOLERANCE_HPA if tolerance else "ai-service-hpa-default-tolerance"
            w.apply_hpa(queue_hpa(w.namespace, name, tolerance))
        for w in (workload, twin):  # 200 / 2 = 100 per pod: ratio 2 -> 4 pods
            w.wait_replicas(lambda r: r == 4, 60, "200 waiting / 50 = 4 pods")
            wait_for(lambda w=w: waiting_read(w) == 50, 30, "50 per pod at 4 pods")
        applied = workload.hpa()["spec"]["behavior"]["scaleUp"]
        assert Quantity.parse(str(applied["tolerance"])).milli_value() == 10  # kept by 1.37

        # 204 waiting: 51 per pod, ratio 1.02: outside 1 + 0.01, inside 1 + 0.1.
        rise = Load(waiting=204, cpu_cores=0.4, memory_bytes=1 * GIB)
        risen_at = workload.set_load(rise, "queue 204 (+2%)")
        twin.set_load(rise, "queue 204 (+2%)")
        workload.wait_replicas(lambda r: r == 5, 60, "ceil(1.02 x 4) = 5 on a 2% rise")
        assert wait_for(lambda: waiting_read(twin) == 51, 30, "the twin reading 51 per pod")
        held = twin.history.replicas_in(risen_at, twin.history.now())
        assert held == [4], f"the default tolerance moved the twin: {held}"
        assert "New size: 5; reason: pods metric http_requests_waiting above target" in (
            workload.events()
        )

        # At 5 pods 204 / 5 = 40.8 per pod, ratio 0.816: ceil(0.816 x 5) = 5 holds.
        answer = agreeing_explanation(cluster, workload, 5)
        (row,) = answer["metrics"]
        assert (row["current"], row["proposal"]) == (pytest.approx(40.8), 5)
        twin_answer = agreeing_explanation(cluster, twin, 4)
        (twin_row,) = twin_answer["metrics"]
        assert twin_row["current"] == pytest.approx(51) and twin_row["withinTolerance"]
        assert twin_answer["limits"] == [
            "tolerance: http_requests_waiting's ratio 1.02 is within 1 ± 0.1"
        ]
        done = explain_command(cluster, f"{twin.namespace}/{twin.hpa_name}")
        assert done.returncode == 0, done.stderr
        say(f"$ surge explain {twin.namespace}/{twin.hpa_name}\n{done.stdout}")
    finally:
        say(twin.finish())


def test_idle_deployment_scales_to_zero_and_back(
    cluster: Cluster, workload: Workload, say: Callable[[str], None]
) -> None:
    idle = Load(waiting=0, cpu_cores=0.1, memory_bytes=1 * GIB, gateway_pending=0)
    workload.create(idle)
    workload.apply_hpa(zero_hpa(workload.namespace))
    # (wait_replicas returns the count, so it cannot wait for a falsy 0)
    wait_for(lambda: workload.replicas() == 0, 90, "the idle Deployment at 0 replicas")
    wait_for(lambda: not cluster.kubelet.running().get(workload.namespace), 30, "no pod left")
    scaled = wait_for(
        lambda: workload.condition("ScaledToZero").get("status") == "True" or None,
        30,
        "ScaledToZero=True",
    )
    assert scaled
    assert workload.condition("ScaledToZero")["reason"] == "ScaledToZero"
    at_zero = agreeing_explanation(cluster, workload, 0)
    (row,) = at_zero["metrics"]
    # At 0 replicas the controller divides the pending requests by 0 pods for the status:
    # Go's int64 of NaN, MinInt64, in its status and in the explanation alike.
    assert row["proposal"] == 0 and row["current"] == row["statusCurrent"] == -(2**63) / 1000
    done = explain_command(cluster, f"{workload.namespace}/{ZERO_HPA}")
    assert done.returncode == 0, done.stderr
    say(f"$ surge explain {workload.namespace}/{ZERO_HPA}   (at zero)\n{done.stdout}")

    # 30 requests pile up at the gateway: from zero the proposal is 30 / 10 = 3.
    workload.set_load(
        Load(waiting=0, cpu_cores=0.1, memory_bytes=1 * GIB, gateway_pending=30),
        "30 requests at the gateway",
    )
    workload.wait_replicas(lambda r: r == 3, 60, "back from zero: 30 / 10 = 3")
    workload.wait_ready(3, timeout_s=60)
    wait_for(
        lambda: workload.condition("ScaledToZero").get("reason") == "NotScaledToZero" or None,
        30,
        "ScaledToZero=False after the rescale",
    )
    back = agreeing_explanation(cluster, workload, 3)
    (row,) = back["metrics"]
    assert (row["current"], row["proposal"]) == (10, 3)  # 30 pending / 3 pods
    conditions = {c["type"]: c for c in back["conditions"]}
    assert conditions["ScaledToZero"]["ours"]["status"] == "False"
    say(f"$ kubectl describe hpa {ZERO_HPA}\n{workload.describe()}")
