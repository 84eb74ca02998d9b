"""Delegated authentication and authorization, as Kubernetes' extension API servers do it.

Who is asking, in kube-apiserver's order: a front-proxy client certificate (signed by a
requestheader CA, its CN allowed) makes the X-Remote-* headers believable; else a client
certificate signed by a client CA names the user (CN) and groups (O); else a bearer token
is reviewed (TokenReview). Nothing else is believed: a caller with none of these is
anonymous and gets 401. What they may do is asked of the cluster (SubjectAccessReview)
with the attributes kube-apiserver's RequestInfo gives the path. Both answers are cached
briefly, as Kubernetes caches them.

Python's TLS layer verifies a client certificate against every trusted CA at once, so
which CA signed it is decided here, per request, against each bundle on its own: a user
certificate never becomes a proxy, nor a proxy certificate a user. (Python 3.11 exposes
only the leaf: a client certificate must be issued directly by a CA of the bundle.)
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import secrets
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from cachetools import LRUCache
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from multidict import CIMultiDictProxy

from apiservice.errors import APIError, ServiceUnavailable
from apiservice.kube import KubeClient, KubeUnreachable

log = logging.getLogger(__name__)

AUTHENTICATED_GROUP = "system:authenticated"
HEALTH_PATHS = ("/healthz", "/readyz", "/livez")
# k8s.io/apiserver's delegated authorizer allows these groups without asking: the
# kube-apiserver it would ask always allows them anyway.
ALWAYS_ALLOW_GROUPS = ("system:masters",)
AUTH_CONFIGMAP_NAMESPACE = "kube-system"
AUTH_CONFIGMAP_NAME = "extension-apiserver-authentication"
_AUTH_CONFIGMAP_PATH = f"/api/v1/namespaces/{AUTH_CONFIGMAP_NAMESPACE}/configmaps"
_TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
# Entries per cache, bounded as Kubernetes' webhook caches are (a caller naming ever new
# objects must not grow it without end). Exact reviews of a big fleet outgrow it (20,000
# HPAs x 2 metrics ask 22,000 keys per 15s sync), but their answers live 10s (the
# default TTLs), less than a sync, so the entries it evicts would have expired before
# their next use; broad reviews (AccessReviewer) keep an HPA controller's keys to a few.
_CACHE_SIZE = 10_000


class Unauthorized(APIError):
    code = 401
    reason = "Unauthorized"


class Forbidden(APIError):
    code = 403
    reason = "Forbidden"


class ReviewError(Exception):
    """The Kubernetes API could not answer a review (unreachable, 5xx, or a bad answer)."""


# ----- identities ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def authenticated(self) -> UserInfo:
        """With system:authenticated added, as Kubernetes' AuthenticatedGroupAdder does."""
        if AUTHENTICATED_GROUP in self.groups:
            return self
        return replace(self, groups=(*self.groups, AUTHENTICATED_GROUP))


def load_certificates(pem: bytes, what: str) -> tuple[x509.Certificate, ...]:
    """Every certificate of a PEM bundle; ValueError naming `what` when there is none."""
    try:
        certs = tuple(x509.load_pem_x509_certificates(pem))
    except ValueError:
        certs = ()
    if not certs:
        raise ValueError(f"{what}: no PEM certificate found")
    return certs


def certificates_pem(certs: tuple[x509.Certificate, ...]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def issued_by_any(leaf: x509.Certificate, cas: tuple[x509.Certificate, ...]) -> bool:
    """Whether one of `cas` issued `leaf` (issuer name and signature both checked)."""
    for ca in cas:
        try:
            leaf.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def _for_client_auth(leaf: x509.Certificate) -> bool:
    """Go verifies client certificates for ExtKeyUsageClientAuth; no EKU means any use."""
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or (
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages
    )


def _common_name(leaf: x509.Certificate) -> str:
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _extra_key(raw: str) -> str:
    """url.PathUnescape of an extra header's key; the raw key when it is not valid."""
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return raw


@dataclass(frozen=True)
class FrontProxyConfig:
    """--requestheader-*: who may assert identities through headers, and which headers."""

    cas: tuple[x509.Certificate, ...]
    allowed_names: frozenset[str] = frozenset()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)

    def trusts(self, leaf: x509.Certificate) -> bool:
        if not issued_by_any(leaf, self.cas) or not _for_client_auth(leaf):
            return False
        return not self.allowed_names or _common_name(leaf) in self.allowed_names

    def user(self, headers: CIMultiDictProxy[str]) -> UserInfo | None:
        """The asserted user; None when no username header has a value."""
        name = ""
        for header in self.username_headers:
            name = next((v.strip() for v in headers.getall(header, []) if v.strip()), "")
            if name:
                break
        if not name:
            return None
        groups = tuple(
            v.strip() for h in self.group_headers for v in headers.getall(h, []) if v.strip()
        )
        extra: dict[str, list[str]] = {}
        for header, value in headers.items():
            for prefix in self.extra_prefixes:
                if prefix and header.lower().startswith(prefix.lower()) and value.strip():
                    key = _extra_key(header[len(prefix) :].lower())
                    extra.setdefault(key, []).append(value.strip())
        return UserInfo(name, "", groups, {k: tuple(v) for k, v in extra.items()})


@dataclass(frozen=True)
class ClientTrust:
    """The client CAs and front-proxy settings in force."""

    client_cas: tuple[x509.Certificate, ...] = ()
    front_proxy: FrontProxyConfig | None = None

    def pem(self) -> bytes:
        """Every CA a client certificate may be signed by, for the TLS layer."""
        proxy = self.front_proxy.cas if self.front_proxy else ()
        return certificates_pem(self.client_cas + proxy)


def _json_list(data: Mapping[str, str], key: str) -> tuple[str, ...]:
    raw = data.get(key, "")
    if not raw.strip():
        return ()
    value = json.loads(raw)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a JSON list of strings")
    return tuple(value)


def trust_from_configmap(data: Mapping[str, str]) -> ClientTrust:
    """kube-system/extension-apiserver-authentication's data, as kube-apiserver writes it."""
    client_cas: tuple[x509.Certificate, ...] = ()
    if data.get("client-ca-file", "").strip():
        client_cas = load_certificates(data["client-ca-file"].encode(), "client-ca-file")
    front_proxy = None
    if data.get("requestheader-client-ca-file", "").strip():
        front_proxy = FrontProxyConfig(
            load_certificates(
                data["requestheader-client-ca-file"].encode(), "requestheader-client-ca-file"
            ),
            frozenset(_json_list(data, "requestheader-allowed-names")),
            _json_list(data, "requestheader-username-headers"),
            _json_list(data, "requestheader-group-headers"),
            _json_list(data, "requestheader-extra-headers-prefix"),
        )
    return ClientTrust(client_cas, front_proxy)


class TrustSource:
    """The ClientTrust in force: flags fix what they give, the ConfigMap the rest.

    `on_change` hears every new trust (the TLS layer reloads its client CAs from it).
    """

    def __init__(
        self,
        client_cas: tuple[x509.Certificate, ...] | None,
        front_proxy: FrontProxyConfig | None,
        on_change: Callable[[ClientTrust], None] | None = None,
    ) -> None:
        self._fixed_cas = client_cas
        self._fixed_proxy = front_proxy
        self.on_change = on_change
        self.current = ClientTrust(client_cas or (), front_proxy)

    @property
    def needs_configmap(self) -> bool:
        return self._fixed_cas is None or self._fixed_proxy is None

    def apply_configmap(self, data: Mapping[str, str] | None) -> None:
        """Take the parts the flags left open from the ConfigMap's data (None: deleted)."""
        found = trust_from_configmap(data or {})
        trust = ClientTrust(
            self._fixed_cas if self._fixed_cas is not None else found.client_cas,
            self._fixed_proxy if self._fixed_proxy is not None else found.front_proxy,
        )
        if trust == self.current:
            return
        self.current = trust
        log.info(
            "client trust updated: %d client CA(s), front proxy %s",
            len(trust.client_cas),
            "configured" if trust.front_proxy else "not configured",
        )
        if self.on_change is not None:
            self.on_change(trust)


# ----- the Kubernetes API ---------------------------------------------------------------------


class KubeCalls(KubeClient):
    """The reviews' Kubernetes client: a review holds up a request, so a shorter timeout."""

    def __init__(self, api_client: Any, timeout_s: float = 10.0) -> None:
        super().__init__(api_client, timeout_s)


async def follow_configmap(
    kube: KubeCalls, source: TrustSource, *, retry_s: float = 5.0, timeout_s: int = 300
) -> None:
    """Keep `source` on the ConfigMap's latest data: list, watch, relist on any trouble.
    A ConfigMap that cannot be read leaves the trust in force unchanged."""
    selector = {"fieldSelector": f"metadata.name={AUTH_CONFIGMAP_NAME}"}
    while True:
        try:
            status, body = await kube.request("GET", _AUTH_CONFIGMAP_PATH, selector)
            if status != 200 or not isinstance(body, dict):
                raise ReviewError(f"listing {AUTH_CONFIGMAP_NAME} answered HTTP {status}")
            items = body.get("items") or []
            source.apply_configmap(items[0].get("data") if items else None)
            version = str((body.get("metadata") or {}).get("resourceVersion", ""))
            params = {**selector, "resourceVersion": version, "timeoutSeconds": str(timeout_s)}
            async for event in kube.watch(_AUTH_CONFIGMAP_PATH, params):
                kind, obj = event.get("type"), event.get("object") or {}
                if kind in ("ADDED", "MODIFIED"):
                    source.apply_configmap(obj.get("data") or {})
                elif kind == "DELETED":
                    source.apply_configmap(None)
                elif kind == "ERROR":
                    break
        except asyncio.CancelledError:
            raise
        except Exception as err:  # keep the trust in force; try again
            log.warning("following %s failed, retrying: %s", AUTH_CONFIGMAP_NAME, err)
            await asyncio.sleep(retry_s)


async def read_configmap(kube: KubeCalls, source: TrustSource) -> None:
    """The first read, at startup: a missing ConfigMap is a warning, any other failure an
    error for the caller (the server should not start half-configured)."""
    try:
        status, body = await kube.request("GET", f"{_AUTH_CONFIGMAP_PATH}/{AUTH_CONFIGMAP_NAME}")
    except KubeUnreachable as err:
        raise ReviewError(err.message) from None
    if status == 404:
        log.warning(
            "%s/%s not found: client certificates are only trusted from flags",
            AUTH_CONFIGMAP_NAMESPACE,
            AUTH_CONFIGMAP_NAME,
        )
        return
    if status != 200 or not isinstance(body, dict):
        raise ReviewError(
            f"cannot read {AUTH_CONFIGMAP_NAMESPACE}/{AUTH_CONFIGMAP_NAME}: HTTP {status}"
        )
    source.apply_configmap(body.get("data") or {})


class _Reviews:
    """Cached, coalesced answers of one kind of review: one API call per key at a time.

    At most _CACHE_SIZE answers, the least recently used dropped first; an expired one is
    dropped when next looked up. Each answer carries its own expiry (allowed and denied
    answers live differently long), so an LRUCache rather than one TTL for all."""

    def __init__(self, ttl_of: Callable[[Any], float], clock: Callable[[], float]) -> None:
        self._ttl_of = ttl_of
        self._clock = clock
        self._cache: LRUCache[Hashable, tuple[float, Any]] = LRUCache(_CACHE_SIZE)
        self._pending: dict[Hashable, asyncio.Task[Any]] = {}

    def cached(self, key: Hashable) -> tuple[float, Any] | None:
        """(expiry, answer) while the answer is fresh; without a coroutine, for the usual
        case of a request whose review is cached."""
        entry = self._cache.get(key)  # marks it used
        if entry is None:
            return None
        if entry[0] > self._clock():
            return entry
        del self._cache[key]
        return None

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> Any:
        entry = self.cached(key)
        if entry is not None:
            return entry[1]
        task = self._pending.get(key)
        if task is None:
            # Its own task: a caller that gives up (timeout) does not fail the others.
            task = asyncio.create_task(self._fetch(key, fetch))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._pending[key] = task
        return await asyncio.shield(task)

    async def _fetch(self, key: Hashable, fetch: Callable[[], Awaitable[Any]]) -> Any:
        try:
            answer = await fetch()
        finally:
            self._pending.pop(key, None)
        ttl = self._ttl_of(answer)
        if ttl > 0:
            self._cache[key] = (self._clock() + ttl, answer)
        return answer


async def _review(kube: KubeCalls, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a review, retrying briefly on transport errors and 5xx; its `status`."""
    last = ""
    for attempt in range(3):
        if attempt:
            await asyncio.sleep(0.2 * attempt)
        try:
            status, answer = await kube.request("POST", path, body=body)
        except KubeUnreachable as err:
            last = err.message
            continue
        if status == 201 or status == 200:
            if isinstance(answer, dict) and isinstance(answer.get("status"), dict):
                return answer["status"]
            raise ReviewError(f"{body['kind']}: an answer without status")
        message = answer.get("message", "") if isinstance(answer, dict) else ""
        last = f"{body['kind']} answered HTTP {status}: {message}".rstrip(": ")
        if status < 500 and status != 429:
            break
    raise ReviewError(last)


# ----- authentication -------------------------------------------------------------------------


class TokenReviewer:
    """Bearer tokens through TokenReview; answers (valid or not) cached `ttl_s`, keyed by
    an HMAC of the token so that no token is kept in memory."""

    def __init__(
        self,
        kube: KubeCalls,
        ttl_s: float = 10.0,
        audiences: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.audiences = audiences
        self._key = secrets.token_bytes(32)
        self._reviews = _Reviews(lambda _: ttl_s, clock)

    async def review(self, token: str) -> UserInfo | None:
        key = hmac.new(self._key, token.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
        return await self._reviews.get(key, lambda: self._ask(token))

    async def _ask(self, token: str) -> UserInfo | None:
        spec: dict[str, Any] = {"token": token}
        if self.audiences:
            spec["audiences"] = list(self.audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        status = await _review(self.kube, _TOKEN_REVIEWS, body)
        if not status.get("authenticated"):
            if status.get("error"):
                log.info("token rejected: %s", status["error"])
            return None
        user = status.get("user") or {}
        extra = {str(k): tuple(map(str, v or ())) for k, v in (user.get("extra") or {}).items()}
        return UserInfo(
            str(user.get("username", "")),
            str(user.get("uid", "")),
            tuple(map(str, user.get("groups") or ())),
            extra,
        )


@dataclass(frozen=True)
class _Peer:
    """What a connection's client certificate proves under one ClientTrust. Its checks (a
    signature verified against each CA, the key usage, the names) cost more than the rest
    of a request, and a connection's certificate never changes: they run once per
    connection and trust."""

    trust: ClientTrust
    proxy: bool = False  # a front-proxy certificate: the headers name the user
    user: UserInfo | None = None  # a client-CA certificate's user, authenticated

    @classmethod
    def of(cls, leaf: x509.Certificate, trust: ClientTrust) -> _Peer:
        proxy = trust.front_proxy is not None and trust.front_proxy.trusts(leaf)
        user = None
        name = _common_name(leaf)
        if (
            trust.client_cas
            and name
            and issued_by_any(leaf, trust.client_cas)
            and _for_client_auth(leaf)
        ):
            groups = tuple(
                str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            )
            user = UserInfo(name, "", groups).authenticated()
        return cls(trust, proxy, user)


class Authenticator:
    """The union of front proxy, client certificate and token, in kube-apiserver's order."""

    def __init__(self, trust: TrustSource, tokens: TokenReviewer | None) -> None:
        self.trust = trust
        self.tokens = tokens
        self._peers: weakref.WeakKeyDictionary[ssl.SSLObject, _Peer] = weakref.WeakKeyDictionary()

    def _peer(self, request: web.BaseRequest, trust: ClientTrust) -> _Peer | None:
        """The connection's certificate as `trust` reads it; None without one."""
        transport = request.transport
        tls = transport.get_extra_info("ssl_object") if transport is not None else None
        if tls is None:
            return None
        known = self._peers.get(tls)
        if known is None or known.trust is not trust:
            der = tls.getpeercert(binary_form=True)
            known = _Peer.of(x509.load_der_x509_certificate(der), trust) if der else _Peer(trust)
            self._peers[tls] = known
        return known

    async def authenticate(self, request: web.BaseRequest) -> UserInfo:
        """The caller, or Unauthorized."""
        trust = self.trust.current
        peer = self._peer(request, trust)
        if peer is not None:
            if peer.proxy and trust.front_proxy is not None:
                user = trust.front_proxy.user(request.headers)
                if user is not None:
                    return user.authenticated()
            if peer.user is not None:
                return peer.user
        token = _bearer(request.headers.get("Authorization", ""))
        if token and self.tokens is not None:
            try:
                user = await self.tokens.review(token)
            except ReviewError as err:
                log.error("unable to authenticate the request: %s", err)
                user = None
            if user is not None:
                return user.authenticated()
        raise Unauthorized("Unauthorized")


def _bearer(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# ----- authorization --------------------------------------------------------------------------


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes for one request, as kube-apiserver's RequestInfo reads a path."""

    verb: str
    path: str
    resource_request: bool = False
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


_SPECIAL_VERBS = ("proxy", "watch")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """RequestInfoFactory.NewRequestInfo for the /api and /apis prefixes."""
    stripped = path.strip("/")
    parts = stripped.split("/") if stripped else []
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return Attributes(method.lower(), path)
    rest = parts[1:]
    group = ""
    if parts[0] == "apis":
        if len(rest) < 3:
            return Attributes(method.lower(), path)
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    if rest[0] in _SPECIAL_VERBS:
        if len(rest) < 2:  # Kubernetes fails such a path; as a path it gets a path's review
            return Attributes(method.lower(), path)
        verb, rest = rest[0], rest[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    subresource = rest[2] if len(rest) >= 3 and verb != "proxy" else ""
    name = rest[1] if len(rest) >= 2 else ""
    resource = rest[0]
    if not name and verb == "get":
        watch = query.get("watch", "").lower() in ("true", "1")
        verb = "watch" if watch else "list"
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(verb, path, True, group, version, namespace, resource, subresource, name)


def _go_quote(text: str) -> str:
    """Go's %q: a double-quoted string literal, printable characters kept."""
    out = ['"']
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f"}
    escapes |= {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(ch)
        elif code < 0x80 or 0xDC80 <= code <= 0xDCFF:  # surrogate-escaped raw bytes
            out.append(f"\\x{code & 0xFF:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def forbidden(user: UserInfo, attrs: Attributes, reason: str = "") -> Forbidden:
    """responsewriters.Forbidden: the message, and the StatusDetails of NewForbidden."""
    who = _go_quote(user.name)
    if not attrs.resource_request:
        message = f"User {who} cannot {attrs.verb} path {_go_quote(attrs.path)}"
    else:
        resource = attrs.resource
        if attrs.subresource:
            resource = f"{resource}/{attrs.subresource}"
        message = (
            f"User {who} cannot {attrs.verb} resource {_go_quote(resource)} "
            f"in API group {_go_quote(attrs.group)}"
        )
        if attrs.namespace:
            message += f" in the namespace {_go_quote(attrs.namespace)}"
        else:
            message += " at the cluster scope"
    message = message.translate(_HTML)
    if reason:
        message = f"{message}: {reason}"
    if not attrs.resource:
        return Forbidden(f"forbidden: {message}", details={})
    qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    if attrs.name:
        prefix = f"{qualified} {_go_quote(attrs.name)} is forbidden"
    else:
        prefix = f"{qualified} is forbidden"
    details = {"name": attrs.name, "group": attrs.group, "kind": attrs.resource}
    return Forbidden(f"{prefix}: {message}", details=details)


def access_review_spec(user: UserInfo, attrs: Attributes) -> dict[str, Any]:
    """SubjectAccessReviewSpec as the webhook authorizer writes it (omitempty fields left out)."""
    spec: dict[str, Any] = {}
    if attrs.resource_request:
        fields = (
            ("namespace", attrs.namespace),
            ("verb", attrs.verb),
            ("group", attrs.group),
            ("version", attrs.version),
            ("resource", attrs.resource),
            ("subresource", attrs.subresource),
            ("name", attrs.name),
        )
        spec["resourceAttributes"] = {k: v for k, v in fields if v}
    else:
        spec["nonResourceAttributes"] = {
            k: v for k, v in (("path", attrs.path), ("verb", attrs.verb)) if v
        }
    if user.name:
        spec["user"] = user.name
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in sorted(user.extra.items())}
    if user.uid:
        spec["uid"] = user.uid
    return spec


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def review_scopes(attrs: Attributes, broad: bool) -> Iterator[Attributes]:
    """The attributes to review, broadest first; the last is the request's own.

    A resource request's path is left out (the review never carries it). Broad: all
    namespaces and names, then the request's namespace and all names, then the request; a
    name of `*` (`pods/*`: every pod the selector picks) is asked as all names. The
    subresource (the metric) stays: an empty one is the main resource, not every one. The
    version stays as the webhook authorizer writes it: RBAC ignores it, another authorizer
    may not, and a client asks one version anyway."""
    if not attrs.resource_request:
        yield attrs
        return
    verb, group, version = attrs.verb, attrs.group, attrs.version
    resource, subresource, namespace = attrs.resource, attrs.subresource, attrs.namespace
    if not broad:
        yield Attributes(
            verb, "", True, group, version, namespace, resource, subresource, attrs.name
        )
        return
    name = "" if attrs.name == "*" else attrs.name
    yield _all_names(verb, group, version, "", resource, subresource)
    if namespace:
        yield _all_names(verb, group, version, namespace, resource, subresource)
    if name:
        yield Attributes(verb, "", True, group, version, namespace, resource, subresource, name)


@functools.lru_cache(maxsize=4096)
def _all_names(
    verb: str, group: str, version: str, namespace: str, resource: str, subresource: str
) -> Attributes:
    """A broad scope, made once: a client asks the same few again and again."""
    return Attributes(verb, "", True, group, version, namespace, resource, subresource, "")


_DENIED = Decision(False)


class AccessReviewer:
    """SubjectAccessReview with Kubernetes' webhook cache: allowed answers kept
    `allowed_ttl_s`, the others `denied_ttl_s`; errors are never cached.

    `broad` reviews a resource request from its broadest scope down (`review_scopes`) and
    stops at the first allowed answer. The API defines an empty namespace or name as "all",
    and RBAC only ever adds permissions, so an allowed broader answer holds for every
    narrower request: an HPA controller allowed cluster-wide costs one review per metric
    per TTL, not one per object. A denied broader answer only moves the walk on; the
    request's own answer is the final one. (An authorizer that denies narrower scopes than
    it allows breaks the premise: there, `broad=False`.)"""

    def __init__(
        self,
        kube: KubeCalls,
        allowed_ttl_s: float = 10.0,
        denied_ttl_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        broad: bool = True,
    ) -> None:
        self.kube = kube
        self.broad = broad
        self._reviews = _Reviews(lambda d: allowed_ttl_s if d.allowed else denied_ttl_s, clock)

    async def decide(self, user: UserInfo, attrs: Attributes) -> Decision:
        decision = _DENIED
        for scope in review_scopes(attrs, self.broad):
            key = (user, scope)
            cached = self._reviews.cached(key)
            if cached is not None:
                decision = cached[1]
            else:
                decision = await self._reviews.get(key, functools.partial(self._ask, user, scope))
            if decision.allowed:
                break
        return decision

    async def _ask(self, user: UserInfo, scope: Attributes) -> Decision:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": access_review_spec(user, scope),
        }
        status = await _review(self.kube, _ACCESS_REVIEWS, body)
        if status.get("evaluationError"):
            log.warning("SubjectAccessReview evaluation error: %s", status["evaluationError"])
        allowed = bool(status.get("allowed")) and not status.get("denied")
        return Decision(allowed, str(status.get("reason") or ""))


def path_allowed(patterns: tuple[str, ...], path: str) -> bool:
    """--authorization-always-allow-paths: exact paths, or prefixes ending in `*`."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if path.startswith(pattern[:-1]):
                return True
        elif path == pattern:
            return True
    return False


class DelegatedAuth:
    """The request pipeline's gate: who is asking (401) and may they (403)."""

    def __init__(
        self,
        authenticator: Authenticator,
        reviewer: AccessReviewer,
        always_allow_paths: tuple[str, ...] = HEALTH_PATHS,
        always_allow_groups: tuple[str, ...] = ALWAYS_ALLOW_GROUPS,
    ) -> None:
        self.authenticator = authenticator
        self.reviewer = reviewer
        self.always_allow_paths = always_allow_paths
        self.always_allow_groups = frozenset(always_allow_groups)

    async def check(self, request: web.BaseRequest) -> UserInfo | None:
        """Raise Unauthorized, Forbidden or ServiceUnavailable unless the request may go on.
        None for a path everyone may reach."""
        if path_allowed(self.always_allow_paths, request.path):
            return None
        user = await self.authenticator.authenticate(request)
        if not self.always_allow_groups.isdisjoint(user.groups):
            return user
        attrs = request_attributes(request.method, request.path, request.query)
        try:
            decision = await self.reviewer.decide(user, attrs)
        except ReviewError as err:
            log.error("unable to authorize %s %s: %s", request.method, request.path, err)
            raise ServiceUnavailable(
                "the request cannot be authorized now: the Kubernetes API did not answer "
                "the SubjectAccessReview"
            ) from None
        if not decision.allowed:
            raise forbidden(user, attrs, decision.reason)
        return user
