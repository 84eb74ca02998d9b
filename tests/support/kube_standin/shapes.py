"""Output shapes by Accept: the object, PartialObjectMetadata(List), and kubectl's Tables."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tests.support.kube_standin.errors import StandinError
from tests.support.kube_standin.resources import _META_GROUP_VERSIONS, JSONObject, ResourceType


def human_duration(seconds: float) -> str:
    """Age as kubectl prints it: 45s, 3m12s, 5h30m, 3d4h, 400d, 2y10d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24 - 365 * (hours // 24 // 365)
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


_OBJECT, _PARTIAL, _PARTIAL_LIST, _TABLE = (
    "object",
    "PartialObjectMetadata",
    "PartialObjectMetadataList",
    "Table",
)


def _negotiate(accept: str) -> tuple[str, str]:
    """(shape, meta group-version) of the first acceptable media type, as kube-apiserver
    picks it: JSON only; `as=` must be a meta.k8s.io transform."""
    for item in (accept or "application/json").split(","):
        media, *raw = (p.strip() for p in item.split(";"))
        params = dict(p.partition("=")[::2] for p in raw)
        if media not in ("application/json", "application/*", "*/*"):
            continue
        shape = params.get("as")
        if shape is None:
            return _OBJECT, ""
        group_version = f"{params.get('g', '')}/{params.get('v', '')}"
        if shape in (_PARTIAL, _PARTIAL_LIST, _TABLE) and group_version in _META_GROUP_VERSIONS:
            return shape, group_version
    raise StandinError(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json, "
        "application/json;as=Table;v=v1;g=meta.k8s.io, "
        "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    )


def _not_acceptable(shape: str) -> StandinError:
    what = "is not a list" if shape == _PARTIAL_LIST else "is a list"
    return StandinError(
        406, "NotAcceptable", f"you requested {shape}, but the requested object {what}"
    )


def _partial(obj: JSONObject, group_version: str) -> JSONObject:
    return {"kind": _PARTIAL, "apiVersion": group_version, "metadata": obj.get("metadata", {})}


def _columns(resource: ResourceType) -> list[JSONObject]:
    def column(name: str, kind: str, priority: int = 0, fmt: str = "") -> JSONObject:
        return {"name": name, "type": kind, "format": fmt, "description": "", "priority": priority}

    if resource.kind == "Pod":
        return [
            column("Name", "string", fmt="name"),
            column("Ready", "string"),
            column("Status", "string"),
            column("Restarts", "string"),
            column("Age", "string"),
            column("IP", "string", 1),
            column("Node", "string", 1),
        ]
    if resource.kind == "Deployment":
        return [
            column("Name", "string", fmt="name"),
            column("Ready", "string"),
            column("Up-to-date", "integer"),
            column("Available", "integer"),
            column("Age", "string"),
        ]
    return [column("Name", "string", fmt="name"), column("Age", "string")]


def _age(obj: JSONObject) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return human_duration((datetime.now(UTC) - then).total_seconds())


def _cells(resource: ResourceType, obj: JSONObject) -> list[Any]:
    name = obj.get("metadata", {}).get("name", "")
    status, spec = obj.get("status") or {}, obj.get("spec") or {}
    if resource.kind == "Pod":
        containers = status.get("containerStatuses") or []
        ready = sum(1 for c in containers if c.get("ready"))
        total = len(spec.get("containers") or containers)
        restarts = sum(int(c.get("restartCount", 0)) for c in containers)
        return [
            name,
            f"{ready}/{total}",
            status.get("reason") or status.get("phase", ""),
            str(restarts),
            _age(obj),
            status.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>",
        ]
    if resource.kind == "Deployment":
        return [
            name,
            f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0),
            _age(obj),
        ]
    return [name, _age(obj)]


def _table(
    resource: ResourceType,
    objects: Iterable[JSONObject],
    group_version: str,
    include: str,
    list_meta: JSONObject,
    with_columns: bool = True,
) -> JSONObject:
    rows = []
    for obj in objects:
        row: JSONObject = {"cells": _cells(resource, obj)}
        if include == "Object":
            row["object"] = obj
        elif include == "Metadata":
            row["object"] = _partial(obj, group_version)
        rows.append(row)
    table: JSONObject = {"kind": _TABLE, "apiVersion": group_version, "metadata": list_meta}
    if with_columns:
        table["columnDefinitions"] = _columns(resource)
    table["rows"] = rows
    return table
