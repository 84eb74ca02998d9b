"""The real `kubectl top` and `kubectl get --raw` against `surge serve`.

kubectl talks to one server for the metrics API and the core API; here that is the
aggregator stand-in (tests/resource_metrics/aggregator.py) in front of Surge and of the
Kubernetes API stand-in, which Surge also lists its pods and nodes from. Every printed
value is checked against PromQL run directly on the same Prometheus.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from surge.demo.localprom import LocalPrometheus
from tests.resource_metrics.aggregator import AggregatorStandin
from tests.resource_metrics.conftest import RULES
from tests.resource_metrics.data import objects
from tests.resource_metrics.quantities import byte_count, nanocores
from tests.support.kube_standin import KubeStandinThread
from tests.support.surge_process import SurgeProcess

MiB = 2**20
Oracle = Callable[[str], list[dict[str, Any]]]


@dataclass
class Cluster:
    kubeconfig: Path
    cache: Path
    surge: SurgeProcess

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.cache}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(self.cache)},
        )


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, resource_prometheus: LocalPrometheus
) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("kubectl-top")
    with KubeStandinThread() as standin:
        for obj in objects():
            standin.add(obj)
        core = standin.write_kubeconfig(work / "core-kubeconfig")
        flags = (
            f"--config={RULES}",
            f"--prometheus-url={resource_prometheus.url}",
            f"--kubeconfig={core}",
        )
        with (
            SurgeProcess(work, *flags) as surge,
            AggregatorStandin(standin.url, surge.url, surge.cert) as aggregator,
        ):
            kubeconfig = aggregator.write_kubeconfig(work / "kubeconfig", namespace="shop")
            yield Cluster(kubeconfig, work / "cache", surge)


def pod_usage(oracle: Oracle) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """(namespace, pod) -> container -> (nanocores, bytes), from PromQL directly."""
    out: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    cpu = oracle('irate(container_cpu_usage_seconds_total{container!="",pod!=""}[4m])')
    memory = oracle('container_memory_working_set_bytes{container!="",pod!=""}')
    for sample in cpu:
        m = sample["metric"]
        out.setdefault((m["namespace"], m["pod"]), {})[m["container"]] = (
            int(float(sample["value"][1]) * 1e9),
            0,
        )
    for sample in memory:
        m = sample["metric"]
        containers = out.setdefault((m["namespace"], m["pod"]), {})
        cores = containers.get(m["container"], (0, 0))[0]
        containers[m["container"]] = (cores, int(float(sample["value"][1])))
    return out


def table(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()[1:]]


def printed_cpu(nanocores: int) -> str:
    """kubectl prints Quantity.MilliValue(): rounded up to a whole millicore."""
    return f"{math.ceil(nanocores / 1e6)}m"


def printed_memory(bytes_: int) -> str:
    return f"{bytes_ // MiB}Mi"


def test_kubectl_top_pod_prints_promqls_values(cluster: Cluster, resource_oracle: Oracle) -> None:
    done = cluster.kubectl("top", "pod")  # the kubeconfig's namespace: shop
    assert done.returncode == 0, done.stderr
    truth = pod_usage(resource_oracle)
    want = {
        name: [
            printed_cpu(sum(c for c, _ in truth[("shop", name)].values())),
            printed_memory(sum(b for _, b in truth[("shop", name)].values())),
        ]
        for name in ("web-1", "web-2", "cache-1")
    }
    assert {row[0]: row[1:] for row in table(done.stdout)} == want
    assert done.stdout.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert want["web-1"] == ["258m", "75Mi"]  # 0.25 + 2^-7 cores; 64 MiB + 12,345,678 B


def test_kubectl_top_pod_containers_selector_and_all_namespaces(
    cluster: Cluster, resource_oracle: Oracle
) -> None:
    truth = pod_usage(resource_oracle)
    done = cluster.kubectl("top", "pod", "--containers", "-l", "app=web")
    assert done.returncode == 0, done.stderr
    got = {(row[0], row[1]): row[2:] for row in table(done.stdout)}
    assert got == {
        (pod, container): [printed_cpu(cpu), printed_memory(mem)]
        for (ns, pod), containers in truth.items()
        if ns == "shop" and pod in ("web-1", "web-2")
        for container, (cpu, mem) in containers.items()
    }
    done = cluster.kubectl("top", "pod", "-A")
    assert done.returncode == 0, done.stderr
    listed = {(row[0], row[1]) for row in table(done.stdout)}
    assert listed == {("shop", "web-1"), ("shop", "web-2"), ("shop", "cache-1"), ("batch", "web-1")}
    done = cluster.kubectl("top", "pod", "web-2")
    assert done.returncode == 0, done.stderr
    assert [row[0] for row in table(done.stdout)] == ["web-2"]


def test_kubectl_top_pod_errors(cluster: Cluster) -> None:
    done = cluster.kubectl("top", "pod", "web-3")  # exists, no series
    assert done.returncode == 1
    assert 'podmetrics.metrics.k8s.io "shop/web-3" not found' in done.stderr
    done = cluster.kubectl("top", "pod", "-n", "empty")
    assert "No resources found in empty namespace." in done.stderr


def test_kubectl_top_node(cluster: Cluster, resource_oracle: Oracle) -> None:
    done = cluster.kubectl("top", "node")
    assert done.returncode == 0, done.stderr
    cpu = {
        s["metric"]["node"]: int(float(s["value"][1]) * 1e9)
        for s in resource_oracle("irate(node_cpu_usage_seconds_total[4m])")
    }
    memory = {
        s["metric"]["node"]: int(float(s["value"][1]))
        for s in resource_oracle("node_memory_working_set_bytes")
    }
    rows = {row[0]: row[1:] for row in table(done.stdout)}
    for node in ("node-a", "node-b"):
        milli = math.ceil(cpu[node] / 1e6)
        assert rows[node] == [
            f"{milli}m",
            f"{milli * 100 // 4000}%",  # allocatable: 4 CPUs, 16Gi
            printed_memory(memory[node]),
            f"{memory[node] * 100 // (16 * 1024 * MiB)}%",
        ]
    assert "node-c" not in rows or rows["node-c"][0] == "<unknown>"


def test_node_metrics_raw_are_nanocores_and_binary_bytes(
    cluster: Cluster, resource_oracle: Oracle
) -> None:
    done = cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["kind"], body["apiVersion"], body["metadata"]) == (
        "NodeMetricsList",
        "metrics.k8s.io/v1beta1",
        {},
    )
    cpu = {
        s["metric"]["node"]: int(float(s["value"][1]) * 1e9)
        for s in resource_oracle("irate(node_cpu_usage_seconds_total[4m])")
    }
    memory = {
        s["metric"]["node"]: int(float(s["value"][1]))
        for s in resource_oracle("node_memory_working_set_bytes")
    }
    assert [i["metadata"]["name"] for i in body["items"]] == ["node-a", "node-b"]
    for item in body["items"]:
        name = item["metadata"]["name"]
        assert list(item) == ["metadata", "timestamp", "window", "usage"]
        assert item["window"] == "5m0s"
        assert item["metadata"]["labels"] == {"zone": name[-1]}
        assert nanocores(item["usage"]["cpu"]) == cpu[name]
        assert byte_count(item["usage"]["memory"]) == memory[name]
    assert body["items"][0]["usage"] == {"cpu": "3250m", "memory": str(8 * 1024 * MiB + 123)}
    assert body["items"][1]["usage"] == {"cpu": "500m", "memory": "2Gi"}
    one = json.loads(
        cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/node-b").stdout
    )
    assert (one["kind"], one["metadata"]["name"]) == ("NodeMetrics", "node-b")


def test_pod_metrics_raw_and_discovery(cluster: Cluster) -> None:
    done = cluster.kubectl(
        "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-1"
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert list(body) == ["kind", "apiVersion", "metadata", "timestamp", "window", "containers"]
    assert body["containers"] == [
        {"name": "app", "usage": {"cpu": "250m", "memory": "64Mi"}},
        {"name": "sidecar", "usage": {"cpu": "7812500n", "memory": "12345678"}},
    ]
    assert body["metadata"]["labels"] == {"app": "web", "tier": "front"}
    listing = json.loads(cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1").stdout)
    assert [(r["name"], r["kind"], r["namespaced"]) for r in listing["resources"]] == [
        ("nodes", "NodeMetrics", False),
        ("pods", "PodMetrics", True),
    ]
    done = cluster.kubectl("api-resources", "--api-group=metrics.k8s.io", "-o", "name")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == ["nodes.metrics.k8s.io", "pods.metrics.k8s.io"]
    done = cluster.kubectl(
        "get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.namespace%3Dbatch"
    )
    assert [
        (i["metadata"]["namespace"], i["metadata"]["name"])
        for i in json.loads(done.stdout)["items"]
    ] == [("batch", "web-1")]
