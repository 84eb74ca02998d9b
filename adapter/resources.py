"""The cluster's resources as API discovery describes them: Kubernetes' RESTMapper, in small.

prometheus-adapter normalizes every group-resource it meets (config overrides, label
names, request paths) through a discovery-backed RESTMapper; this is that mapper.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from apiservice.provider import GroupResource


@dataclass(frozen=True)
class APIResource:
    group: str
    version: str
    resource: str  # plural, lower case: "pods"
    singular: str  # "pod"
    kind: str  # "Pod"
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @functools.cached_property  # asked on every request: one GroupResource, not one each
    def group_resource(self) -> GroupResource:
        return GroupResource(self.group, self.resource)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def guess_plural(kind: str) -> str:
    """apimachinery's UnsafeGuessKindToResource, for kinds discovery does not describe."""
    lower = kind.lower()
    if not lower:
        return lower
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


# The core resources Surge knows without a cluster, for --objects and for tests.
BUILTIN = (
    APIResource("", "v1", "pods", "pod", "Pod", True, ("po",)),
    APIResource("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",)),
    APIResource("", "v1", "nodes", "node", "Node", False, ("no",)),
    APIResource("", "v1", "services", "service", "Service", True, ("svc",)),
    APIResource("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", False),
    APIResource(
        "", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", True
    ),
    APIResource("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",)),
    APIResource("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",)),
    APIResource("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ("sts",)),
    APIResource("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",)),
    APIResource("batch", "v1", "jobs", "job", "Job", True),
    APIResource("batch", "v1", "cronjobs", "cronjob", "CronJob", True, ("cj",)),
)


_RESOLVED_KEPT = 1024


class ResourceMapper:
    """Resolves partial or singular group-resources to the served ones, in discovery order.

    As client-go's discovery RESTMapper, an unqualified name matches the first group that
    serves it, so `deployments` is `deployments.apps` and core resources win ties.
    """

    def __init__(self, resources: Iterable[APIResource]) -> None:
        self.resources: tuple[APIResource, ...] = tuple(resources)
        # What each name asked for resolved to: every request asks, discovery lists dozens.
        self._resolved: dict[GroupResource, APIResource | None] = {}

    def resource_for(self, gr: GroupResource) -> APIResource | None:
        """The served resource a (possibly singular, short or unqualified) name refers to."""
        if gr in self._resolved:
            return self._resolved[gr]
        name = gr.resource.lower()
        found = None
        for res in self.resources:
            if gr.group and res.group != gr.group:
                continue
            if name in (res.resource, res.singular) or name in res.short_names:
                found = res
                break
        if len(self._resolved) >= _RESOLVED_KEPT:  # bounded whatever names clients send
            self._resolved.clear()
        self._resolved[gr] = found
        return found

    def by_kind(self, api_version: str, kind: str) -> APIResource | None:
        group = api_version.rpartition("/")[0]
        for res in self.resources:
            if res.kind == kind and res.group == group:
                return res
        return None

    def normalize(self, gr: GroupResource) -> GroupResource | None:
        res = self.resource_for(gr)
        return res.group_resource if res else None

    def singular(self, gr: GroupResource) -> str:
        """mapper.ResourceSingularizer: the singular name used to render label templates."""
        res = self.resource_for(gr)
        return res.singular if res else gr.resource

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.resources)
