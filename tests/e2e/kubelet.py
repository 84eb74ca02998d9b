"""A STAND-IN for the scheduler and the kubelets, which cannot run here (no container
runtime): it does to pods exactly what they would, through the real API server.

- scheduler: a pod without `spec.nodeName` is bound to a Node (round robin) through the
  pods/binding subresource;
- kubelet: a bound Pending pod is reported Running and Ready through pods/status (phase,
  PodScheduled/Initialized/ContainersReady/Ready conditions, startTime, container
  statuses), as a kubelet does once its containers start;
- kubelet: a pod marked for deletion is deleted with grace period 0, as a kubelet does once
  its containers stopped (a bound pod otherwise stays Terminating forever).

It keeps the set of Running pods per namespace from its watch, which the exporter reads so
that series exist for exactly the pods that exist.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tests.e2e.kubeapi import Kube, KubeError


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_status(pod: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now}
        for kind in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
    ]
    containers = [
        {
            "name": c["name"],
            "image": c["image"],
            "imageID": "",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
        }
        for c in pod["spec"]["containers"]
    ]
    scheduled = {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}
    return {
        "status": {
            "phase": "Running",
            "startTime": now,
            "conditions": [scheduled, *conditions],
            "containerStatuses": containers,
        }
    }


class FakeKubelet:
    """Watches every pod in `namespaces` from a thread; see the module docstring."""

    def __init__(self, kube: Kube, nodes: Sequence[str], namespaces: set[str]) -> None:
        self.kube = kube
        self.namespaces = namespaces
        self._nodes = itertools.cycle(nodes)
        self._running: dict[str, dict[str, str]] = {}  # namespace -> pod -> node
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kubelet", daemon=True)
        self.errors: list[str] = []

    def watch_namespace(self, namespace: str) -> None:
        self.namespaces.add(namespace)

    def running(self) -> dict[str, dict[str, str]]:
        """namespace -> {pod: node} of the pods Running and not being deleted."""
        with self._lock:
            return {ns: dict(pods) for ns, pods in self._running.items()}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)  # a watch in flight ends when the API server stops

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                listing = self.kube.get("/api/v1/pods")
                with self._lock:
                    self._running.clear()
                for pod in listing["items"]:
                    self._handle("ADDED", pod)
                version = listing["metadata"]["resourceVersion"]
                for event in self.kube.watch("/api/v1/pods", version, timeout_s=20):
                    if self._stop.is_set():
                        return
                    if event["type"] == "ERROR":
                        break  # too old a resourceVersion: list again
                    if event["type"] != "BOOKMARK":
                        self._handle(event["type"], event["object"])
            except (KubeError, OSError, ValueError) as err:
                self.errors.append(str(err))
                time.sleep(0.5)

    def _handle(self, kind: str, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if namespace not in self.namespaces:
            return
        node = pod["spec"].get("nodeName")
        gone = kind == "DELETED" or meta.get("deletionTimestamp")
        with self._lock:
            pods = self._running.setdefault(namespace, {})
            if not gone and node and pod["status"].get("phase") == "Running":
                pods[name] = node
            else:
                pods.pop(name, None)
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"
        try:
            if kind == "DELETED":
                return
            if meta.get("deletionTimestamp"):
                self.kube.request("DELETE", path, {"gracePeriodSeconds": 0})
            elif not node:
                binding = {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": name, "namespace": namespace},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": next(self._nodes)},
                }
                self.kube.create(f"{path}/binding", binding)
            elif pod["status"].get("phase") == "Pending":
                self.kube.patch(f"{path}/status", running_status(pod))
        except KubeError as err:
            if err.code not in (404, 409):  # raced with a deletion or a newer version
                self.errors.append(f"{namespace}/{name}: {err}")
