"""Rendering deploy/ with the real `kubectl kustomize`, and looking objects up in the result."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMESPACE = "surge-system"

# Kinds that are not namespaced; every other kind the manifests use is.
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "APIService"})
# Kinds defined by CRDs: allowed only in the components that can be left out.
CRD_KINDS = frozenset(
    {
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "Certificate",
        "Issuer",
        "ScaledObject",
        "TriggerAuthentication",
    }
)

Obj = dict[str, Any]


def kustomize(path: Path) -> list[Obj]:
    """The objects `kubectl kustomize PATH` prints; fails the test with kubectl's stderr."""
    run = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, f"kubectl kustomize {path} failed:\n{run.stderr}"
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc is not None]


@dataclass(frozen=True)
class Rendered:
    """One rendered kustomization, with lookups by kind and name."""

    path: Path
    objects: list[Obj]

    def all(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def find(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        for o in self.all(kind):
            meta = o["metadata"]
            if meta["name"] == name and meta.get("namespace") == namespace:
                return o
        return None

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        found = self.find(kind, name, namespace)
        where = f"{namespace}/{name}" if namespace else name
        assert found is not None, f"{self.path.relative_to(ROOT)} renders no {kind} {where}"
        return found

    def one(self, kind: str) -> Obj:
        matches = self.all(kind)
        assert len(matches) == 1, f"expected one {kind}, got {len(matches)}"
        return matches[0]


def render(relative: str) -> Rendered:
    path = DEPLOY / relative
    return Rendered(path, kustomize(path))


def pod_spec(deployment: Obj) -> Obj:
    return deployment["spec"]["template"]["spec"]


def container(deployment: Obj, name: str) -> Obj:
    for c in pod_spec(deployment)["containers"]:
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name} in Deployment {deployment['metadata']['name']}")


def flags(c: Obj) -> dict[str, str]:
    """A container's `--name=value` arguments as a dict (all of Surge's are written so)."""
    out: dict[str, str] = {}
    for arg in c.get("args", []):
        assert arg.startswith("--") and "=" in arg, f"argument not as --flag=value: {arg!r}"
        name, _, value = arg.partition("=")
        assert name not in out, f"flag {name} given twice"
        out[name] = value
    return out


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector (non-empty) selects objects with these labels."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def prestop_seconds(c: Obj) -> float:
    """How long a container's preStop hook waits: `sleep N` exec or the sleep action."""
    pre = c["lifecycle"]["preStop"]
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    command = pre["exec"]["command"]
    words = shlex.split(command[-1]) if command[0] in ("sh", "/bin/sh") else command
    assert words[0] in ("sleep", "/bin/sleep") and len(words) == 2, (
        f"preStop is not a sleep: {command}"
    )
    return float(words[1])


def walk_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path
