"""The resource-metrics test cluster: known usage, and the objects that go with it.

Chosen to exercise every rule of the answer: containers with both series, a container
with CPU only (memory 0), a pod with CPU only (left out), a pod with no series (left
out), series for a pod that does not exist (never shown), the same pod name in two
namespaces, and a node without series. CPU rates are dyadic fractions (0.25, 2^-7), so the
counters and irate() over them are exact in floating point: answers can be compared with
PromQL's exactly, whenever either is evaluated.
"""

from __future__ import annotations

from typing import Any

from surge.demo.data import ContainerUsage, NodeUsage, ResourceUsage

MiB = 2**20
USAGE = ResourceUsage(
    containers=(
        ContainerUsage("shop", "web-1", "app", "node-a", 0.25, 64 * MiB),
        ContainerUsage("shop", "web-1", "sidecar", "node-a", 0.0078125, 12_345_678),
        ContainerUsage("shop", "web-2", "app", "node-b", 1.5, 300 * MiB),
        ContainerUsage("shop", "web-2", "sidecar", "node-b", 0.001953125, 1 * MiB),
        ContainerUsage("shop", "cache-1", "redis", "node-a", 0.5, 100 * MiB + 7),
        ContainerUsage("shop", "cache-1", "exporter", "node-a", 0.015625, None),
        ContainerUsage("shop", "cpu-only", "main", "node-a", 0.375, None),
        ContainerUsage("batch", "web-1", "main", "node-b", 2.0, 1024 * MiB),
        ContainerUsage("batch", "ghost", "main", "node-b", 0.75, 10 * MiB),
    ),
    nodes=(
        NodeUsage("node-a", 3.25, 8 * 1024 * MiB + 123),
        NodeUsage("node-b", 0.5, 2 * 1024 * MiB),
    ),
)

# (namespace, pod) -> {container: (cores, bytes)}: what a correct answer shows.
EXPECTED_PODS: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("shop", "web-1"): {"app": (0.25, 64 * MiB), "sidecar": (0.0078125, 12_345_678)},
    ("shop", "web-2"): {"app": (1.5, 300 * MiB), "sidecar": (0.001953125, 1 * MiB)},
    ("shop", "cache-1"): {"redis": (0.5, 100 * MiB + 7), "exporter": (0.015625, 0.0)},
    ("batch", "web-1"): {"main": (2.0, 1024 * MiB)},
}
EXPECTED_NODES = {"node-a": (3.25, 8 * 1024 * MiB + 123), "node-b": (0.5, 2 * 1024 * MiB)}

_PODS = (
    ("shop", "web-1", "node-a", {"app": "web", "tier": "front"}),
    ("shop", "web-2", "node-b", {"app": "web", "tier": "front"}),
    ("shop", "web-3", "node-b", {"app": "web", "tier": "front"}),  # no series
    ("shop", "cache-1", "node-a", {"app": "cache"}),
    ("shop", "cpu-only", "node-a", {"app": "cpu-only"}),
    ("batch", "web-1", "node-b", {"app": "worker"}),
)
_NODES = (("node-a", {"zone": "a"}), ("node-b", {"zone": "b"}), ("node-c", {"zone": "c"}))


def objects() -> list[dict[str, Any]]:
    """Namespaces, nodes (with allocatable, which `kubectl top node` divides by) and pods."""
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        for ns in ("shop", "batch")
    ]
    out += [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {
                "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            },
        }
        for name, labels in _NODES
    ]
    out += [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "x"}]},
            "status": {"phase": "Running"},
        }
        for ns, name, node, labels in _PODS
    ]
    return out
