"""Objects written for an --objects file or the Kubernetes stand-in, created through the
real kube-apiserver: the server assigns uids (owner references are rewritten to them),
pods are reported Running and Ready through pods/status as the kubelet stand-in does
(tests/e2e/kubelet.py), and no scheduler runs, so a pod without a node gets one.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.kubeapi import Kube
from tests.e2e.kubelet import running_status

NODE = "e2e-node"
# Fields the API server sets itself, or refuses on create.
SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")


def collection(obj: dict[str, Any]) -> str:
    """The API path objects of this kind are created under (plural = kind + "s", true of
    every kind the fixtures hold: Namespace, Service, Deployment, ReplicaSet, Pod, Job)."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    plural = kind.lower() + "s"
    if kind == "Namespace":
        return f"{prefix}/{plural}"
    return f"{prefix}/namespaces/{obj['metadata']['namespace']}/{plural}"


def create_body(obj: dict[str, Any], uids: dict[str, str]) -> dict[str, Any]:
    """The body to POST: without the fields the server sets, owners by their new uids, a
    pod on the fake node (no scheduler runs)."""
    meta = {k: v for k, v in obj["metadata"].items() if k not in SERVER_SET}
    if "ownerReferences" in meta:
        meta["ownerReferences"] = [{**r, "uid": uids[r["uid"]]} for r in meta["ownerReferences"]]
    body = {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}
    if obj["kind"] == "Pod" and not body["spec"].get("nodeName"):
        body["spec"] = {**body["spec"], "nodeName": NODE}
    return body


def create_objects(kube: Kube, objects: Sequence[dict[str, Any]], threads: int = 1) -> None:
    """Create `objects` in waves: each holds the objects whose namespace and owners exist,
    created `threads` at a time; each pod is then patched Running and Ready."""
    uids: dict[str, str] = {}
    left = list(objects)

    def create(obj: dict[str, Any]) -> None:
        created = kube.create(collection(obj), create_body(obj, uids))
        if "uid" in obj["metadata"]:
            uids[obj["metadata"]["uid"]] = created["metadata"]["uid"]
        if obj["kind"] == "Pod":
            meta = created["metadata"]
            status = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
            kube.patch(status, running_status(created))

    with ThreadPoolExecutor(threads) as pool:
        while left:
            namespaces = [o for o in left if o["kind"] == "Namespace"]
            wave = namespaces or [
                o
                for o in left
                if all(r["uid"] in uids for r in o["metadata"].get("ownerReferences", ()))
            ]
            if not wave:
                raise ValueError(f"owners missing for {len(left)} objects, first {left[0]}")
            list(pool.map(create, wave))
            done = {id(o) for o in wave}
            left = [o for o in left if id(o) not in done]
