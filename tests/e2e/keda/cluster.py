"""The e2e stage with KEDA beside Surge, in the coexistence layout: Surge installed by helm
with `apiServices.external: false` (custom.metrics.k8s.io and metrics.k8s.io are Surge's)
and its KEDA scaler on (gRPC, TLS, client certificates from a CA of its own); KEDA's CRDs
applied from its module, its operator and its metrics server (built from its Go modules
by tests/e2e/build_tools.sh) run on the host as Surge does, and KEDA's metrics server
registered for external.metrics.k8s.io behind an ExternalName Service.

Both processes run as KEDA's own manifests run them: as the ServiceAccount keda/keda-operator
(a TokenRequest token in their kubeconfig, as their pods would mount), with no more than
the RBAC those manifests grant it, applied from KEDA's module (config/service_account,
config/rbac, config/metrics-server's roles, copied beside the binaries by
tests/e2e/build_tools.sh): the operator's ClusterRole and its Role in `keda`, auth
delegation and the authentication ConfigMap for the metrics server, and external metrics
for the HPA controller. What the rest of those manifests would give them is given here:
the namespace `keda`, the certificate they share (ca.crt, tls.crt, tls.key in their
--cert-dir: the operator's metrics gRPC service requires it of the metrics server, and the
metrics server serves the aggregator with it), and the APIService.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import yaml

from surge import readiness
from surge.demo.localprom import free_port
from tests.e2e.cluster import APISERVICES
from tests.e2e.controlplane import Process
from tests.e2e.helm.cluster import HelmCluster
from tests.e2e.pki import LOOPBACK
from tests.support.tools import tool_bin

KEDA_NAMESPACE = "keda"
KEDA_SERVICE = "keda-metrics-apiserver"
# The ServiceAccount KEDA's manifests run its operator and its metrics server as.
KEDA_SERVICE_ACCOUNT = "keda-operator"
EXTERNAL_APISERVICE = "v1beta1.external.metrics.k8s.io"


class KedaCluster(HelmCluster):
    """HelmCluster plus KEDA (see the module docstring)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.keda_bin = tool_bin("keda")
        self.scaler_port = free_port()
        self.keda_grpc_port = free_port()
        self.keda_adapter_port = free_port()
        self.keda_probe_port = free_port()
        self.apiservices = tuple(a for a in APISERVICES if a != EXTERNAL_APISERVICE)
        self.keda_certs = workdir / "keda-certs"
        self._keda_kubeconfig: Path | None = None  # once KEDA's RBAC is applied

    @property
    def keda_kubeconfig(self) -> Path:
        """KEDA's credentials: its ServiceAccount's token, as its pods have."""
        assert self._keda_kubeconfig is not None, "KEDA is not installed yet"
        return self._keda_kubeconfig

    @property
    def scaler_address(self) -> str:
        return f"{LOOPBACK}:{self.scaler_port}"

    def local_values(self) -> dict[str, Any]:
        values = super().local_values()
        values["apiServices"] = {"external": False}
        values["keda"] = {
            "scaler": {
                "enabled": True,
                "port": self.scaler_port,
                "clientCA": self.plane.pki.scaler_client_ca.cert.read_text(),
            }
        }
        return values

    def _surge_flags(self) -> list[str]:
        """The chart's flags, its client CA's path made the host's."""
        flags = [a for a in super()._surge_flags() if not a.startswith("--scaler-client-ca-file=")]
        assert len(flags) < len(super()._surge_flags()), "the chart asks for no client CA"
        return [*flags, f"--scaler-client-ca-file={self.plane.pki.scaler_client_ca.cert}"]

    def _start(self) -> None:
        super()._start()
        self._install_keda()
        self._start_keda()

    def _install_keda(self) -> None:
        self.kubectl("create", "namespace", KEDA_NAMESPACE)
        crds = self.keda_bin / "crds"
        self.kubectl("apply", "--server-side", "-f", str(crds), timeout_s=120)
        self.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        self.kubectl("apply", "-f", str(self.keda_bin / "rbac"))
        self._keda_kubeconfig = self.service_account_kubeconfig(
            KEDA_NAMESPACE, KEDA_SERVICE_ACCOUNT
        )
        pki = self.plane.pki
        self.keda_certs.mkdir()
        for source, name in (
            (pki.ca.cert, "ca.crt"),
            (pki.keda.cert, "tls.crt"),
            (pki.keda.key, "tls.key"),
        ):
            shutil.copyfile(source, self.keda_certs / name)
        objects = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": KEDA_SERVICE, "namespace": KEDA_NAMESPACE},
                "spec": {
                    "type": "ExternalName",
                    "externalName": "localhost",
                    "ports": [{"name": "https", "port": self.keda_adapter_port}],
                },
            },
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": EXTERNAL_APISERVICE},
                "spec": {
                    "group": "external.metrics.k8s.io",
                    "version": "v1beta1",
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    "service": {
                        "name": KEDA_SERVICE,
                        "namespace": KEDA_NAMESPACE,
                        "port": self.keda_adapter_port,
                    },
                    "caBundle": base64.b64encode(pki.ca.cert.read_bytes()).decode(),
                },
            },
        ]
        listing = {"apiVersion": "v1", "kind": "List", "items": objects}
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(listing))

    def _keda_env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": str(self.keda_kubeconfig),
            "KEDA_CLUSTER_OBJECT_NAMESPACE": KEDA_NAMESPACE,
            "POD_NAMESPACE": KEDA_NAMESPACE,
            "WATCH_NAMESPACE": "",
        }

    def _start_keda(self) -> None:
        ca_dir = self.workdir / "keda-ca-dir"
        ca_dir.mkdir()
        operator = Process(
            "keda-operator",
            [
                str(self.keda_bin / "keda"),
                "--leader-elect=false",
                f"--metrics-bind-address={LOOPBACK}:{free_port()}",
                f"--health-probe-bind-address={LOOPBACK}:{self.keda_probe_port}",
                f"--metrics-service-bind-address={LOOPBACK}:{self.keda_grpc_port}",
                f"--cert-dir={self.keda_certs}",
                "--enable-cert-rotation=false",
                "--enable-webhook-patching=false",
                "--enable-apiservice-patching=false",
                f"--ca-dir={ca_dir}",
                "--zap-log-level=info",
            ],
            self.workdir / "keda-operator.log",
            env=self._keda_env(),
        )
        operator.start()
        self._stack.callback(operator.stop)
        ready = f"http://{LOOPBACK}:{self.keda_probe_port}/readyz"
        operator.wait_ready(lambda: readiness.http_ok(ready), timeout_s=90)
        adapter = Process(
            "keda-metrics-apiserver",
            [
                str(self.keda_bin / "keda-adapter"),
                f"--bind-address={LOOPBACK}",
                f"--secure-port={self.keda_adapter_port}",
                f"--cert-dir={self.keda_certs}",
                f"--tls-cert-file={self.keda_certs / 'tls.crt'}",
                f"--tls-private-key-file={self.keda_certs / 'tls.key'}",
                f"--metrics-service-address={LOOPBACK}:{self.keda_grpc_port}",
                f"--lister-kubeconfig={self.keda_kubeconfig}",
                f"--authentication-kubeconfig={self.keda_kubeconfig}",
                f"--authorization-kubeconfig={self.keda_kubeconfig}",
                f"--port={free_port()}",
                "--v=2",
            ],
            self.workdir / "keda-metrics-apiserver.log",
            env=self._keda_env(),
        )
        adapter.start()
        self._stack.callback(adapter.stop)
        self.kubectl(
            "wait",
            "--for=condition=Available",
            f"apiservice/{EXTERNAL_APISERVICE}",
            "--timeout=90s",
            timeout_s=100,
        )
