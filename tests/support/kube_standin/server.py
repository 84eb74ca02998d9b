"""The stand-in's store, HTTP API and watch fan-out (see the package docstring)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Self

from aiohttp import web

from apiservice.selectors import SelectorError, parse_selector
from tests.support import kubeconfig
from tests.support.kube_standin.access import AccessRule, TokenUser, _review_body
from tests.support.kube_standin.errors import (
    StandinError,
    _dumps,
    _json_response,
    _not_found,
    _not_found_path,
    _now,
)
from tests.support.kube_standin.fields import FieldSelector
from tests.support.kube_standin.resources import (
    _MIN_REQUEST_TIMEOUT_S,
    K8S_VERSION,
    RESOURCES,
    JSONObject,
    ResourceType,
    _group_versions,
)
from tests.support.kube_standin.shapes import (
    _PARTIAL,
    _PARTIAL_LIST,
    _TABLE,
    _negotiate,
    _not_acceptable,
    _partial,
    _table,
)
from tests.support.kube_standin.watch import _Event, _Watcher


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
        return kubeconfig.write_kubeconfig(path, self.url, namespace=namespace, name="standin")

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
