"""The fleet's Kubernetes API in the storm: every server under test lists its objects and
asks its SubjectAccessReviews here, so they all read the same API.

- `real`: etcd and kube-apiserver from tests/e2e's cached build (tests/e2e/build.sh), the
  fleet's Namespaces, Deployments and Pods created through the API and the pods reported
  Running and Ready through pods/status, as tests/e2e's kubelet stand-in does (no
  controller-manager runs: the Deployments are the pods' owners by labels only);
- `standin`: tests/support's Python Kubernetes API stand-in, in a process of its own,
  for machines without the e2e build.

The load generator authenticates with a client certificate for `CLIENT_USER`, a plain user
(the HPA controller is not system:masters either), so both servers authorize each request
with a SubjectAccessReview to this API, behind the same 10 s cache.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

KUBES = ("real", "standin")
CLIENT_USER = "storm-hpa-controller"
CREATE_THREADS = 8
# What the load generator's identity may do: the custom metrics, discovery and /metrics.
READER_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "storm-metrics-reader"},
    "rules": [
        {"apiGroups": ["custom.metrics.k8s.io"], "resources": ["*"], "verbs": ["get", "list"]},
        {"nonResourceURLs": ["/metrics", "/apis", "/apis/*"], "verbs": ["get"]},
    ],
}
READER_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "storm-metrics-reader"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "storm-metrics-reader",
    },
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": CLIENT_USER}],
}


class KubeError(RuntimeError):
    """The fleet's Kubernetes API could not be set up; the run stops with this reason."""


class FleetKube(Protocol):
    kind: str
    kubeconfig: Path  # for listing, TokenReview and SubjectAccessReview

    def pids(self) -> list[int]:
        """The API server's processes, whose CPU the storm reports beside each mode's."""
        ...

    def stop(self) -> None: ...


def default_kube() -> str:
    """`real` when tests/e2e's control plane is built here, else `standin`."""
    from tests.e2e.controlplane import ControlPlaneError, bin_dir

    try:
        bin_dir()
    except ControlPlaneError:
        return "standin"
    return "real"


@contextlib.contextmanager
def fleet_kube(kind: str, root: Path, objects: Path) -> Iterator[FleetKube]:
    """The API `kind` names, holding the objects of `objects` (one JSON document a line,
    as bench.storm writes them); stopped on exit."""
    root.mkdir(parents=True, exist_ok=True)
    kube: FleetKube = RealKube(root) if kind == "real" else StandinKube(root, objects)
    try:
        if isinstance(kube, RealKube):
            kube.start(objects)
        else:
            kube.start()
        yield kube
    finally:
        kube.stop()


def objects_lines(objects: list[dict[str, Any]]) -> str:
    """The fleet's objects, one JSON document a line: what both kinds of API are filled from."""
    return "".join(json.dumps(obj, separators=(",", ":")) + "\n" for obj in objects)


def read_objects(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


# ----- the real kube-apiserver -------------------------------------------------------


def api_object(obj: dict[str, Any]) -> dict[str, Any]:
    """The fleet object as the API takes it: a pod template for Deployments, a container
    for Pods."""
    labels = obj["metadata"].get("labels", {})
    container = {"name": "app", "image": "registry.example.com/storm:bench"}
    if obj["kind"] == "Deployment":
        template = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
        return {**obj, "spec": {**obj["spec"], "template": template}}
    if obj["kind"] == "Pod":
        spec = {"automountServiceAccountToken": False, "containers": [container]}
        return {**obj, "spec": spec}
    return obj


class RealKube:
    """etcd + kube-apiserver of tests/e2e (tests/e2e/controlplane.py), in `root`."""

    kind = "real"

    def __init__(self, root: Path) -> None:
        from tests.e2e.controlplane import ControlPlane, ControlPlaneError

        try:
            self.plane = ControlPlane(root)
        except ControlPlaneError as err:
            raise KubeError(f"--kube real: {err}") from None
        self.kubeconfig = self.plane.admin_kubeconfig

    def start(self, objects: Path) -> None:
        from tests.e2e.controlplane import ControlPlaneError

        try:
            self.plane.start()
        except ControlPlaneError as err:
            raise KubeError(f"--kube real: {err}") from None
        self.create(read_objects(objects.read_text()))

    def create(self, objects: list[dict[str, Any]]) -> None:
        """The reader role for CLIENT_USER, then the fleet (tests/e2e/objects.py)."""
        from tests.e2e.kubeapi import KubeError as ApiError
        from tests.e2e.objects import create_objects

        kube = self.plane.admin()
        try:
            kube.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", READER_ROLE)
            kube.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", READER_BINDING)
            create_objects(kube, [api_object(o) for o in objects], CREATE_THREADS)
        except ApiError as err:
            raise KubeError(f"creating the fleet in kube-apiserver: {err}") from None

    def pids(self) -> list[int]:
        return [p.pid for p in self.plane.processes if p.name == "kube-apiserver" and p.running]

    def stop(self) -> None:
        self.plane.stop()


# ----- the stand-in ------------------------------------------------------------------


class StandinKube:
    """`python -m bench kube-standin` in its own process: in the load generator's process
    its work would stall the measuring loop."""

    kind = "standin"

    def __init__(self, root: Path, objects: Path) -> None:
        from tests.e2e.controlplane import Process

        self.kubeconfig = root / "standin.kubeconfig"
        argv = [
            sys.executable, "-m", "bench", "kube-standin",
            "--objects", str(objects),
            "--kubeconfig", str(self.kubeconfig),
        ]  # fmt: skip
        self.process = Process("Kubernetes API stand-in", argv, root / "standin.log")

    def start(self, limit_s: float = 300.0) -> None:
        from tests.e2e.controlplane import tail

        self.process.start()
        deadline = time.monotonic() + limit_s
        while not self.kubeconfig.exists():
            if not self.process.running or time.monotonic() > deadline:
                self.stop()
                raise KubeError(f"the stand-in did not come up:\n{tail(self.process.log)}")
            time.sleep(0.2)

    def pids(self) -> list[int]:
        return [self.process.pid] if self.process.running else []

    def stop(self) -> None:
        self.process.stop()


def serve_standin(objects: Path, kubeconfig: Path) -> None:
    """`python -m bench kube-standin`: the stand-in (tests/support) holding `objects`,
    allowing CLIENT_USER what READER_ROLE allows, until SIGTERM."""
    from tests.support.kube_standin import AccessRule, KubeStandinThread

    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with KubeStandinThread() as standin:
        for obj in read_objects(objects.read_text()):
            standin.add(obj)
        standin.allow(AccessRule(user=CLIENT_USER, verb="get", api_group="custom.metrics.k8s.io"))
        standin.allow(AccessRule(user=CLIENT_USER, verb="list", api_group="custom.metrics.k8s.io"))
        standin.allow(AccessRule(user=CLIENT_USER, verb="get", path="*"))
        partial = kubeconfig.with_suffix(".partial")
        standin.write_kubeconfig(partial)
        partial.rename(kubeconfig)  # appears whole, once every object is in
        while not stop:
            time.sleep(0.2)
