"""The e2e stage with Surge installed by `helm install` of deploy/helm/surge, given the
prometheus-adapter chart values of deploy/helm/examples/from-prometheus-adapter.yaml
unchanged, plus one values file saying where Surge runs here, in that chart's keys
(prometheus.url/port, tls.*, service.*) and the chart's ExternalName Service type.

Surge runs on the host as in tests/e2e/cluster.py, with the arguments of the Deployment the
chart rendered (paths and port made the host's, the clock compressed) and the rules of the
ConfigMap the chart installed; after `helm upgrade` it restarts on the new ones, as the
rolled pods would. The Deployment's own pods are run by the fake kubelet, so the rollout
the deployment controller performs on upgrade is real.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.cluster import ROOT, Cluster
from tests.e2e.controlplane import SURGE_SERVICE
from tests.e2e.pki import LOOPBACK
from tests.support.tools import tool_bin

CHART = ROOT / "deploy" / "helm" / "surge"
PA_VALUES = ROOT / "deploy" / "helm" / "examples" / "from-prometheus-adapter.yaml"
RELEASE, NAMESPACE = SURGE_SERVICE
# Flags whose values are the pod's paths and port: the host's own are given instead.
HOST_FLAGS = ("--config", "--secure-port", "--tls-cert-file", "--tls-private-key-file")


class HelmCluster(Cluster):
    """Cluster whose Surge registration is a Helm release (see the module docstring)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.helm_bin = tool_bin("helm") / "helm"
        self.chart_args: list[str] = []

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The built helm against this cluster, its config and cache in the work dir."""
        home = self.workdir / "helm"
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECONFIG": str(self.kubeconfig),
        }
        done = subprocess.run(
            [str(self.helm_bin), *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env=env,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done

    def local_values(self) -> dict[str, Any]:
        """Where Surge and Prometheus run here, in the prometheus-adapter chart's keys."""
        pki = self.plane.pki
        return {
            "prometheus": {"url": f"http://{LOOPBACK}", "port": self.prometheus.port, "path": ""},
            "tls": {
                "enable": True,
                "ca": pki.ca.cert.read_text(),
                "certificate": pki.surge.cert.read_text(),
                "key": pki.surge.key.read_text(),
            },
            "service": {
                "type": "ExternalName",
                "externalName": "localhost",
                "port": self.surge_port,
            },
        }

    def release(self, verb: str, *values: Path) -> str:
        """`helm install` or `helm upgrade` the chart with the example's values, then
        `values` (a user's edits), then the local ones; reads the installed rules and
        arguments back."""
        local = self.workdir / "local-values.yaml"
        local.write_text(yaml.safe_dump(self.local_values()))
        files = [PA_VALUES, *values, local]
        extra = ["--create-namespace"] if verb == "install" else []
        done = self.helm(
            verb, RELEASE, str(CHART), "--namespace", NAMESPACE, *extra,
            *(arg for f in files for arg in ("-f", str(f))),
        )  # fmt: skip
        self._read_release()
        return done.stdout

    def _register_surge(self) -> None:
        self.kubelet.watch_namespace(NAMESPACE)
        self.release("install")

    def _read_release(self) -> None:
        deployment: dict[str, Any] = self.kubectl_json(
            "get", "deployment", RELEASE, "-n", NAMESPACE
        )
        pod = deployment["spec"]["template"]["spec"]
        self.chart_args = list(pod["containers"][0]["args"])
        rules = next(v for v in pod["volumes"] if v["name"] == "rules")["configMap"]["name"]
        configmap = self.kubectl_json("get", "configmap", rules, "-n", NAMESPACE)
        self.rules.write_text(configmap["data"]["config.yaml"])

    def _surge_flags(self) -> list[str]:
        return [a for a in self.chart_args if a.partition("=")[0] not in HOST_FLAGS]

    def restart_surge(self) -> None:
        """Surge on the release's current rules and arguments, as a rolled pod starts."""
        assert self.surge is not None
        self.surge.stop()
        self.surge.argv = self._surge_argv(self._surge_kubeconfig())
        self.surge.start()
        self.wait_surge_ready()

    def helm_json(self, *args: str) -> Any:
        return json.loads(self.helm(*args, "-o", "json").stdout)
