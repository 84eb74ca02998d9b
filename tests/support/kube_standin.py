"""A STAND-IN for the Kubernetes API server, for tests: no real control plane runs here.

It serves plain HTTP on 127.0.0.1 (no authentication) from an in-memory store that tests
fill through a Python control API (`add`, `update`, `delete`). What it implements
faithfully, as kube-apiserver 1.32 answers (checked with the real `kubectl` and
kubernetes-asyncio):

- discovery: /api (APIVersions), /api/v1 and /apis/{group}/{version} (APIResourceList:
  name, singularName, namespaced, kind, verbs, shortNames), /apis (APIGroupList),
  /apis/{group} (APIGroup), /version. Aggregated discovery (Accept
  ...as=APIGroupDiscoveryList) is not offered; like servers before 1.26 it answers the
  legacy documents as application/json, and clients fall back to them.
- list: items sorted by namespace then name (etcd key order), without kind/apiVersion on
  items, `metadata.resourceVersion` on the list, `labelSelector` (the Kubernetes grammar; a
  bad one is a 400 Status), `fieldSelector` (metadata.name, metadata.namespace, and
  spec.nodeName / status.phase on pods; =, ==, !=), `limit` and `continue`.
- get: one object with kind and apiVersion; a 404 Status naming it when missing.
- watch (`watch=1|true`): JSON lines {"type", "object"} for changes after
  `resourceVersion`, or ADDED for the current state when it is unset or "0"; label and
  field selectors applied to old and new states (an object leaving the selection is a
  DELETED, entering it an ADDED); `timeoutSeconds`; a BOOKMARK before a timed-out stream
  closes when `allowWatchBookmarks` is set; an ERROR 410 Expired event for a
  resourceVersion older than the kept history.
- output shapes by Accept: the object, `as=PartialObjectMetadata(List)` and `as=Table`
  (meta.k8s.io v1/v1beta1) with kubectl's columns for pods and deployments, 406 when
  nothing acceptable is offered.
- Status errors (kind Status, reason, code) for 400, 404, 405, 406, 410 and 503.

- reviews, the delegated auth an extension API server asks of kube-apiserver:
  POST /apis/authentication.k8s.io/v1/tokenreviews and
  /apis/authorization.k8s.io/v1/subjectaccessreviews take and answer the v1 objects (201,
  the request echoed with `status`; 400 for a body that is not the object, 400 for a
  TokenReview without a token, 422 Invalid for a SubjectAccessReview without exactly one
  kind of attributes or without user and groups). Which tokens are valid (`set_token`)
  and what access is allowed or denied (`allow`, `deny`) are set by tests, and every
  review is counted (`review_calls`) and kept (`reviews`) for caching tests.

Not implemented: writes over HTTP (405), subresources, protobuf, consistent snapshots for
`continue` (it continues in the current state); requests to the stand-in itself are not
authenticated.

`down = True` injects a fault: every request gets a 503 Status and open watches end;
stop() then start() refuses connections and comes back on the same port.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import threading
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml
from aiohttp import web

from apiservice.selectors import Selector, SelectorError, parse_selector

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


def _dumps(body: object) -> str:
    """Compact, as the apiserver writes JSON."""
    return json.dumps(body, separators=(",", ":"))


def _json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(body), status=status, content_type="application/json")


class StandinError(Exception):
    """An answer that is a metav1.Status."""

    def __init__(self, code: int, reason: str, message: str, details: JSONObject | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> JSONObject:
        body: JSONObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    def response(self) -> web.Response:
        return _json_response(self.status(), status=self.code)


def _not_found_path() -> StandinError:
    return StandinError(404, "NotFound", "the server could not find the requested resource", {})


def _not_found(resource: ResourceType, name: str) -> StandinError:
    details = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    qualified = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
    return StandinError(404, "NotFound", f'{qualified} "{name}" not found', details)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _split_term(term: str) -> tuple[str, bool, str] | None:
    """(field, equal?, value) of one field-selector term, or None if it has no operator."""
    for op, equal in (("!=", False), ("==", True), ("=", True)):
        key, found, value = term.partition(op)
        if found:
            return key.strip(), equal, value.strip()
    return None


@dataclass(frozen=True)
class FieldSelector:
    """A field selector: terms `field=value`, `field==value`, `field!=value`, ANDed."""

    terms: tuple[tuple[str, bool, str], ...] = ()  # (field, equal?, value)

    @classmethod
    def parse(cls, text: str | None, resource: ResourceType) -> FieldSelector:
        if not text:
            return cls()
        allowed = {"metadata.name", "metadata.namespace", *resource.fields}
        terms = []
        for term in text.split(","):
            split = _split_term(term)
            if split is None:
                raise StandinError(
                    400, "BadRequest", f"invalid selector: '{text}'; can't understand '{term}'"
                )
            key, equal, value = split
            if key not in allowed:
                raise StandinError(
                    400,
                    "BadRequest",
                    f'"{key}" is not a known field selector: only "{", ".join(sorted(allowed))}"',
                )
            terms.append((key, equal, value))
        return cls(tuple(terms))

    def matches(self, obj: JSONObject) -> bool:
        for key, equal, value in self.terms:
            have: Any = obj
            for part in key.split("."):
                have = have.get(part, "") if isinstance(have, dict) else ""
            if (str(have or "") == value) != equal:
                return False
        return True


@dataclass(frozen=True)
class _Event:
    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: ResourceType
    obj: JSONObject
    old: JSONObject | None = None


@dataclass(eq=False)
class _Watcher:
    resource: ResourceType
    namespace: str | None
    labels: Selector
    fields: FieldSelector
    queue: asyncio.Queue[_Event | None] = field(default_factory=asyncio.Queue)

    def selects(self, obj: JSONObject | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels") or {}) and self.fields.matches(obj)

    def translate(self, event: _Event) -> str | None:
        """The event as this watcher sees it, or None if it is outside its selection."""
        now, before = self.selects(event.obj), self.selects(event.old)
        if event.type == "MODIFIED":
            if now and before:
                return "MODIFIED"
            return "ADDED" if now else "DELETED" if before else None
        return event.type if now else None


# Output shapes negotiated from Accept.
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


@dataclass(frozen=True)
class AccessRule:
    """One allow or deny rule for SubjectAccessReviews: "*" matches anything, and a rule
    names a user, a group, or neither (everyone). A rule with `path` matches only
    non-resource requests, one without only resource requests."""

    user: str | None = None
    group: str | None = None
    verb: str = "*"
    api_group: str = "*"
    resource: str = "*"
    subresource: str = "*"
    namespace: str = "*"
    name: str = "*"
    path: str | None = None
    reason: str = ""

    def matches(self, spec: JSONObject) -> bool:
        if self.user is not None and spec.get("user") != self.user:
            return False
        if self.group is not None and self.group not in (spec.get("groups") or []):
            return False
        if self.path is not None:
            attrs = spec.get("nonResourceAttributes")
            if attrs is None:
                return False
            wanted = {"path": self.path, "verb": self.verb}
        else:
            attrs = spec.get("resourceAttributes")
            if attrs is None:
                return False
            wanted = {
                "verb": self.verb,
                "group": self.api_group,
                "resource": self.resource,
                "subresource": self.subresource,
                "namespace": self.namespace,
                "name": self.name,
            }
        return all(want == "*" or attrs.get(key, "") == want for key, want in wanted.items())


@dataclass(frozen=True)
class TokenUser:
    """status.user of an authenticated TokenReview."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)
    audiences: tuple[str, ...] = ("https://kubernetes.default.svc.cluster.local",)

    def status_user(self) -> JSONObject:
        user: JSONObject = {"username": self.username}
        if self.uid:
            user["uid"] = self.uid
        if self.groups:
            user["groups"] = list(self.groups)
        if self.extra:
            user["extra"] = self.extra
        return user


def _review_body(raw: bytes, api_version: str, kind: str) -> JSONObject:
    """The posted object, checked the way the apiserver's decoder checks it."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise StandinError(
            400,
            "BadRequest",
            "the body of the request was in an unknown format - accepted media types "
            "include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ) from None
    if not isinstance(body, dict):
        raise StandinError(400, "BadRequest", f"{kind} in body must be an object")
    if body.get("apiVersion") != api_version or body.get("kind") != kind:
        raise StandinError(
            400,
            "BadRequest",
            f"the API version in the data ({body.get('apiVersion')}) does not match the "
            f"expected API version ({api_version})",
        )
    if not isinstance(body.get("spec"), dict):
        body["spec"] = {}
    return body


def _key(obj: JSONObject) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


def _is_true(values: list[str]) -> bool:
    """How the apiserver reads a bool query parameter: present and not false/0."""
    return bool(values) and values[0] != "0" and values[0].lower() != "false"


class KubeStandin:
    """The stand-in server: store, HTTP API and watch fan-out, all on one event loop.

    The control API (add, update, delete, get, objects, down) is synchronous and must be
    called from the loop that runs the server; `KubeStandinThread` wraps it for other threads.
    `app` may receive extra routes (e.g. TokenReview) before start().
    """

    def __init__(self, port: int = 0, history: int = 10_000) -> None:
        self.port = port
        self.app = web.Application(middlewares=[self._fault_middleware])
        self.resources: list[ResourceType] = list(RESOURCES)  # install() adds, as a CRD
        self._objects: dict[tuple[ResourceType, str, str], JSONObject] = {}
        self._history: deque[_Event] = deque(maxlen=history)
        self._resource_version = 1
        self._watchers: set[_Watcher] = set()
        self._runner: web.AppRunner | None = None
        self._down = False
        self.tokens: dict[str, TokenUser] = {}
        self.access_rules: list[tuple[bool, AccessRule]] = []  # (allow?, rule)
        self.review_calls: Counter[str] = Counter()
        self.reviews: list[JSONObject] = []
        self.app.router.add_post("/apis/authentication.k8s.io/v1/tokenreviews", self._token_review)
        self.app.router.add_post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews", self._access_review
        )

    # ----- lifecycle -----
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port the first time, the same port afterwards)."""
        if not self.app.frozen:
            # Last, so that routes others added to `app` match before the Kubernetes API.
            self.app.router.add_route("*", "/{path:.*}", self._dispatch)
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close watches and the listener: connections are refused until start()."""
        self._end_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        self._down = value
        if value:
            self._end_watches()

    def _end_watches(self) -> None:
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig for this server: plain HTTP, no credentials."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "standin", "user": {}}],
            "contexts": [
                {
                    "name": "standin",
                    "context": {"cluster": "standin", "user": "standin", "namespace": namespace},
                }
            ],
            "current-context": "standin",
            "preferences": {},
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # ----- control API -----
    @property
    def resource_version(self) -> int:
        return self._resource_version

    def resource(self, kind: str) -> ResourceType:
        """A resource by kind ("Pod"), plural, singular or short name."""
        for r in self.resources:
            if kind in (r.kind, r.plural, r.singular, *r.short_names):
                return r
        raise KeyError(f"the stand-in serves no resource {kind!r}")

    def _resource_of(self, obj: JSONObject) -> ResourceType:
        for r in self.resources:
            if r.kind == obj.get("kind") and r.api_version == obj.get("apiVersion"):
                return r
        raise KeyError(f"the stand-in serves no {obj.get('apiVersion')}/{obj.get('kind')}")

    def _storage_key(
        self, resource: ResourceType, namespace: str | None, name: str
    ) -> tuple[ResourceType, str, str]:
        return resource, (namespace or "default") if resource.namespaced else "", name

    def _record(
        self, event_type: str, resource: ResourceType, obj: JSONObject, old: JSONObject | None
    ) -> None:
        event = _Event(self._resource_version, event_type, resource, obj, old)
        self._history.append(event)
        for watcher in self._watchers:
            if watcher.resource == resource:
                watcher.queue.put_nowait(event)

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def install(self, resource: ResourceType) -> None:
        """Serve a new resource from now on, as installing its CRD does (discovery lists it;
        objects of it can be added)."""
        if resource not in self.resources:
            self.resources.append(resource)

    def add(self, obj: JSONObject) -> JSONObject:
        """Create an object (apiVersion, kind, metadata.name required); emits ADDED.
        Missing uid and creationTimestamp are filled in; resourceVersion is assigned."""
        resource = self._resource_of(obj)
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        if not meta.get("name"):
            raise ValueError(f"a {resource.kind} needs metadata.name")
        if resource.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        key = self._storage_key(resource, meta.get("namespace"), meta["name"])
        if key in self._objects:
            raise ValueError(f'{resource.plural} "{meta["name"]}" already exists')
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["resourceVersion"] = self._next_version()
        self._objects[key] = stored
        self._record("ADDED", resource, copy.deepcopy(stored), None)
        return copy.deepcopy(stored)

    def update(self, obj: JSONObject) -> JSONObject:
        """Replace an existing object (uid and creationTimestamp kept); emits MODIFIED."""
        resource = self._resource_of(obj)
        meta = obj.get("metadata", {})
        key = self._storage_key(resource, meta.get("namespace"), meta.get("name", ""))
        old = self._objects.get(key)
        if old is None:
            raise KeyError(f'{resource.plural} "{meta.get("name")}" not found')
        stored = copy.deepcopy(obj)
        new_meta = stored.setdefault("metadata", {})
        if resource.namespaced:
            new_meta["namespace"] = key[1]
        for kept in ("uid", "creationTimestamp"):
            new_meta[kept] = old["metadata"][kept]
        new_meta["resourceVersion"] = self._next_version()
        self._objects[key] = stored
        self._record("MODIFIED", resource, copy.deepcopy(stored), copy.deepcopy(old))
        return copy.deepcopy(stored)

    def delete(self, kind: str, namespace: str | None, name: str) -> JSONObject:
        """Remove an object; emits DELETED carrying the deletion's resourceVersion."""
        resource = self.resource(kind)
        key = self._storage_key(resource, namespace, name)
        gone = self._objects.pop(key, None)
        if gone is None:
            raise KeyError(f'{resource.plural} "{name}" not found')
        gone["metadata"]["resourceVersion"] = self._next_version()
        self._record("DELETED", resource, copy.deepcopy(gone), None)
        return gone

    def get(self, kind: str, namespace: str | None, name: str) -> JSONObject | None:
        resource = self.resource(kind)
        found = self._objects.get(self._storage_key(resource, namespace, name))
        return copy.deepcopy(found) if found else None

    def objects(self, kind: str, namespace: str | None = None) -> list[JSONObject]:
        """Stored objects of a kind in list order (namespace, then name)."""
        resource = self.resource(kind)
        found = [
            obj
            for (r, ns, _), obj in self._objects.items()
            if r == resource and (namespace is None or ns == namespace)
        ]
        return [copy.deepcopy(o) for o in sorted(found, key=_key)]

    # ----- reviews: control -----
    def set_token(self, token: str, user: TokenUser | None) -> None:
        """Make `token` authenticate as `user` (None: no longer valid)."""
        if user is None:
            self.tokens.pop(token, None)
        else:
            self.tokens[token] = user

    def allow(self, rule: AccessRule) -> None:
        self.access_rules.append((True, rule))

    def deny(self, rule: AccessRule) -> None:
        """An explicit denial (status.denied), checked before every allow rule."""
        self.access_rules.append((False, rule))

    def clear_access(self) -> None:
        self.access_rules.clear()

    # ----- reviews: HTTP -----
    async def _token_review(self, request: web.Request) -> web.Response:
        body = _review_body(await request.read(), "authentication.k8s.io/v1", "TokenReview")
        self.review_calls["tokenreviews"] += 1
        self.reviews.append(copy.deepcopy(body))
        spec = body["spec"]
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise StandinError(
                400, "BadRequest", "token is required for TokenReview in authentication"
            )
        user = self.tokens.get(token)
        wanted = list(spec.get("audiences") or [])
        status: JSONObject = {"user": {}}
        if user is not None:
            granted = [a for a in user.audiences if not wanted or a in wanted]
            if granted:
                status = {"authenticated": True, "user": user.status_user(), "audiences": granted}
            else:
                status["error"] = "token audiences is invalid for the target audiences"
        body["metadata"] = {"creationTimestamp": None}
        body["status"] = status
        return _json_response(body, status=201)

    async def _access_review(self, request: web.Request) -> web.Response:
        body = _review_body(await request.read(), "authorization.k8s.io/v1", "SubjectAccessReview")
        self.review_calls["subjectaccessreviews"] += 1
        self.reviews.append(copy.deepcopy(body))
        spec = body["spec"]
        problems = []
        has_resource = spec.get("resourceAttributes") is not None
        has_path = spec.get("nonResourceAttributes") is not None
        if has_resource and has_path:
            problems.append(
                'spec.nonResourceAttributes: Invalid value: "null": cannot be specified in '
                "combination with resourceAttributes"
            )
        if not has_resource and not has_path:
            problems.append(
                'spec.resourceAttributes: Invalid value: "null": exactly one of '
                "nonResourceAttributes or resourceAttributes must be specified"
            )
        if not spec.get("user") and not spec.get("groups"):
            problems.append(
                'spec.user: Invalid value: "": at least one of user or group must be specified'
            )
        if problems:
            joined = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            raise StandinError(
                422,
                "Invalid",
                f'SubjectAccessReview.authorization.k8s.io "" is invalid: {joined}',
                {"group": "authorization.k8s.io", "kind": "SubjectAccessReview"},
            )
        status: JSONObject = {"allowed": False}
        for allow, rule in sorted(self.access_rules, key=lambda r: r[0]):
            if rule.matches(spec):
                status = {"allowed": True} if allow else {"allowed": False, "denied": True}
                if rule.reason:
                    status["reason"] = rule.reason
                break
        body["metadata"] = {"creationTimestamp": None}
        body["status"] = status
        return _json_response(body, status=201)

    # ----- HTTP -----
    @web.middleware
    async def _fault_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self._down:
            return StandinError(
                503, "ServiceUnavailable", "the stand-in API server is down (fault injected)"
            ).response()
        try:
            return await handler(request)
        except StandinError as err:
            return err.response()
        except SelectorError as err:
            return StandinError(400, "BadRequest", err.message).response()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return web.Response(text="ok")
        if parts == ["version"]:
            return _json_response(K8S_VERSION)
        if not parts or parts[0] not in ("api", "apis"):
            raise _not_found_path()
        if parts == ["api"]:
            return _json_response(
                {
                    "kind": "APIVersions",
                    "versions": _group_versions(self.resources)[""],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                    ],
                }
            )
        if parts == ["apis"]:
            groups = [
                self._api_group(g, vs) for g, vs in _group_versions(self.resources).items() if g
            ]
            return _json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) == 2:
            versions = _group_versions(self.resources).get(parts[1])
            if not versions:
                raise _not_found_path()
            return _json_response(self._api_group(parts[1], versions))
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        served = [r for r in self.resources if r.group == group and r.version == version]
        if not served:
            raise _not_found_path()
        if not rest:
            return _json_response(
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": served[0].api_version,
                    "resources": [r.discovery() for r in served],
                }
            )
        return await self._resource_request(request, served, rest)

    @staticmethod
    def _api_group(group: str, versions: list[str]) -> JSONObject:
        listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": listed,
            "preferredVersion": listed[0],
        }

    async def _resource_request(
        self, request: web.Request, served: list[ResourceType], rest: list[str]
    ) -> web.StreamResponse:
        by_plural = {r.plural: r for r in served}
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        resource = by_plural.get(rest[0])
        if resource is None or len(rest) > 2 or (namespace is not None and not resource.namespaced):
            raise _not_found_path()
        name = rest[1] if len(rest) == 2 else None
        if name is not None and resource.namespaced and namespace is None:
            raise _not_found_path()
        if request.method != "GET":
            raise StandinError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        shape, group_version = _negotiate(request.headers.get("Accept", ""))
        include = request.query.get("includeObject") or "Metadata"
        if include not in ("None", "Metadata", "Object"):
            raise StandinError(400, "BadRequest", f'unrecognized includeObject value: "{include}"')
        if name is not None:
            return self._get(resource, namespace, name, shape, group_version, include)
        labels = parse_selector(request.query.get("labelSelector"))
        fields = FieldSelector.parse(request.query.get("fieldSelector"), resource)
        watcher = _Watcher(resource, namespace, labels, fields)
        if _is_true(request.query.getall("watch", [])):
            if shape == _PARTIAL_LIST:
                raise _not_acceptable(_PARTIAL_LIST)
            return await self._watch(request, watcher, shape, group_version, include)
        if shape == _PARTIAL:
            raise _not_acceptable(_PARTIAL)
        return self._list(request, watcher, shape, group_version, include)

    def _get(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        shape: str,
        group_version: str,
        include: str,
    ) -> web.Response:
        obj = self._objects.get(self._storage_key(resource, namespace, name))
        if obj is None:
            raise _not_found(resource, name)
        if shape == _PARTIAL_LIST:
            raise _not_acceptable(_PARTIAL_LIST)
        if shape == _PARTIAL:
            return _json_response(_partial(obj, group_version))
        if shape == _TABLE:
            meta = {"resourceVersion": obj["metadata"]["resourceVersion"]}
            return _json_response(_table(resource, [obj], group_version, include, meta))
        return _json_response(obj)

    def _list(
        self, request: web.Request, watcher: _Watcher, shape: str, group_version: str, include: str
    ) -> web.Response:
        resource = watcher.resource
        selected = [
            obj
            for (r, _, _), obj in self._objects.items()
            if r == resource and watcher.selects(obj)
        ]
        selected.sort(key=_key)
        list_meta: JSONObject = {"resourceVersion": str(self._resource_version)}
        start = _decode_continue(request.query.get("continue"))
        if start is not None:
            selected = [o for o in selected if _key(o) > start]
        limit = _int_param(request, "limit")
        if limit and len(selected) > limit:
            remaining = len(selected) - limit
            selected = selected[:limit]
            list_meta["continue"] = _encode_continue(_key(selected[-1]))
            list_meta["remainingItemCount"] = remaining
        if shape == _TABLE:
            return _json_response(_table(resource, selected, group_version, include, list_meta))
        if shape == _PARTIAL_LIST:
            items = [_partial(o, group_version) for o in selected]
            return _json_response(
                {
                    "kind": _PARTIAL_LIST,
                    "apiVersion": group_version,
                    "metadata": list_meta,
                    "items": items,
                }
            )
        items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in selected]
        return _json_response(
            {
                "kind": f"{resource.kind}List",
                "apiVersion": resource.api_version,
                "metadata": list_meta,
                "items": items,
            }
        )

    async def _watch(
        self, request: web.Request, watcher: _Watcher, shape: str, group_version: str, include: str
    ) -> web.StreamResponse:
        timeout = _int_param(request, "timeoutSeconds") or _MIN_REQUEST_TIMEOUT_S
        bookmarks = _is_true(request.query.getall("allowWatchBookmarks", []))
        since = request.query.get("resourceVersion", "")
        resource = watcher.resource
        first_table = [True]

        def render(event_type: str, obj: JSONObject) -> bytes:
            if shape == _PARTIAL:
                shown = _partial(obj, group_version)
            elif shape == _TABLE:
                meta = {"resourceVersion": obj["metadata"]["resourceVersion"]}
                shown = _table(resource, [obj], group_version, include, meta, first_table[0])
                first_table[0] = False
            else:
                shown = obj
            return (_dumps({"type": event_type, "object": shown}) + "\n").encode()

        # Replay (or the initial state) and registration happen without yielding to the
        # loop, so no change falls between them.
        backlog: list[bytes] = []
        expired = False
        if since in ("", "0"):
            current = sorted(
                (
                    o
                    for (r, _, _), o in self._objects.items()
                    if r == resource and watcher.selects(o)
                ),
                key=_key,
            )
            backlog = [render("ADDED", copy.deepcopy(o)) for o in current]
        else:
            try:
                after = int(since)
            except ValueError:
                raise StandinError(
                    400, "BadRequest", f'invalid resource version: "{since}"'
                ) from None
            oldest = (
                self._history[0].resource_version if self._history else self._resource_version + 1
            )
            expired = after < oldest - 1
            if expired:
                status = StandinError(
                    410, "Expired", f"too old resource version: {after} ({oldest - 1})"
                ).status()
                backlog = [(_dumps({"type": "ERROR", "object": status}) + "\n").encode()]
            for event in self._history if not expired else ():
                if event.resource == resource and event.resource_version > after:
                    seen = watcher.translate(event)
                    if seen:
                        backlog.append(render(seen, event.obj))
        self._watchers.add(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            await response.prepare(request)
            for line in backlog:
                await response.write(line)
            if expired:
                await response.write_eof()
                return response
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    if bookmarks:
                        mark = {
                            "kind": resource.kind,
                            "apiVersion": resource.api_version,
                            "metadata": {"resourceVersion": str(self._resource_version)},
                        }
                        shown = _partial(mark, group_version) if shape == _PARTIAL else mark
                        await response.write(
                            (_dumps({"type": "BOOKMARK", "object": shown}) + "\n").encode()
                        )
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), left)
                except TimeoutError:
                    continue
                if event is None:
                    break
                seen = watcher.translate(event)
                if seen:
                    await response.write(render(seen, event.obj))
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away: nothing to answer
        finally:
            self._watchers.discard(watcher)
        return response


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise StandinError(400, "BadRequest", f'invalid value for {name}: "{raw}"') from None
    if value < 0:
        raise StandinError(400, "BadRequest", f"{name}: Invalid value: {value}: must be >= 0")
    return value


def _encode_continue(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(_dumps(list(key)).encode()).decode()


def _decode_continue(token: str | None) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(namespace), str(name)
    except (ValueError, TypeError, binascii.Error):
        raise StandinError(
            400,
            "BadRequest",
            "continue key is not valid: incorrect encoded start resourceVersion "
            "(version meta.k8s.io/v1)",
        ) from None


class KubeStandinThread:
    """The stand-in on its own event loop in a background thread, for synchronous tests and
    for subprocess clients (kubectl, a Surge process). Control calls run on that loop."""

    def __init__(self, port: int = 0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kube-standin", daemon=True
        )
        self.standin: KubeStandin | None = None
        self._port = port

    def _call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout=30)

    def _await(self, make: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    @property
    def _server(self) -> KubeStandin:
        if self.standin is None:
            raise RuntimeError("the stand-in thread is not started")
        return self.standin

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()
        if self.standin is None:
            self.standin = self._call(lambda: KubeStandin(self._port))
        self._await(self._server.start)

    def stop(self) -> None:
        self._await(self._server.stop)

    def close(self) -> None:
        """Stop the server and the loop; the object cannot be started again."""
        if self.standin is not None and self._thread.is_alive():
            self.stop()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def down(self) -> bool:
        return self._server.down

    @down.setter
    def down(self, value: bool) -> None:
        server = self._server
        self._call(lambda: setattr(server, "down", value))

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        return self._server.write_kubeconfig(path, namespace)

    def install(self, resource: ResourceType) -> None:
        self._call(lambda: self._server.install(resource))

    def add(self, obj: JSONObject) -> JSONObject:
        return self._call(lambda: self._server.add(obj))

    def update(self, obj: JSONObject) -> JSONObject:
        return self._call(lambda: self._server.update(obj))

    def delete(self, kind: str, namespace: str | None, name: str) -> JSONObject:
        return self._call(lambda: self._server.delete(kind, namespace, name))

    def get(self, kind: str, namespace: str | None, name: str) -> JSONObject | None:
        return self._call(lambda: self._server.get(kind, namespace, name))

    def objects(self, kind: str, namespace: str | None = None) -> list[JSONObject]:
        return self._call(lambda: self._server.objects(kind, namespace))

    def set_token(self, token: str, user: TokenUser | None) -> None:
        self._call(lambda: self._server.set_token(token, user))

    def allow(self, rule: AccessRule) -> None:
        self._call(lambda: self._server.allow(rule))

    def deny(self, rule: AccessRule) -> None:
        self._call(lambda: self._server.deny(rule))

    def clear_access(self) -> None:
        self._call(self._server.clear_access)

    def review_calls(self) -> dict[str, int]:
        """Reviews received so far, by resource (tokenreviews, subjectaccessreviews)."""
        return self._call(lambda: dict(self._server.review_calls))

    def reviews(self) -> list[JSONObject]:
        """Every review object received, in order."""
        return self._call(lambda: copy.deepcopy(self._server.reviews))
