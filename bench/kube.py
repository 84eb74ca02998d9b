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

import asyncio
import contextlib
import json
import signal
import ssl
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

if TYPE_CHECKING:
    from tests.e2e.controlplane import ControlPlane

KUBES = ("real", "standin")
CLIENT_USER = "storm-hpa-controller"
# Requests in flight while filling the API: enough to keep kube-apiserver and etcd busy
# on both cores (one connection each, kept alive), well under the apiserver's default
# --max-mutating-requests-inflight (200).
FILL_INFLIGHT = 48
FILL_RETRIES = 5  # per request, for 429 / 5xx / a dropped connection
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


# What the storm counts of kube-apiserver's work per sync: the reviews the servers ask, and
# the lists of pods (prometheus-adapter's, one per Pods-metric request; Surge watches).
API_COUNTS = {
    "reviews": ("subjectaccessreviews", "POST"),
    "pod_lists": ("pods", "LIST"),
}


class KubeError(RuntimeError):
    """The fleet's Kubernetes API could not be set up; the run stops with this reason."""


class FleetKube(Protocol):
    kind: str
    kubeconfig: Path  # for listing, TokenReview and SubjectAccessReview
    filled: Filled | None  # how the fleet went in, when created through the API

    def pids(self) -> list[int]:
        """The API server's processes, whose CPU the storm reports beside each mode's."""
        ...

    def store_pids(self) -> list[int]:
        """The API's storage (etcd), part of the run's work, not of the machine's other load."""
        ...

    def served(self) -> dict[str, float] | None:
        """Requests the API has served so far, by kind (API_COUNTS), from its own
        apiserver_request_total; None where the API does not count them (the stand-in)."""
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


@dataclass(frozen=True)
class Filled:
    """What fill() did: objects created, pods reported Ready, requests sent, wall time."""

    objects: int
    pods_ready: int
    requests: int
    seconds: float

    @property
    def objects_per_s(self) -> float:
        return self.objects / max(self.seconds, 1e-9)


class FillError(RuntimeError):
    """A create or status patch the API refused (after retries): its path and message."""


def fill(
    plane: ControlPlane, objects: Sequence[dict[str, Any]], inflight: int = FILL_INFLIGHT
) -> Filled:
    """Create `objects` (API bodies, without ownerReferences) in `plane` as its admin:
    the Namespaces first, then everything else, `inflight` requests at a time over
    kept-alive connections; each Pod is then patched Running and Ready through
    pods/status, as tests/e2e's kubelet stand-in reports it. Blocking: runs its own
    event loop in a thread, so it may be called from sync code or from a running loop."""
    if any(o["metadata"].get("ownerReferences") for o in objects):
        raise ValueError("fill() creates objects without ownerReferences only")
    p = plane.pki
    tls = ssl.create_default_context(cafile=str(p.ca.cert))
    tls.load_cert_chain(str(p.admin.cert), str(p.admin.key))
    with ThreadPoolExecutor(1, thread_name_prefix="fill") as pool:
        return pool.submit(asyncio.run, _fill(plane.server, tls, objects, inflight)).result()


async def _fill(
    server: str, tls: ssl.SSLContext, objects: Sequence[dict[str, Any]], inflight: int
) -> Filled:
    from tests.e2e.kubeapi import MERGE_PATCH
    from tests.e2e.kubelet import running_status
    from tests.e2e.objects import collection, create_body

    started = time.monotonic()
    requests = pods = 0
    connector = aiohttp.TCPConnector(limit=inflight, ssl=tls)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(server, connector=connector, timeout=timeout) as session:

        async def send(method: str, path: str, body: dict[str, Any], kind: str) -> None:
            nonlocal requests
            data = json.dumps(body, separators=(",", ":"))
            headers = {"Content-Type": kind, "Accept": "application/json"}
            for attempt in range(FILL_RETRIES):
                requests += 1
                try:
                    async with session.request(method, path, data=data, headers=headers) as resp:
                        # 409 on a retried create: the attempt that lost its answer made it
                        if resp.status < 300 or (resp.status == 409 and attempt > 0):
                            return
                        why = f"{resp.status} {_message(await resp.read())}"
                        if resp.status != 429 and resp.status < 500:
                            break
                except (aiohttp.ClientConnectionError, TimeoutError) as err:
                    why = repr(err)
                await asyncio.sleep(0.2 * 2**attempt)
            raise FillError(f"{method} {path}: {why}")

        async def create(obj: dict[str, Any]) -> None:
            nonlocal pods
            body = create_body(obj, {})
            await send("POST", collection(obj), body, "application/json")
            if obj["kind"] == "Pod":
                meta = obj["metadata"]
                status = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
                await send("PATCH", status, running_status(body), MERGE_PATCH)
                pods += 1

        async def drain(queue: Iterator[dict[str, Any]]) -> None:
            for obj in queue:  # one shared iterator: each worker takes the next object
                await create(obj)

        namespaces = [o for o in objects if o["kind"] == "Namespace"]
        rest = [o for o in objects if o["kind"] != "Namespace"]
        for wave in (namespaces, rest):
            queue = iter(wave)
            await asyncio.gather(*(drain(queue) for _ in range(inflight)))
    return Filled(len(objects), pods, requests, time.monotonic() - started)


def _message(answer: bytes) -> str:
    """The message of a Kubernetes Status answer, or the answer's start."""
    try:
        return str(json.loads(answer)["message"])
    except (ValueError, KeyError, TypeError):
        return answer[:300].decode(errors="replace")


class RealKube:
    """etcd + kube-apiserver of tests/e2e (tests/e2e/controlplane.py), in `root`."""

    kind = "real"
    filled: Filled | None = None

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
        """The reader role for CLIENT_USER, then the fleet (fill())."""
        from tests.e2e.kubeapi import KubeError as ApiError

        kube = self.plane.admin()
        try:
            kube.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", READER_ROLE)
            kube.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", READER_BINDING)
            self.filled = fill(self.plane, [api_object(o) for o in objects])
        except (ApiError, FillError) as err:
            raise KubeError(f"creating the fleet in kube-apiserver: {err}") from None

    def pids(self) -> list[int]:
        return self._pids("kube-apiserver")

    def store_pids(self) -> list[int]:
        return self._pids("etcd")

    def _pids(self, name: str) -> list[int]:
        return [p.pid for p in self.plane.processes if p.name == name and p.running]

    def served(self) -> dict[str, float]:
        return request_counts(self.plane.admin().raw("GET", "/metrics").decode())

    def stop(self) -> None:
        self.plane.stop()


def request_counts(exposition: str) -> dict[str, float]:
    """API_COUNTS' totals from kube-apiserver's metrics text (every response code)."""
    counts = dict.fromkeys(API_COUNTS, 0.0)
    for line in exposition.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels, value = line.rsplit(" ", 1)
        for kind, (resource, verb) in API_COUNTS.items():
            if f'resource="{resource}"' in labels and f'verb="{verb}"' in labels:
                counts[kind] += float(value)
    return counts


# ----- the stand-in ------------------------------------------------------------------


class StandinKube:
    """`python -m bench kube-standin` in its own process: in the load generator's process
    its work would stall the measuring loop."""

    kind = "standin"
    filled = None

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

    def store_pids(self) -> list[int]:
        return []  # the stand-in keeps its objects in its own process

    def served(self) -> None:
        return None

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
