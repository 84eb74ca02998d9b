"""The e2e stage: the control plane, Surge registered through the aggregator as deploy/
registers it, a real Prometheus scraping the seed's metrics, Nodes, and the pod stand-in.

Surge runs outside the cluster on loopback, as its Deployment would run it inside: the
objects of deploy/overlays/resource-metrics (namespace, service account, RBAC, the rules
ConfigMap, the four APIServices) are applied with kubectl; the Service becomes an
ExternalName service pointing at `localhost` (an Endpoints address on loopback is refused
by validation, and the aggregator resolves an ExternalName service to its host), and
each APIService gets Surge's port and the fixture's CA as caBundle. Surge authenticates
to the API server with a token of its own service account (TokenRequest), so its object
index and its delegated authentication and authorization go through the shipped RBAC,
and it reads the client CA and front-proxy settings from
kube-system/extension-apiserver-authentication as in a cluster.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml

from surge.demo.localprom import LocalPrometheus, free_port
from tests.e2e.controlplane import SURGE_SERVICE, ControlPlane, Process, write_kubeconfig
from tests.e2e.exporter import Exporter, Load
from tests.e2e.kubeapi import Kube, KubeError
from tests.e2e.kubelet import FakeKubelet
from tests.e2e.pki import LOOPBACK

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "overlays" / "resource-metrics"
NODES = ("node-1", "node-2", "node-3")
# The seed's hosts: 16 cores, 64 GiB.
NODE_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110"}
APISERVICES = (
    "v1beta1.custom.metrics.k8s.io",
    "v1beta2.custom.metrics.k8s.io",
    "v1beta1.external.metrics.k8s.io",
    "v1beta1.metrics.k8s.io",
)
# Surge's clock compressed like the HPA's (see controlplane.HPA_FLAGS): series relisted
# every 5s (deploy: 1m), snapshots fresh for 2s (10s), stale answers for 10s (2m).
SURGE_FLAGS = (
    f"--forecast-config={Path(__file__).with_name('forecasts.yaml')}",
    "--forecast-refit-interval=5s",
    "--metrics-relist-interval=5s",
    "--freshness=2s",
    "--max-staleness=10s",
    "--shutdown-delay-duration=0s",
    "--shutdown-grace-period=5s",
)
T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.5
) -> T:
    """Poll until `probe` returns something truthy; AssertionError naming `what` at the
    bound (with the last exception, if it raised)."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except (KubeError, OSError, ValueError, KeyError) as err:
            last = err
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what} ({last!r})")
        time.sleep(interval_s)


class Cluster:
    """Everything the scenarios use; a context manager that stops it all on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.plane = ControlPlane(workdir)
        self.kube: Kube = self.plane.admin()
        self.kubelet = FakeKubelet(self.kube, NODES, set())
        self.exporter = Exporter(self.kubelet.running, NODES)
        self.prometheus = LocalPrometheus(
            workdir / "prometheus", scrape_targets=(), scrape_interval="1s"
        )
        self.surge_port = free_port()
        # The APIServices Surge's registration makes, which the start waits to be Available.
        self.apiservices: tuple[str, ...] = APISERVICES
        self.surge: Process | None = None
        self.rules = workdir / "rules.yaml"
        self._stack = ExitStack()

    @property
    def kubeconfig(self) -> Path:
        return self.plane.admin_kubeconfig

    @property
    def surge_url(self) -> str:
        return f"https://{LOOPBACK}:{self.surge_port}"

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        stdin: str | None = None,
        check: bool = True,
        timeout_s: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """The machine's kubectl against this cluster (its own discovery cache)."""
        argv = [
            "kubectl",
            f"--kubeconfig={kubeconfig or self.kubeconfig}",
            f"--cache-dir={self.workdir / 'kubectl-cache'}",
            *args,
        ]
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv[3:])} exited {done.returncode}:\n{done.stderr}{done.stdout}"
            )
        return done

    def kubectl_json(self, *args: str) -> Any:
        return yaml.safe_load(self.kubectl(*args, "-o", "json").stdout)

    # ----- bring-up ---------------------------------------------------------------------

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._stack.callback(self.plane.stop)
        self.plane.start()
        self._make_nodes()
        self.kubelet.start()
        self._stack.callback(self.kubelet.stop)
        self.exporter.start()
        self._stack.callback(self.exporter.stop)
        self.prometheus.scrape_targets = [self.exporter.target]
        self.prometheus.start()
        self._stack.callback(self.prometheus.stop)
        self._register_surge()
        self._start_surge()
        for name in self.apiservices:
            self.kubectl(
                "wait",
                "--for=condition=Available",
                f"apiservice/{name}",
                "--timeout=90s",
                timeout_s=100,
            )
        self.plane.start_controller_manager()

    def _make_nodes(self) -> None:
        for name in NODES:
            self.kube.create(
                "/api/v1/nodes",
                {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}},
            )
            self.kube.patch(
                f"/api/v1/nodes/{name}/status",
                {
                    "status": {
                        "capacity": NODE_CAPACITY,
                        "allocatable": NODE_CAPACITY,
                        "conditions": [
                            {"type": "Ready", "status": "True", "reason": "KubeletReady"}
                        ],
                    }
                },
            )

    def _register_surge(self) -> None:
        """deploy/overlays/resource-metrics, as it would be applied, less what runs Surge in
        the cluster (Deployment, PDB, NetworkPolicy); the Service made ExternalName."""
        rendered = subprocess.run(
            ["kubectl", "kustomize", str(OVERLAY)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        ca_bundle = base64.b64encode(self.plane.pki.ca.cert.read_bytes()).decode()
        service, namespace = SURGE_SERVICE
        objects: list[dict[str, Any]] = []
        for obj in yaml.safe_load_all(rendered):
            kind = obj["kind"]
            if kind in ("Deployment", "PodDisruptionBudget", "NetworkPolicy"):
                continue
            if kind == "Service":
                assert (obj["metadata"]["name"], obj["metadata"]["namespace"]) == SURGE_SERVICE
                obj["spec"] = {
                    "type": "ExternalName",
                    "externalName": "localhost",
                    "ports": [{"name": "https", "port": self.surge_port}],
                }
            if kind == "APIService":
                assert obj["spec"]["service"] == {
                    "name": service,
                    "namespace": namespace,
                    "port": 443,
                }
                obj["spec"]["service"]["port"] = self.surge_port
                obj["spec"]["caBundle"] = ca_bundle
            if kind == "ConfigMap" and obj["metadata"]["name"].startswith("surge-rules"):
                self.rules.write_text(obj["data"]["config.yaml"])
            objects.append(obj)
        assert self.rules.exists(), "the overlay has no surge-rules ConfigMap"
        listing = {"apiVersion": "v1", "kind": "List", "items": objects}
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(listing))

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig with a token of the service account (TokenRequest), as its pod has:
        what it may do is what the RBAC applied grants it."""
        review = self.kube.create(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 7200},
            },
        )
        return write_kubeconfig(
            self.workdir / f"{namespace}-{name}.kubeconfig",
            self.plane.server,
            self.plane.pki.ca.cert,
            token=review["status"]["token"],
        )

    def _surge_kubeconfig(self) -> Path:
        service, namespace = SURGE_SERVICE
        return self.service_account_kubeconfig(namespace, service)

    def _surge_flags(self) -> list[str]:
        """`surge serve`'s flags but for the host's: the Deployment's as deploy/ sets them."""
        return [f"--prometheus-url={self.prometheus.url}", "--log-format=json"]

    def _surge_argv(self, kubeconfig: Path) -> list[str]:
        pki = self.plane.pki
        return [
            sys.executable, "-m", "surge", "serve",
            *self._surge_flags(),
            f"--config={self.rules}",
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={self.surge_port}",
            f"--tls-cert-file={pki.surge.cert}",
            f"--tls-private-key-file={pki.surge.key}",
            *SURGE_FLAGS,
        ]  # fmt: skip

    def _start_surge(self) -> None:
        argv = self._surge_argv(self._surge_kubeconfig())
        self.surge = Process("surge", argv, self.workdir / "surge.log")
        self.surge.start()
        self._stack.callback(self.surge.stop)
        self.wait_surge_ready()

    def wait_surge_ready(self) -> None:
        assert self.surge is not None
        tls = ssl.create_default_context(cafile=str(self.plane.pki.ca.cert))

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{self.surge_url}/readyz", context=tls, timeout=2):
                    return True
            except (urllib.error.URLError, OSError):
                return False

        self.surge.wait_ready(ready, timeout_s=60)

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def logs(self) -> Sequence[Path]:
        return [*sorted(self.workdir.glob("*.log")), self.prometheus.log_path]

    def set_load(self, namespace: str, load: Load | None) -> None:
        self.exporter.set_load(namespace, load)
