"""The cluster's objects, indexed: label selector -> object names without an API call each.

prometheus-adapter lists objects through the API on every selector request. Surge keeps a
list+watch index per resource instead (`serve`), or lists once (`query`), or reads a
file of objects (`--objects`, offline). All answer in Kubernetes' list order:
namespace, then name, as etcd returns keys.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from adapter.resources import BUILTIN, APIResource, ResourceMapper, guess_plural
from apiservice.errors import ServiceUnavailable
from apiservice.kube import KubeClient
from apiservice.provider import GroupResource
from apiservice.selectors import Selector

log = logging.getLogger(__name__)

_META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_META_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
# Objects per list request: client-go's reflector pages by 500 too.
LIST_PAGE = 500


class ObjectsFileError(ValueError):
    """An --objects file that cannot be used; the message is one line naming the problem."""


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    namespace: str
    name: str
    labels: dict[str, str]


# Selections kept per namespace (and for every namespace) until it changes.
_SELECTIONS_KEPT = 1024


class ObjectIndex(Protocol):
    """What the provider needs from the cluster: its resources and selector listings."""

    mapper: ResourceMapper

    async def list_names(self, res: APIResource, namespace: str, selector: Selector) -> list[str]:
        """Names of the objects of `res` matching `selector` (in `namespace` if not empty)."""
        ...

    async def list_objects(
        self, res: APIResource, namespace: str, selector: Selector
    ) -> list[ObjectMeta]:
        """The same objects with their namespaces and labels (PodMetrics carry both); the
        list may be shared with other callers: read it, never change it."""
        ...

    def prime(self, resources: Iterable[GroupResource]) -> None:
        """Start indexing `resources` now, not at their first request: `ready` then
        waits for their first list, as kube-apiserver waits for its informers."""
        ...

    def ready(self) -> bool: ...

    def live(self) -> bool: ...

    async def refresh(self) -> None:
        """Bring `mapper` up to date (resources added or removed); never raises."""
        ...

    async def close(self) -> None: ...


def _meta(obj: Any) -> ObjectMeta:
    meta = obj.get("metadata") or {}
    # one string per namespace, not one per object (JSON decoding makes each anew)
    namespace = sys.intern(meta.get("namespace") or "")
    return ObjectMeta(namespace, meta.get("name") or "", meta.get("labels") or {})


class _Store:
    """Objects of one resource by namespace, each namespace kept in list order (by name):
    a selector request scans its own namespace, not the cluster, and once: what a selector
    selects is kept until its namespace changes (the HPA controller asks the same selectors
    every sync; objects change far less often)."""

    def __init__(self, objects: Iterable[ObjectMeta] = ()) -> None:
        self._by_ns: dict[str, dict[str, ObjectMeta]] = {}
        self._ordered: dict[str, list[ObjectMeta]] = {}
        # namespace (None: every namespace) -> selector -> what it selects there
        self._selected: dict[str | None, dict[Selector, list[ObjectMeta]]] = {}
        for meta in objects:
            self.put(meta)

    def _changed(self, namespace: str) -> None:
        self._ordered.pop(namespace, None)
        self._selected.pop(namespace, None)
        self._selected.pop(None, None)

    def put(self, meta: ObjectMeta) -> None:
        self._by_ns.setdefault(meta.namespace, {})[meta.name] = meta
        self._changed(meta.namespace)

    def drop(self, namespace: str, name: str) -> None:
        objects = self._by_ns.get(namespace)
        if objects is not None and objects.pop(name, None) is not None:
            self._changed(namespace)
            if not objects:
                del self._by_ns[namespace]

    def _in(self, namespace: str) -> list[ObjectMeta]:
        ordered = self._ordered.get(namespace)
        if ordered is None:
            objects = self._by_ns.get(namespace, {})
            ordered = self._ordered[namespace] = [objects[n] for n in sorted(objects)]
        return ordered

    def select(self, namespace: str, selector: Selector, namespaced: bool) -> list[ObjectMeta]:
        """Matching objects in Kubernetes' list order: namespace, then name. The list is
        shared with later callers: read it, never change it."""
        scope = namespace if namespaced and namespace else None
        known = self._selected.setdefault(scope, {})
        selected = known.get(selector)
        if selected is None:
            spaces = [namespace] if scope is not None else sorted(self._by_ns)
            selected = [o for ns in spaces for o in self._in(ns) if selector.matches(o.labels)]
            if len(known) >= _SELECTIONS_KEPT:  # bounded whatever selectors clients send
                known.clear()
            known[selector] = selected
        return selected


class StaticObjects:
    """Objects from a YAML file: a sequence, a `kind: List`, or several documents.

    `refresh` reloads the file when it has changed, so objects (and resources) can be
    added without a restart; a file that turns unreadable keeps the last good objects."""

    def __init__(self, objects: list[dict[str, Any]], path: Path | None = None) -> None:
        self.path = path
        self._stamp = _stamp(path) if path is not None else None
        self._index(objects)

    def _index(self, objects: list[dict[str, Any]]) -> None:
        resources: list[APIResource] = []
        by_resource: dict[APIResource, _Store] = {}
        namespaces: dict[str, ObjectMeta] = {}
        for obj in objects:
            res = _resource_of(obj)
            if res not in resources:
                resources.append(res)
            meta = _meta(obj)
            if res.resource == "namespaces" and not res.group:
                namespaces[meta.name] = meta
            else:
                by_resource.setdefault(res, _Store()).put(meta)
                if meta.namespace:
                    namespaces.setdefault(meta.namespace, ObjectMeta("", meta.namespace, {}))
        ns_res = next(r for r in BUILTIN if r.resource == "namespaces")
        if ns_res not in resources:
            resources.append(ns_res)
        by_resource[ns_res] = _Store(namespaces.values())
        self._objects, self.mapper = by_resource, ResourceMapper(resources)

    @classmethod
    def from_file(cls, path: str | Path) -> StaticObjects:
        return cls(_read_objects(Path(path)), Path(path))

    async def refresh(self) -> None:
        if self.path is None:
            return
        stamp = await asyncio.to_thread(_stamp, self.path)
        if stamp == self._stamp:
            return
        try:
            objects = await asyncio.to_thread(_read_objects, self.path)
        except ObjectsFileError as err:
            log.error("keeping the objects last read: %s", err)
            return
        self._index(objects)
        self._stamp = stamp
        log.info("reloaded %s: %d resources", self.path, len(self.mapper.resources))

    async def list_names(self, res: APIResource, namespace: str, selector: Selector) -> list[str]:
        return [o.name for o in await self.list_objects(res, namespace, selector)]

    async def list_objects(
        self, res: APIResource, namespace: str, selector: Selector
    ) -> list[ObjectMeta]:
        store = self._objects.get(res)
        return store.select(namespace, selector, res.namespaced) if store else []

    def prime(self, resources: Iterable[GroupResource]) -> None:
        return None  # read whole from the file

    def ready(self) -> bool:
        return True

    def live(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _read_objects(path: Path) -> list[dict[str, Any]]:
    try:
        # libyaml when present: a cluster's worth of objects loads in a second, not ten
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        docs = list(yaml.load_all(path.read_text(), Loader=loader))
    except OSError as err:
        raise ObjectsFileError(f"{path}: cannot read objects file: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ObjectsFileError(f"{path}: cannot read objects file: not UTF-8 text") from None
    except yaml.YAMLError as err:
        raise ObjectsFileError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    objects: list[dict[str, Any]] = []
    for doc in docs:
        if doc is None:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            doc = doc["items"]
        for obj in doc if isinstance(doc, list) else [doc]:
            if (
                not isinstance(obj, dict)
                or not isinstance(obj.get("kind"), str)
                or not isinstance(obj.get("apiVersion"), str)
                or not obj["kind"]
                or not obj["apiVersion"]
            ):
                raise ObjectsFileError(
                    f"{path}: every object needs apiVersion, kind and metadata.name"
                )
            meta = obj.get("metadata")
            if (
                not isinstance(meta, dict)
                or not isinstance(meta.get("name"), str)
                or not meta["name"]
            ):
                raise ObjectsFileError(f"{path}: a {obj['kind']} has no metadata.name")
            labels = meta.get("labels")
            if labels is not None and not isinstance(labels, dict):
                raise ObjectsFileError(
                    f"{path}: the labels of {obj['kind']} {meta['name']} are not a mapping"
                )
            if not isinstance(meta.get("namespace") or "", str):
                raise ObjectsFileError(
                    f"{path}: the namespace of {obj['kind']} {meta['name']} is not a string"
                )
            objects.append(obj)
    return objects


def _resource_of(obj: dict[str, Any]) -> APIResource:
    api_version, kind = obj["apiVersion"], obj["kind"]
    known = ResourceMapper(BUILTIN).by_kind(api_version, kind)
    if known:
        return known
    group, _, version = api_version.rpartition("/")
    namespaced = bool((obj.get("metadata") or {}).get("namespace"))
    return APIResource(group, version, guess_plural(kind), kind.lower(), kind, namespaced)


def _collection_path(res: APIResource, namespace: str = "") -> str:
    base = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    if namespace and res.namespaced:
        base += f"/namespaces/{namespace}"
    return f"{base}/{res.resource}"


class KubeAPI(KubeClient):
    """The Kubernetes API client, plus discovery: the RESTMapper of the served resources."""

    async def discover(self) -> ResourceMapper:
        """The RESTMapper from discovery: core first, then groups in the server's order."""
        core = await self.get("/api/v1")
        resources = _parse_resource_list(core, "", "v1")
        groups = (await self.get("/apis")).get("groups", [])
        wanted = [(g["name"], g["preferredVersion"]["version"]) for g in groups]
        lists = await asyncio.gather(
            *(self.get(f"/apis/{g}/{v}") for g, v in wanted), return_exceptions=True
        )
        for (group, version), listing in zip(wanted, lists, strict=True):
            if isinstance(listing, BaseException):
                log.warning("discovery of %s/%s failed: %s", group, version, listing)
                continue
            resources += _parse_resource_list(listing, group, version)
        return ResourceMapper(resources)


def _parse_resource_list(listing: Any, group: str, version: str) -> list[APIResource]:
    out = []
    for r in listing.get("resources", []):
        name = r.get("name", "")
        if not name or "/" in name:
            continue
        out.append(
            APIResource(
                group,
                version,
                name,
                r.get("singularName") or r.get("kind", "").lower(),
                r.get("kind", ""),
                bool(r.get("namespaced")),
                tuple(r.get("shortNames") or ()),
            )
        )
    return out


class ClusterObjects:
    """Objects from the Kubernetes API: one list+watch per resource asked for, or one list."""

    def __init__(self, api: KubeAPI, mapper: ResourceMapper, *, watch: bool) -> None:
        self.api = api
        self.mapper = mapper
        self.watch = watch
        self._informers: dict[APIResource, _Informer] = {}

    async def list_names(self, res: APIResource, namespace: str, selector: Selector) -> list[str]:
        return [o.name for o in await self.list_objects(res, namespace, selector)]

    async def list_objects(
        self, res: APIResource, namespace: str, selector: Selector
    ) -> list[ObjectMeta]:
        if not self.watch:
            params = {"labelSelector": str(selector)} if not selector.empty else {}
            body = await self.api.get(_collection_path(res, namespace), params, _META_LIST)
            return _Store(map(_meta, body.get("items") or [])).select("", selector, False)
        informer = self._informer(res)
        await informer.synced()
        return informer.store.select(namespace, selector, res.namespaced)

    def _informer(self, res: APIResource) -> _Informer:
        informer = self._informers.get(res)
        if informer is None:
            informer = self._informers[res] = _Informer(self.api, res)
        return informer

    def prime(self, resources: Iterable[GroupResource]) -> None:
        if not self.watch:
            return  # one list per request: nothing to keep
        for gr in resources:
            res = self.mapper.resource_for(gr)
            if res is not None:
                self._informer(res).primed = True

    async def refresh(self) -> None:
        """Discovery again: a CRD installed (or removed) since the last is picked up."""
        try:
            self.mapper = await self.api.discover()
        except Exception as err:  # the API is down: keep the resources last discovered
            log.warning("discovery failed, keeping the resources last discovered: %s", err)

    def ready(self) -> bool:
        """Every index has been listed once; a primed one whose first list failed (the
        API down, or listing refused) counts too, so one resource cannot hold every
        metric unready: its requests answer 503 while it retries. A later outage of the
        API does not make the server unready: it answers from the last index (as
        kube-apiserver's own readiness only waits for the informers' first sync), and
        `live` tells the outage."""
        return all(i.listed or (i.primed and i.tried) for i in self._informers.values())

    def live(self) -> bool:
        """Every index is being kept current by its watch."""
        return all(i.healthy for i in self._informers.values())

    async def close(self) -> None:
        for informer in self._informers.values():
            await informer.stop()


class _Informer:
    """List, then watch from the list's resourceVersion; relist on expiry; keep serving."""

    WATCH_TIMEOUT_S = 300
    RETRY_S = 2.0

    def __init__(self, api: KubeAPI, res: APIResource) -> None:
        self.api = api
        self.res = res
        self.store = _Store()
        self.healthy = False
        self.primed = False  # started before any request asked for it
        self._synced = asyncio.Event()
        self._tried = asyncio.Event()
        self._error: Exception | None = None
        self._task = asyncio.create_task(self._run(), name=f"informer-{res.resource}")

    @property
    def listed(self) -> bool:
        return self._synced.is_set()

    @property
    def tried(self) -> bool:
        return self._tried.is_set()

    async def synced(self) -> None:
        """Wait for the first list; if it failed, say so (the informer keeps retrying)."""
        await self._tried.wait()
        if not self._synced.is_set():
            raise self._error or ServiceUnavailable(f"cannot list {self.res.resource}")

    async def _list(self) -> str:
        """The whole collection, LIST_PAGE objects a request (`limit`/`continue`, as
        client-go's reflector pages): one page's JSON at a time in memory, not the
        cluster's, and the event loop free between pages."""
        store, params = _Store(), {"limit": str(LIST_PAGE)}
        while True:
            body = await self.api.get(_collection_path(self.res), params, _META_LIST)
            for item in body.get("items") or ():
                store.put(_meta(item))
            meta = body.get("metadata") or {}
            if not meta.get("continue"):
                break
            params = {"limit": str(LIST_PAGE), "continue": str(meta["continue"])}
        self.store = store
        # The index lives until the next list: keep the cyclic collector from walking it
        # again at every full collection (at 15,000 objects each took 100-200 ms).
        gc.freeze()
        self._synced.set()
        self._tried.set()
        self.healthy = True
        return str(meta.get("resourceVersion", ""))

    async def _run(self) -> None:
        version = ""
        while True:
            try:
                if not version:
                    version = await self._list()
                params = {
                    "resourceVersion": version,
                    "timeoutSeconds": str(self.WATCH_TIMEOUT_S),
                    "allowWatchBookmarks": "true",
                }
                async for event in self.api.watch(_collection_path(self.res), params, _META_ONE):
                    version = self._apply(event, version)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # keep serving the last index, retry
                self.healthy = False
                self._error = ServiceUnavailable(
                    f"cannot list {self.res.resource} from the Kubernetes API: {err}"
                )
                self._tried.set()
                log.warning("watch of %s failed, retrying: %s", self.res.resource, err)
                version = ""
                await asyncio.sleep(self.RETRY_S)

    def _apply(self, event: dict[str, Any], version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            return ""  # 410 Gone and friends: relist
        meta = _meta(obj)
        if kind in ("ADDED", "MODIFIED"):
            self.store.put(meta)
        elif kind == "DELETED":
            self.store.drop(meta.namespace, meta.name)
        self.healthy = True
        return str((obj.get("metadata") or {}).get("resourceVersion") or version)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
