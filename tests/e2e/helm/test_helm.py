"""Surge installed, upgraded and uninstalled with the real helm in the real control plane:
the APIServices Available, the seed's HPA scaling on it, an upgrade's new rules served
while the Deployment rolls within the PodDisruptionBudget, and nothing left registered
after uninstall. In file order: each scenario starts from the previous one's release."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from tests.e2e.cluster import APISERVICES, wait_for
from tests.e2e.exporter import Load
from tests.e2e.helm.cluster import NAMESPACE, PA_VALUES, RELEASE, HelmCluster
from tests.e2e.workload import GIB, History, Workload, example_hpa

# The metric the upgrade adds: each pod's waiting requests under a new name.
NEW_METRIC = "ai_service_queue_per_pod"


def surge_apiservices(cluster: HelmCluster) -> dict[str, dict[str, Any]]:
    """Every APIService naming Surge's Service, by name."""
    listing = cluster.kubectl_json("get", "apiservice")["items"]
    return {
        a["metadata"]["name"]: a
        for a in listing
        if (a["spec"].get("service") or {}).get("name") == RELEASE
        and a["spec"]["service"].get("namespace") == NAMESPACE
    }


def available(apiservice: dict[str, Any]) -> bool:
    conditions = apiservice.get("status", {}).get("conditions", [])
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


def test_helm_install_registers_surge(cluster: HelmCluster, say: Callable[[str], None]) -> None:
    status = cluster.helm_json("status", RELEASE, "--namespace", NAMESPACE)
    assert status["info"]["status"] == "deployed"
    registered = surge_apiservices(cluster)
    assert set(registered) == set(APISERVICES)
    for name, apiservice in registered.items():
        assert available(apiservice), (name, apiservice.get("status"))
        assert apiservice["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert apiservice["spec"]["service"]["port"] == cluster.surge_port
    # The host's Surge runs with the arguments the chart rendered from the values file.
    assert "--prometheus-url=" + cluster.prometheus.url in cluster.chart_args
    assert "--metrics-relist-interval=1m" in cluster.chart_args
    say("$ kubectl get apiservice\n" + cluster.kubectl("get", "apiservice").stdout)


def test_seed_hpa_scales_on_the_helm_installed_surge(
    cluster: HelmCluster, workload: Workload
) -> None:
    workload.create(Load(waiting=40, cpu_cores=0.4, memory_bytes=1 * GIB))
    workload.apply_hpa(example_hpa("queue", workload.namespace))
    workload.set_load(Load(waiting=600, cpu_cores=6, memory_bytes=2.5 * GIB), "600 waiting")
    workload.wait_replicas(lambda r: r == 12, 120, "ai-service scaled to 12 (600 / 50)")


def _upgrade_values(cluster: HelmCluster) -> Any:
    """The example's values with one more custom rule, as its user would edit them."""
    values = yaml.safe_load(PA_VALUES.read_text())
    values["rules"]["custom"].append(
        {
            "seriesQuery": 'http_requests_waiting{namespace!="",pod!=""}',
            "resources": {
                "overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
            },
            "name": {"matches": "^http_requests_waiting$", "as": NEW_METRIC},
            "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
        }
    )
    path = cluster.workdir / "upgrade-values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _new_metric_hpa(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "ai-service-queue-per-pod", "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ai-service"},
            "minReplicas": 2,
            "maxReplicas": 12,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": NEW_METRIC},
                        "target": {"type": "AverageValue", "averageValue": "50"},
                    },
                }
            ],
        },
    }


def test_helm_upgrade_serves_new_rules_within_the_disruption_budget(
    cluster: HelmCluster, workload: Workload, say: Callable[[str], None]
) -> None:
    workload.create(Load(waiting=300, cpu_cores=0.4, memory_bytes=1 * GIB))
    workload.apply_hpa(_new_metric_hpa(workload.namespace))
    wait_for(
        lambda: workload.condition("ScalingActive").get("reason") == "FailedGetPodsMetric",
        60,
        f"the HPA failing on {NEW_METRIC}, which no rule serves yet",
    )
    assert workload.replicas() == 2

    def surge_pods() -> tuple[int, int]:
        d = cluster.kube.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{RELEASE}")
        return int(d["spec"]["replicas"]), int(d["status"].get("readyReplicas", 0))

    rollout = History(surge_pods)
    rollout.start()
    rollout.mark("helm upgrade: one more custom rule")
    before = cluster.chart_args, cluster.rules.read_text()
    cluster.release("upgrade", _upgrade_values(cluster))
    cluster.kubectl(
        "rollout", "status", f"deployment/{RELEASE}", "-n", NAMESPACE, "--timeout=90s",
        timeout_s=100,
    )  # fmt: skip
    rollout.stop()
    say(
        f"[{NAMESPACE}/{RELEASE}] pods during the upgrade (spec.replicas, ready):\n"
        + rollout.render()
    )
    assert cluster.rules.read_text() != before[1] and NEW_METRIC in cluster.rules.read_text()
    assert cluster.chart_args == before[0]
    pdb = cluster.kubectl_json("get", "pdb", RELEASE, "-n", NAMESPACE)
    allowed = int(pdb["spec"]["maxUnavailable"])
    steps = [s for s in rollout.steps if not s.note]
    assert steps and min(s.ready for s in steps) >= steps[0].replicas - allowed, rollout.render()

    cluster.restart_surge()  # the rolled pods run the new rules
    workload.wait_replicas(lambda r: r == 6, 90, f"ai-service scaled on {NEW_METRIC} (300 / 50)")
    assert workload.condition("ScalingActive")["status"] == "True"


def test_helm_uninstall_leaves_no_apiservice_behind(
    cluster: HelmCluster, say: Callable[[str], None]
) -> None:
    cluster.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
    assert surge_apiservices(cluster) == {}
    left = cluster.kubectl_json("get", "apiservice")["items"]
    assert not any(a["metadata"]["name"] in APISERVICES for a in left)
    assert all(available(a) for a in left), [
        a["metadata"]["name"] for a in left if not available(a)
    ]
    # Discovery is whole again: kubectl lists every resource without a group failing.
    resources = cluster.kubectl("api-resources", check=False)
    assert resources.returncode == 0 and "metrics.k8s.io" not in resources.stdout, resources
    for kind in ("deployment", "service", "configmap", "secret", "pdb"):
        names = cluster.kubectl(
            "get",
            kind,
            "-n",
            NAMESPACE,
            "-l",
            f"app.kubernetes.io/instance={RELEASE}",
            "-o",
            "name",
        ).stdout
        assert names == "", f"{kind} left: {names}"
    say(
        "$ kubectl get apiservice (after helm uninstall)\n"
        + cluster.kubectl("get", "apiservice").stdout
    )
