"""A kubeconfig of one server and one user, as kubectl and Surge's --kubeconfig flags read
it: for the Kubernetes API stand-in, the e2e control plane, and Surge itself under test."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml


def write_kubeconfig(
    path: Path,
    server: str,
    *,
    ca: Path | None = None,
    user: Mapping[str, str] | None = None,
    namespace: str | None = None,
    name: str = "test",
) -> Path:
    """`user` as kubeconfig spells it (token, client-certificate and client-key)."""
    cluster: dict[str, str] = {"server": server}
    if ca is not None:
        cluster["certificate-authority"] = str(ca)
    context = {"cluster": name, "user": name}
    if namespace is not None:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": dict(user or {})}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
