"""Real KEDA on Surge's external scaler, beside a standard HPA on Surge's custom metrics:
KEDA's metrics server owns external.metrics.k8s.io, Surge custom.metrics.k8s.io; a
ScaledObject scales a Deployment on Surge's scaler (gRPC over TLS with KEDA's client
certificate), to zero after its cooldown and back from zero; `external-push` wakes a
Deployment before the polling interval would have."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import yaml

from tests.e2e.cluster import wait_for
from tests.e2e.exporter import Load
from tests.e2e.helm.cluster import NAMESPACE as SURGE_NAMESPACE
from tests.e2e.helm.cluster import RELEASE
from tests.e2e.keda.cluster import (
    EXTERNAL_APISERVICE,
    KEDA_NAMESPACE,
    KEDA_SERVICE,
    KEDA_SERVICE_ACCOUNT,
    KedaCluster,
)
from tests.e2e.workload import DEPLOYMENT, GIB, Workload, example_hpa

METRIC = "ai_service_requests_waiting_total"
AUTH = "surge-scaler-tls"
# The cooldown before KEDA scales an idle Deployment to zero (default 300s).
COOLDOWN_S = 10


def _secret_data(path_by_key: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64encode(path.read_bytes()).decode() for key, path in path_by_key.items()}


def apply_trigger_auth(cluster: KedaCluster, namespace: str) -> None:
    """deploy/examples/keda's TriggerAuthentication, plus KEDA's client certificate."""
    pki = cluster.plane.pki
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "surge-scaler-tls", "namespace": namespace},
        "data": _secret_data(
            {
                "ca.crt": pki.ca.cert,
                "tls.crt": pki.keda_scaler_client.cert,
                "tls.key": pki.keda_scaler_client.key,
            }
        ),
    }
    auth = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": AUTH, "namespace": namespace},
        "spec": {
            "secretTargetRef": [
                {"parameter": "caCert", "name": "surge-scaler-tls", "key": "ca.crt"},
                {"parameter": "tlsClientCert", "name": "surge-scaler-tls", "key": "tls.crt"},
                {"parameter": "tlsClientKey", "name": "surge-scaler-tls", "key": "tls.key"},
            ]
        },
    }
    listing = {"apiVersion": "v1", "kind": "List", "items": [secret, auth]}
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(listing))


def scaled_object(
    cluster: KedaCluster,
    namespace: str,
    *,
    trigger: str = "external",
    min_replicas: int = 1,
    polling_s: int = 2,
) -> dict[str, Any]:
    """A ScaledObject on the service's whole queue from Surge's scaler (50 per replica)."""
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": f"{DEPLOYMENT}-{trigger}", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"name": DEPLOYMENT},
            "minReplicaCount": min_replicas,
            "maxReplicaCount": 12,
            "pollingInterval": polling_s,
            "cooldownPeriod": COOLDOWN_S,
            "triggers": [
                {
                    "type": trigger,
                    "metadata": {
                        "scalerAddress": cluster.scaler_address,
                        "externalMetric": METRIC,
                        "labelSelector": f"service={DEPLOYMENT}",
                        "targetValue": "50",
                        "activationValue": "0",
                    },
                    "authenticationRef": {"name": AUTH},
                }
            ],
        },
    }


def apply_scaled_object(cluster: KedaCluster, workload: Workload, obj: dict[str, Any]) -> None:
    apply_trigger_auth(cluster, workload.namespace)
    cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(obj))
    workload.history.mark(f"ScaledObject {obj['metadata']['name']} applied")
    # KEDA's HPA, so the workload's report shows its events.
    workload.hpa_name = f"keda-hpa-{obj['metadata']['name']}"


def scaled_object_condition(
    cluster: KedaCluster, namespace: str, name: str, kind: str
) -> dict[str, str]:
    obj = cluster.kubectl_json("get", "scaledobject", name, "-n", namespace)
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == kind:
            return dict(cond)
    return {}


def test_keda_and_surge_share_the_metrics_apis(
    cluster: KedaCluster, say: Callable[[str], None]
) -> None:
    table = cluster.kubectl("get", "apiservice").stdout
    say(f"$ kubectl get apiservice\n{table}")
    listing = {a["metadata"]["name"]: a for a in cluster.kubectl_json("get", "apiservice")["items"]}
    for name in cluster.apiservices:
        assert listing[name]["spec"]["service"]["name"] == RELEASE, name
        assert listing[name]["spec"]["service"]["namespace"] == SURGE_NAMESPACE, name
    external = listing[EXTERNAL_APISERVICE]
    assert (external["spec"]["service"]["name"], external["spec"]["service"]["namespace"]) == (
        KEDA_SERVICE,
        KEDA_NAMESPACE,
    )
    for apiservice in listing.values():
        conditions = {c["type"]: c["status"] for c in apiservice["status"]["conditions"]}
        assert conditions["Available"] == "True", apiservice["metadata"]["name"]


def test_keda_runs_as_its_service_account_not_as_admin(
    cluster: KedaCluster, say: Callable[[str], None]
) -> None:
    """The credentials KEDA's two processes run with are keda/keda-operator's token: the
    API server grants it what KEDA's manifests do and nothing a cluster admin could."""
    who = yaml.safe_load(
        cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=cluster.keda_kubeconfig).stdout
    )
    assert who["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{KEDA_NAMESPACE}:{KEDA_SERVICE_ACCOUNT}"
    )

    def can(*request: str) -> bool:
        done = cluster.kubectl(
            "auth", "can-i", *request, kubeconfig=cluster.keda_kubeconfig, check=False
        )
        assert done.stdout.strip() in ("yes", "no"), done.stderr
        return done.stdout.strip() == "yes"

    granted = [
        ("watch", "scaledobjects.keda.sh", "--all-namespaces"),
        ("update", "horizontalpodautoscalers.autoscaling", "-n", "default"),
        ("patch", "deployments.apps", "--subresource=scale", "-n", "default"),
        ("create", "subjectaccessreviews.authorization.k8s.io"),
        ("update", "leases.coordination.k8s.io", "-n", KEDA_NAMESPACE),
    ]
    refused = [
        ("*", "*"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("create", "secrets", "-n", "default"),
        ("delete", "pods", "-n", "default"),
        ("update", "deployments.apps", "-n", "default"),
        ("create", "namespaces"),
    ]
    say(
        "keda/keda-operator may: "
        + "; ".join(" ".join(r) for r in granted)
        + "\nand may not: "
        + "; ".join(" ".join(r) for r in refused)
    )
    assert [r for r in granted if not can(*r)] == []
    assert [r for r in refused if can(*r)] == []


def test_scaled_object_scales_on_surges_scaler_beside_a_standard_hpa(
    cluster: KedaCluster, workload: Workload, say: Callable[[str], None]
) -> None:
    """A ScaledObject (KEDA's HPA, external.metrics.k8s.io from KEDA, values from Surge's
    scaler) and the seed's Pods HPA (custom.metrics.k8s.io from Surge) scale two
    Deployments side by side."""
    standard = Workload(cluster, f"hpa-{workload.namespace}"[:63].rstrip("-"))
    try:
        standard.create(Load(waiting=40, cpu_cores=0.4, memory_bytes=1 * GIB))
        standard.apply_hpa(example_hpa("queue", standard.namespace))
        workload.create(Load(waiting=40, cpu_cores=0.4, memory_bytes=1 * GIB))
        apply_scaled_object(cluster, workload, scaled_object(cluster, workload.namespace))
        wait_for(
            lambda: (
                scaled_object_condition(
                    cluster, workload.namespace, f"{DEPLOYMENT}-external", "Ready"
                ).get("status")
                == "True"
            ),
            60,
            "the ScaledObject Ready",
        )

        workload.set_load(Load(waiting=300, cpu_cores=0.4, memory_bytes=1 * GIB), "queue 300")
        standard.set_load(Load(waiting=600, cpu_cores=6, memory_bytes=2.5 * GIB), "600 waiting")
        workload.wait_replicas(lambda r: r == 6, 90, "KEDA scaled ai-service to 300 / 50 = 6")
        standard.wait_replicas(lambda r: r == 12, 120, "the standard HPA scaled to 12")
        keda_hpa = workload.hpa()
        metric = keda_hpa["spec"]["metrics"][0]
        assert metric["type"] == "External", metric
        say(f"$ kubectl describe hpa {workload.hpa_name}\n{workload.describe()}")
        objects = cluster.kubectl("get", "scaledobject", "-n", workload.namespace).stdout
        say(f"$ kubectl get scaledobject\n{objects}")
    finally:
        say(standard.finish())


def test_scale_to_zero_after_the_cooldown_and_back(
    cluster: KedaCluster, workload: Workload
) -> None:
    gateway = {"cpu_cores": 0.4, "memory_bytes": 1 * GIB, "queued_at_gateway": True}
    workload.create(Load(waiting=60, **gateway))
    apply_scaled_object(
        cluster, workload, scaled_object(cluster, workload.namespace, min_replicas=0)
    )
    workload.wait_replicas(lambda r: r == 2, 60, "ai-service at 60 / 50 -> 2")
    wait_for(
        lambda: (
            scaled_object_condition(
                cluster, workload.namespace, f"{DEPLOYMENT}-external", "Active"
            ).get("status")
            == "True"
        ),
        60,
        "the ScaledObject Active (Surge's scaler: 60 waiting > activationValue 0)",
    )

    idle_at = workload.set_load(Load(waiting=0, **gateway), "queue empty")
    workload.wait_replicas(lambda r: r == 0, 90, "ai-service scaled to zero after the cooldown")
    workload.history.mark("at zero")  # reads the replicas first: the fall is recorded
    zero = next(s for s in workload.history.changes() if s.at_s > idle_at and s.replicas == 0)
    # KEDA's own scale to zero waits the cooldown after the last active poll.
    assert zero.at_s - idle_at >= COOLDOWN_S - 1, workload.history.render()

    woken_at = workload.set_load(Load(waiting=100, **gateway), "queue 100 at the gateway")
    workload.wait_replicas(lambda r: r >= 1, 60, "ai-service activated from zero")
    workload.wait_replicas(lambda r: r == 2, 60, "then scaled by its HPA to 100 / 50 = 2")
    workload.history.mark("at 2")
    first = next(s for s in workload.history.changes() if s.at_s > woken_at)
    assert first.replicas >= 1


def test_external_push_wakes_from_zero_before_the_polling_interval(
    cluster: KedaCluster, workload: Workload, say: Callable[[str], None]
) -> None:
    """Two Deployments idle at zero, one on `external-push`, one on `external`, both
    polled every 300 s: the queue fills at both, Surge's stream wakes the first within
    seconds while the second still waits for its next poll."""
    polling_s = 300
    gateway = {"cpu_cores": 0.4, "memory_bytes": 1 * GIB, "queued_at_gateway": True}
    polled = Workload(cluster, f"polled-{workload.namespace}"[:63].rstrip("-"))
    try:
        for w, trigger in ((workload, "external-push"), (polled, "external")):
            w.create(Load(waiting=0, **gateway))
            obj = scaled_object(
                cluster, w.namespace, trigger=trigger, min_replicas=0, polling_s=polling_s
            )
            apply_scaled_object(cluster, w, obj)
        for w in (workload, polled):
            w.wait_replicas(lambda r: r == 0, 60, f"{w.namespace} idle at zero")

        pushed_at = workload.set_load(Load(waiting=100, **gateway), "queue 100")
        polled.set_load(Load(waiting=100, **gateway), "queue 100")
        workload.wait_replicas(lambda r: r >= 1, 60, "external-push woke ai-service")
        workload.history.mark("awake")
        woke = next(s for s in workload.history.changes() if s.at_s > pushed_at)
        say(f"external-push: woken {woke.at_s - pushed_at:.1f}s after the queue filled")
        assert woke.at_s - pushed_at < polling_s / 5
        assert polled.replicas() == 0, "the polled ScaledObject woke too: a poll fell here"
    finally:
        say(polled.finish())
