"""One scenario's ai-service: its own namespace, the seed's Deployment, an HPA from
deploy/examples with its windows compressed, and the replica history the cluster reports."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from tests.e2e.cluster import ROOT, Cluster, wait_for
from tests.e2e.exporter import Load
from tests.e2e.kubeapi import KubeError

EXAMPLES = ROOT / "deploy" / "examples" / "ai-service"
DEPLOYMENT = "ai-service"
# The HPA's windows, divided like the controller's clock (controlplane.HPA_FLAGS): a 60s
# policy period becomes 5s, the 300s scale-down stabilization 25s.
TIME_COMPRESSION = 12
# The seed's pod: 2 CPU, 4 GiB (its load test's sizing).
POD_REQUESTS = {"cpu": "2", "memory": "4Gi"}
GIB = 2**30


def deployment(namespace: str, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": DEPLOYMENT}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "containers": [
                        {
                            "name": DEPLOYMENT,
                            "image": "registry.example.com/ai-service:e2e",
                            "resources": {"requests": POD_REQUESTS, "limits": POD_REQUESTS},
                        }
                    ],
                },
            },
        },
    }


def example_hpa(folder: str, namespace: str) -> dict[str, Any]:
    """deploy/examples/ai-service/<folder>/hpa.yaml in `namespace`, windows compressed."""
    hpa: dict[str, Any] = yaml.safe_load((EXAMPLES / folder / "hpa.yaml").read_text())
    hpa["metadata"]["namespace"] = namespace
    for direction in (hpa["spec"].get("behavior") or {}).values():
        if "stabilizationWindowSeconds" in direction:
            direction["stabilizationWindowSeconds"] = math.ceil(
                direction["stabilizationWindowSeconds"] / TIME_COMPRESSION
            )
        for policy in direction.get("policies", ()):
            policy["periodSeconds"] = max(1, policy["periodSeconds"] // TIME_COMPRESSION)
    return hpa


@dataclass(frozen=True)
class Step:
    at_s: float
    replicas: int
    ready: int
    note: str = ""


class History:
    """The Deployment's spec.replicas (and readyReplicas) as the API reports it, polled
    from a thread; `mark()` notes what the test changed and when."""

    def __init__(self, read: Callable[[], tuple[int, int]]) -> None:
        self._read = read
        self._t0 = time.monotonic()
        self.steps: list[Step] = []
        self._lock = threading.Lock()
        self._polling = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replica-history", daemon=True)

    def now(self) -> float:
        return time.monotonic() - self._t0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def mark(self, note: str) -> float:
        """Note a change the test makes, after reading the replicas as they are now (so
        the mark never precedes a change the test already waited for)."""
        self.poll()
        at = self.now()
        with self._lock:
            last = self.steps[-1] if self.steps else Step(at, 0, 0)
            self.steps.append(Step(at, last.replicas, last.ready, note))
        return at

    def poll(self) -> None:
        """Record the replicas as they are now (the thread does it every 0.25 s)."""
        with self._polling:  # one read at a time, so reads are recorded in order
            try:
                replicas, ready = self._read()
            except (KubeError, OSError, ValueError):
                return
            with self._lock:
                last = next((s for s in reversed(self.steps) if not s.note), None)
                if last is None or (last.replicas, last.ready) != (replicas, ready):
                    self.steps.append(Step(self.now(), replicas, ready))

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.poll()

    def changes(self) -> list[Step]:
        """The steps where spec.replicas changed (marks excluded)."""
        with self._lock:
            out: list[Step] = []
            for s in self.steps:
                if not s.note and (not out or out[-1].replicas != s.replicas):
                    out.append(s)
            return out

    def replicas_in(self, start_s: float, end_s: float) -> list[int]:
        """spec.replicas over [start_s, end_s]: the value at start and every change in it."""
        changes = self.changes()
        before = [s.replicas for s in changes if s.at_s <= start_s]
        inside = [s.replicas for s in changes if start_s < s.at_s <= end_s]
        return before[-1:] + inside

    def render(self) -> str:
        with self._lock:
            lines = []
            for s in self.steps:
                if s.note:
                    lines.append(f"  {s.at_s:6.1f}s  -- {s.note}")
                else:
                    lines.append(f"  {s.at_s:6.1f}s  replicas={s.replicas} ready={s.ready}")
            return "\n".join(lines)


class Workload:
    """ai-service in its own namespace, its pods made Running by the fake kubelet."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.kube = cluster.kube
        self.history = History(self._read_replicas)
        self.hpa_name: str | None = None

    def _read_replicas(self) -> tuple[int, int]:
        d = self.kube.get(f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{DEPLOYMENT}")
        return int(d["spec"]["replicas"]), int(d["status"].get("readyReplicas", 0))

    def create(self, load: Load, replicas: int = 2) -> None:
        self.cluster.kubelet.watch_namespace(self.namespace)
        self.cluster.set_load(self.namespace, load)
        self.kube.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
        )
        self.kube.create(
            f"/apis/apps/v1/namespaces/{self.namespace}/deployments",
            deployment(self.namespace, replicas),
        )
        self.history.start()
        self.wait_ready(replicas, timeout_s=90)

    def set_load(self, load: Load, note: str) -> float:
        self.cluster.set_load(self.namespace, load)
        return self.history.mark(note)

    def apply_hpa(self, hpa: dict[str, Any]) -> None:
        self.hpa_name = hpa["metadata"]["name"]
        self.cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(hpa))
        self.history.mark(f"HPA {self.hpa_name} applied")

    def hpa(self) -> dict[str, Any]:
        assert self.hpa_name
        path = f"/apis/autoscaling/v2/namespaces/{self.namespace}/horizontalpodautoscalers"
        return dict(self.kube.get(f"{path}/{self.hpa_name}"))

    def condition(self, kind: str) -> dict[str, str]:
        for cond in self.hpa().get("status", {}).get("conditions", []):
            if cond["type"] == kind:
                return dict(cond)
        return {}

    def replicas(self) -> int:
        return self._read_replicas()[0]

    def wait_ready(self, replicas: int, timeout_s: float) -> None:
        def done() -> bool:
            return self._read_replicas() == (replicas, replicas) and (
                len(self.cluster.kubelet.running().get(self.namespace, {})) == replicas
            )

        wait_for(done, timeout_s, f"{self.namespace}: {replicas} replicas Running and Ready")

    def wait_replicas(self, predicate: Callable[[int], bool], timeout_s: float, what: str) -> int:
        """Wait for spec.replicas to satisfy `predicate`; the failure quotes describe hpa."""

        def probe() -> list[int] | None:  # a list: 0 replicas is an answer too
            replicas = self.replicas()
            return [replicas] if predicate(replicas) else None

        try:
            replicas = wait_for(probe, timeout_s, what)[0]
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.describe()}\n{self.history.render()}") from None
        # The history is polled from a thread: record what this wait saw before a test reads it.
        self.history.poll()
        return replicas

    def describe(self) -> str:
        if not self.hpa_name:
            return ""
        done = self.cluster.kubectl(
            "describe", "hpa", self.hpa_name, "-n", self.namespace, check=False
        )
        return done.stdout + done.stderr

    def events(self) -> str:
        done = self.cluster.kubectl(
            "get", "events", "-n", self.namespace,
            "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler",
            "--sort-by=.lastTimestamp",
            "-o", "custom-columns=REASON:.reason,MESSAGE:.message",
            check=False,
        )  # fmt: skip
        return done.stdout

    def finish(self) -> str:
        """Stop the HPA, the load and the history; the report for the test output."""
        self.history.stop()
        self.history.mark("end")
        report = [f"[{self.namespace}] replica history (spec.replicas, readyReplicas):"]
        report.append(self.history.render())
        if self.hpa_name:
            report.append(f"[{self.namespace}] HPA events:")
            report.extend(line[:200] for line in self.events().rstrip().splitlines())
            self.cluster.kubectl(
                "delete", "hpa", self.hpa_name, "-n", self.namespace, "--wait=false", check=False
            )
        self.cluster.set_load(self.namespace, None)
        return "\n".join(report)


def assert_scale_up_within(history: History, start_s: float, period_s: int, pods: int) -> None:
    """Every rise keeps to the seed's scale-up policies (Percent 100, Pods `pods` per
    `period_s`, selectPolicy Max) counted from the replicas at the start of the period."""
    for step in [s for s in history.changes() if s.at_s > start_s]:
        window = history.replicas_in(step.at_s - period_s - 1, step.at_s - 0.01)
        base = max(window)  # the period's start count is at most this: a looser bound
        assert step.replicas <= max(2 * base, base + pods), (
            f"rose to {step.replicas} at {step.at_s:.1f}s from {window} within {period_s}s"
        )


def assert_scale_down_within(history: History, start_s: float, period_s: int, percent: int) -> None:
    """Every fall keeps to a Percent policy: at most `percent`% of the period's start count."""
    for step in [s for s in history.changes() if s.at_s > start_s]:
        window = history.replicas_in(step.at_s - period_s - 1, step.at_s - 0.01)
        base = min(window)  # the period's start count is at least this: a looser bound
        assert step.replicas >= int(base * (1 - percent / 100)), (
            f"fell to {step.replicas} at {step.at_s:.1f}s from {window} within {period_s}s"
        )
