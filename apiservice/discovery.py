"""API discovery documents: /apis, each group, and each group-version's resource list.

The group documents name one version, v1beta1 for both groups, as custom-metrics-apiserver
writes them (it registers only the first of the metrics types' version priorities); both
custom metrics versions are served all the same. In a cluster this does not matter: the
aggregator builds the group from the APIService objects (where v1beta2 is preferred).
"""

from __future__ import annotations

from apiservice import resource_metrics
from apiservice.provider import Provider
from apiservice.types import CUSTOM_GROUP, CUSTOM_VERSIONS, EXTERNAL_GROUP, EXTERNAL_VERSIONS, JSON

GROUP_VERSIONS: dict[str, tuple[str, ...]] = {
    CUSTOM_GROUP: CUSTOM_VERSIONS,
    EXTERNAL_GROUP: EXTERNAL_VERSIONS,
}
"""Every group-version of the custom and external metrics APIs, first-priority version first."""

ALL_GROUP_VERSIONS = {**GROUP_VERSIONS, resource_metrics.GROUP: resource_metrics.VERSIONS}
"""With metrics.k8s.io, served only when resource rules are configured."""


def _version(group: str, version: str) -> JSON:
    return {"groupVersion": f"{group}/{version}", "version": version}


def _group(group: str) -> JSON:
    advertised = _version(group, ALL_GROUP_VERSIONS[group][0])
    return {"name": group, "versions": [advertised], "preferredVersion": advertised}


def api_group_list(*, resource_metrics_served: bool = False) -> JSON:
    """metav1.APIGroupList, the body of /apis (written without apiVersion, as Kubernetes does)."""
    groups = (
        [*GROUP_VERSIONS, resource_metrics.GROUP] if resource_metrics_served else GROUP_VERSIONS
    )
    return {"kind": "APIGroupList", "groups": [_group(group) for group in groups]}


def api_group(group: str) -> JSON:
    """metav1.APIGroup, the body of /apis/<group>; `group` must be one Surge serves."""
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group)}


def _resource(name: str, namespaced: bool, kind: str) -> JSON:
    return {
        "name": name,
        "singularName": "",
        "namespaced": namespaced,
        "kind": kind,
        "verbs": ["get"],
    }


def api_resource_list(group: str, version: str, provider: Provider) -> JSON:
    """metav1.APIResourceList: one resource per servable metric, as custom-metrics-apiserver has.

    Custom metrics are named `<group-resource>/<metric>`; external metrics by their name,
    always namespaced. metrics.k8s.io has its fixed pods and nodes.
    """
    if group == resource_metrics.GROUP:
        return resource_metrics.api_resource_list(version)
    if group == CUSTOM_GROUP:
        resources = [
            _resource(f"{info.group_resource}/{info.metric}", info.namespaced, "MetricValueList")
            for info in provider.list_all_metrics()
        ]
    else:
        resources = [
            _resource(info.metric, True, "ExternalMetricValueList")
            for info in provider.list_all_external_metrics()
        ]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}",
        "resources": resources,
    }
