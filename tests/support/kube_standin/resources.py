"""The stand-in's served resources and its /version, as kube-apiserver 1.32 lists them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

K8S_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T00:00:00Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_VERBS = ["get", "list", "watch"]
_META_GROUP_VERSIONS = ("meta.k8s.io/v1", "meta.k8s.io/v1beta1")
_MIN_REQUEST_TIMEOUT_S = 1800  # kube-apiserver's default watch length

JSONObject = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class ResourceType:
    """One served resource, as its APIResourceList entry describes it."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    # Field selectors the real server accepts beyond metadata.name/namespace.
    fields: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def discovery(self) -> JSONObject:
        entry: JSONObject = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(_VERBS),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "pods", "pod", "Pod", True, ("po",), ("spec.nodeName", "status.phase")),
    ResourceType(
        "", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), ("status.phase",)
    ),
    ResourceType("", "v1", "nodes", "node", "Node", False, ("no",)),
    ResourceType("", "v1", "services", "service", "Service", True, ("svc",)),
    ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ResourceType(
        "", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", False, ("pv",)
    ),
    ResourceType(
        "",
        "v1",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        True,
        ("pvc",),
    ),
    ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",)),
    ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",)),
    ResourceType("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ("sts",)),
    ResourceType("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",)),
    ResourceType("batch", "v1", "jobs", "job", "Job", True),
    ResourceType("batch", "v1", "cronjobs", "cronjob", "CronJob", True, ("cj",)),
    ResourceType(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        True,
        ("hpa",),
    ),
)


def _group_versions(resources: Iterable[ResourceType]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for r in resources:
        versions = groups.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return groups
