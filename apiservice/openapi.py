"""OpenAPI documents for the metrics APIs: /openapi/v2 and /openapi/v3.

The aggregator downloads these from every APIService backend and merges them into the
cluster's spec, and `kubectl explain` reads them, so definitions use Kubernetes' names
(`io.k8s.metrics.pkg.apis.custom_metrics.v1beta2.MetricValueList`, ...) and carry the
`x-kubernetes-group-version-kind` extension that maps a kind to its schema. The documents
do not depend on which metrics exist, so each is built and hashed once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from apiservice.discovery import GROUP_VERSIONS
from apiservice.types import CUSTOM_GROUP, EXTERNAL_GROUP, JSON, encode

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_REFERENCE = "io.k8s.api.core.v1.ObjectReference"
_PACKAGES = {
    CUSTOM_GROUP: "io.k8s.metrics.pkg.apis.custom_metrics",
    EXTERNAL_GROUP: "io.k8s.metrics.pkg.apis.external_metrics",
}
_LIST_KINDS = {CUSTOM_GROUP: "MetricValueList", EXTERNAL_GROUP: "ExternalMetricValueList"}

Ref = Callable[[str], JSON]


def _string(description: str) -> JSON:
    return {"description": description, "type": "string"}


def _gvk(group: str, version: str, kind: str) -> list[JSON]:
    return [{"group": group, "kind": kind, "version": version}]


def _type_meta(kind_help: str) -> JSON:
    return {
        "apiVersion": _string("The versioned schema of this representation of an object."),
        "kind": _string(kind_help),
    }


def _meta_definitions(ref: Ref, v3: bool) -> dict[str, JSON]:
    """The apimachinery and core types the metrics types refer to."""
    quantity: JSON = {"description": "A fixed-point number, written as Kubernetes writes it."}
    if v3:
        quantity["oneOf"] = [{"type": "string"}, {"type": "number"}]
    else:
        quantity["type"] = "string"
    group_version: JSON = {
        "description": "A group-version a client can ask for.",
        "type": "object",
        "required": ["groupVersion", "version"],
        "properties": {
            "groupVersion": _string("The group and version, as group/version."),
            "version": _string("The version."),
        },
    }
    api_group: JSON = {
        "description": "An API group and the versions it serves.",
        "type": "object",
        "required": ["name", "versions"],
        "properties": {
            **_type_meta("APIGroup"),
            "name": _string("The name of the group."),
            "versions": {"type": "array", "items": ref(f"{META}.GroupVersionForDiscovery")},
            "preferredVersion": ref(f"{META}.GroupVersionForDiscovery"),
        },
        "x-kubernetes-group-version-kind": _gvk("", "v1", "APIGroup"),
    }
    return {
        QUANTITY: quantity,
        f"{META}.Time": {
            "description": "A UTC time, RFC 3339.",
            "type": "string",
            "format": "date-time",
        },
        f"{META}.ListMeta": {
            "description": "Metadata of a list.",
            "type": "object",
            "properties": {
                "continue": _string("Token to continue a chunked list."),
                "remainingItemCount": {"type": "integer", "format": "int64"},
                "resourceVersion": _string("Version of the list."),
                "selfLink": _string("Deprecated."),
            },
        },
        f"{META}.LabelSelectorRequirement": {
            "description": "One label selector requirement.",
            "type": "object",
            "required": ["key", "operator"],
            "properties": {
                "key": _string("The label key."),
                "operator": _string("In, NotIn, Exists or DoesNotExist."),
                "values": {"type": "array", "items": {"type": "string"}},
            },
        },
        f"{META}.LabelSelector": {
            "description": "A label query; requirements are ANDed.",
            "type": "object",
            "properties": {
                "matchExpressions": {
                    "type": "array",
                    "items": ref(f"{META}.LabelSelectorRequirement"),
                },
                "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "x-kubernetes-map-type": "atomic",
        },
        OBJECT_REFERENCE: {
            "description": "A reference to an object.",
            "type": "object",
            "properties": {
                "kind": _string("Kind of the object."),
                "namespace": _string("Namespace of the object."),
                "name": _string("Name of the object."),
                "uid": _string("UID of the object."),
                "apiVersion": _string("API version of the object."),
                "resourceVersion": _string("Resource version of the object."),
                "fieldPath": _string("A field within the object."),
            },
            "x-kubernetes-map-type": "atomic",
        },
        f"{META}.Status": {
            "description": "The result of a request that did not return an object.",
            "type": "object",
            "properties": {
                **_type_meta("Status"),
                "metadata": ref(f"{META}.ListMeta"),
                "status": _string("Success or Failure."),
                "message": _string("A human-readable description of the status."),
                "reason": _string("A machine-readable reason for the status."),
                "code": {"type": "integer", "format": "int32"},
            },
            "x-kubernetes-group-version-kind": _gvk("", "v1", "Status"),
        },
        f"{META}.GroupVersionForDiscovery": group_version,
        f"{META}.APIGroup": api_group,
        f"{META}.APIGroupList": {
            "description": "The API groups a server serves.",
            "type": "object",
            "required": ["groups"],
            "properties": {
                **_type_meta("APIGroupList"),
                "groups": {"type": "array", "items": ref(f"{META}.APIGroup")},
            },
            "x-kubernetes-group-version-kind": _gvk("", "v1", "APIGroupList"),
        },
        f"{META}.APIResource": {
            "description": "A resource of a group-version.",
            "type": "object",
            "required": ["name", "singularName", "namespaced", "kind", "verbs"],
            "properties": {
                "name": _string("The plural name of the resource."),
                "singularName": _string("The singular name of the resource."),
                "namespaced": {"type": "boolean"},
                "group": _string("The group of the resource, when it differs."),
                "version": _string("The version of the resource, when it differs."),
                "kind": _string("The kind of the resource."),
                "verbs": {"type": "array", "items": {"type": "string"}},
                "shortNames": {"type": "array", "items": {"type": "string"}},
                "categories": {"type": "array", "items": {"type": "string"}},
                "storageVersionHash": _string("A hash of the storage version."),
            },
        },
        f"{META}.APIResourceList": {
            "description": "The resources of a group-version.",
            "type": "object",
            "required": ["groupVersion", "resources"],
            "properties": {
                **_type_meta("APIResourceList"),
                "groupVersion": _string("The group-version of the resources."),
                "resources": {"type": "array", "items": ref(f"{META}.APIResource")},
            },
            "x-kubernetes-group-version-kind": _gvk("", "v1", "APIResourceList"),
        },
    }


def _list_definition(group: str, version: str, kind: str, item: str, ref: Ref) -> JSON:
    return {
        "description": f"A list of {item} values.",
        "type": "object",
        "required": ["items"],
        "properties": {
            **_type_meta(kind),
            "metadata": ref(f"{META}.ListMeta"),
            "items": {"type": "array", "items": ref(f"{_PACKAGES[group]}.{version}.{item}")},
        },
        "x-kubernetes-group-version-kind": _gvk(group, version, kind),
    }


def _metric_definitions(group: str, version: str, ref: Ref) -> dict[str, JSON]:
    """The list and item types of one group-version."""
    package = f"{_PACKAGES[group]}.{version}"
    timestamp = ref(f"{META}.Time")
    value = ref(QUANTITY)
    window = {"type": "integer", "format": "int64"}
    if group == EXTERNAL_GROUP:
        return {
            f"{package}.ExternalMetricValueList": _list_definition(
                group, version, "ExternalMetricValueList", "ExternalMetricValue", ref
            ),
            f"{package}.ExternalMetricValue": {
                "description": "One value of an external metric.",
                "type": "object",
                "required": ["metricName", "metricLabels", "timestamp", "value"],
                "properties": {
                    "metricName": _string("The name of the metric."),
                    "metricLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "timestamp": timestamp,
                    "window": window,
                    "value": value,
                },
            },
        }
    item: JSON = {
        "description": "The value of a metric for one object.",
        "type": "object",
        "properties": {"describedObject": ref(OBJECT_REFERENCE)},
    }
    definitions = {
        f"{package}.MetricValueList": _list_definition(
            group, version, "MetricValueList", "MetricValue", ref
        ),
        f"{package}.MetricValue": item,
    }
    if version == "v1beta1":
        item["required"] = ["describedObject", "metricName", "timestamp", "value", "selector"]
        item["properties"] |= {
            "metricName": _string("The name of the metric."),
            "timestamp": timestamp,
            "window": window,
            "value": value,
            "selector": ref(f"{META}.LabelSelector"),
        }
        return definitions
    item["required"] = ["describedObject", "metric", "timestamp", "value"]
    item["properties"] |= {
        "metric": ref(f"{package}.MetricIdentifier"),
        "timestamp": timestamp,
        "windowSeconds": window,
        "value": value,
    }
    definitions[f"{package}.MetricIdentifier"] = {
        "description": "A metric's name and the selector that narrowed it.",
        "type": "object",
        "required": ["name", "selector"],
        "properties": {
            "name": _string("The name of the metric."),
            "selector": ref(f"{META}.LabelSelector"),
        },
    }
    return definitions


@dataclass(frozen=True)
class _Param:
    name: str
    where: str  # "path" or "query"
    description: str


_NAMESPACE = _Param("namespace", "path", "The namespace of the described objects.")
_RESOURCE = _Param("resource", "path", "The described resource, such as pods or deployments.apps.")
_NAME = _Param(
    "name", "path", "The described object's name, or * for every object the labelSelector selects."
)
_METRIC = _Param("metric", "path", "The name of the metric.")
_LABEL_SELECTOR = _Param("labelSelector", "query", "Selects the described objects when name is *.")
_METRIC_SELECTOR = _Param(
    "metricLabelSelector", "query", "Narrows the metric's series by their labels."
)
_EXTERNAL_SELECTOR = _Param(
    "labelSelector", "query", "Narrows the metric's series by their labels."
)


def _routes(group: str, version: str) -> list[tuple[str, str, list[_Param]]]:
    """(path, scope word of the operation id, parameters) for each metric route."""
    prefix = f"/apis/{group}/{version}"
    if group == EXTERNAL_GROUP:
        external = [_NAMESPACE, _METRIC, _EXTERNAL_SELECTOR]
        return [(f"{prefix}/namespaces/{{namespace}}/{{metric}}", "Namespaced", external)]
    selectors = [_LABEL_SELECTOR, _METRIC_SELECTOR]
    return [
        (
            f"{prefix}/namespaces/{{namespace}}/{{resource}}/{{name}}/{{metric}}",
            "Namespaced",
            [_NAMESPACE, _RESOURCE, _NAME, _METRIC, *selectors],
        ),
        (
            f"{prefix}/namespaces/{{namespace}}/metrics/{{metric}}",
            "ForNamespace",
            [_NAMESPACE, _METRIC, *selectors],
        ),
        (f"{prefix}/{{resource}}/{{name}}/{{metric}}", "", [_RESOURCE, _NAME, _METRIC, *selectors]),
    ]


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("_", ".").split("."))


def _operation(
    operation_id: str, tag: str, response: JSON, params: list[_Param], v3: bool, gvk: JSON | None
) -> JSON:
    parameters = []
    for p in params:
        parameter: JSON = {"name": p.name, "in": p.where, "description": p.description}
        if p.where == "path":
            parameter["required"] = True
        parameter |= {"schema": {"type": "string"}} if v3 else {"type": "string"}
        parameters.append(parameter)
    if v3:
        ok: JSON = {"description": "OK", "content": {"application/json": {"schema": response}}}
    else:
        ok = {"description": "OK", "schema": response}
    operation: JSON = {"tags": [tag], "operationId": operation_id}
    if not v3:
        operation |= {"produces": ["application/json"], "schemes": ["https"]}
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = {"200": ok, "401": {"description": "Unauthorized"}}
    if gvk is not None:
        operation |= {"x-kubernetes-action": "list", "x-kubernetes-group-version-kind": gvk}
    return operation


def _group_name(group: str) -> str:
    """`custom.metrics.k8s.io` -> `CustomMetrics`, as Kubernetes names operations."""
    return _camel(group.removesuffix(".k8s.io"))


def _group_version_paths(group: str, version: str, ref: Ref, v3: bool) -> dict[str, JSON]:
    name = _group_name(group)
    tag = f"{name[0].lower()}{name[1:]}_{version}"
    prefix = name + _camel(version)
    kind = _LIST_KINDS[group]
    list_ref = ref(f"{_PACKAGES[group]}.{version}.{kind}")
    gvk: JSON = {"group": group, "version": version, "kind": kind}
    paths = {
        f"/apis/{group}/{version}/": {
            "get": _operation(
                f"get{prefix}APIResources", tag, ref(f"{META}.APIResourceList"), [], v3, None
            )
        }
    }
    for path, scope, params in _routes(group, version):
        operation_id = (
            f"list{prefix}{scope}{kind}"
            if scope != "ForNamespace"
            else f"read{prefix}{kind}ForNamespace"
        )
        paths[path] = {"get": _operation(operation_id, tag, list_ref, params, v3, gvk)}
    return paths


def _group_paths(ref: Ref) -> dict[str, JSON]:
    group_list = ref(f"{META}.APIGroupList")
    paths = {"/apis/": {"get": _operation("getAPIVersions", "apis", group_list, [], False, None)}}
    for group in GROUP_VERSIONS:
        name = _group_name(group)
        operation = _operation(
            f"get{name}APIGroup",
            f"{name[0].lower()}{name[1:]}",
            ref(f"{META}.APIGroup"),
            [],
            False,
            None,
        )
        paths[f"/apis/{group}/"] = {"get": operation}
    return paths


_INFO = {"title": "Surge", "version": "unversioned"}
_BEARER = {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}}


@cache
def openapi_v2() -> bytes:
    """The Swagger 2.0 document of everything Surge serves under /apis."""

    def ref(name: str) -> JSON:
        return {"$ref": f"#/definitions/{name}"}

    paths = _group_paths(ref)
    definitions = _meta_definitions(ref, v3=False)
    for group, versions in GROUP_VERSIONS.items():
        for version in versions:
            paths |= _group_version_paths(group, version, ref, v3=False)
            definitions |= _metric_definitions(group, version, ref)
    return encode(
        {
            "swagger": "2.0",
            "info": _INFO,
            "paths": paths,
            "definitions": dict(sorted(definitions.items())),
            "securityDefinitions": _BEARER,
            "security": [{"BearerToken": []}],
        }
    )


def _v3_ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


@cache
def _v3_documents() -> dict[str, tuple[bytes, str]]:
    """Each group-version's OpenAPI 3.0 document and its hash, by discovery path."""
    documents = {}
    for group, versions in GROUP_VERSIONS.items():
        for version in versions:
            schemas = _meta_definitions(_v3_ref, v3=True)
            schemas |= _metric_definitions(group, version, _v3_ref)
            body = encode(
                {
                    "openapi": "3.0.0",
                    "info": _INFO,
                    "paths": _group_version_paths(group, version, _v3_ref, v3=True),
                    "components": {
                        "schemas": dict(sorted(schemas.items())),
                        "securitySchemes": _BEARER,
                    },
                    "security": [{"BearerToken": []}],
                }
            )
            documents[f"apis/{group}/{version}"] = (body, hashlib.sha512(body).hexdigest().upper())
    return documents


def openapi_v3_document(group: str, version: str) -> tuple[bytes, str] | None:
    """One group-version's OpenAPI 3.0 document and its hash, or None if Surge does not serve it."""
    return _v3_documents().get(f"apis/{group}/{version}")


@cache
def openapi_v3_discovery() -> bytes:
    """/openapi/v3: where each group-version's document is, with its hash for caching."""
    return encode(
        {
            "paths": {
                path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
                for path, (_, digest) in _v3_documents().items()
            }
        }
    )
