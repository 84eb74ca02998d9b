"""The aggregated API server's HTTP layer: routing, errors as metav1.Status, health, metrics.

All answers are GETs. A provider's APIError becomes a Status with its code; anything else is
logged here with its traceback and answered with a generic 500, so no internal detail
reaches a client.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from apiservice import discovery, openapi, resource_metrics, types
from apiservice.auth import HEALTH_PATHS as _HEALTH_PATHS
from apiservice.auth import DelegatedAuth
from apiservice.errors import APIError, InternalError, NotFound
from apiservice.limits import (
    Deadlines,
    InflightGate,
    Limits,
    RequestEntityTooLarge,
    Timeout,
    too_many_requests,
)
from apiservice.provider import CustomMetricInfo, ExternalMetricInfo, GroupResource, Provider
from apiservice.routes import (
    CustomMetric,
    Discovery,
    ExternalMetric,
    Health,
    Metrics,
    OpenAPI,
    ResourceMetrics,
    Route,
    resolve,
)
from apiservice.selectors import parse_selector

log = logging.getLogger(__name__)

AUTH_REQUIRED = (
    "delegated authentication is required: give `auth`, or pass insecure_skip_auth "
    "(--insecure-skip-auth) to run without it"
)
LIMITS = web.AppKey("limits", Limits)
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
HANDLER: web.AppKey[Handler] = web.AppKey("handler")
# Kubernetes' own answers for paths and methods it does not serve, `"details":{}` included.
_PATH_NOT_FOUND = "the server could not find the requested resource"
_METHOD_NOT_ALLOWED = "the server does not allow this method on the requested resource"
_UNEXPECTED = "an unexpected error; see the server log"
_VERBS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_TEXT = "text/plain; charset=utf-8"


class MethodNotAllowed(APIError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(APIError):
    code = 406
    reason = "NotAcceptable"


class _Instruments:
    """Request count and latency, labelled by verb, route kind and code (never by raw path)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "surge_apiserver_requests",
            "API requests answered, by verb, route kind and HTTP code.",
            ["verb", "route", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "surge_apiserver_request_duration_seconds",
            "Time to answer an API request, by verb and route kind.",
            ["verb", "route"],
            registry=registry,
        )

        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, code: int, seconds: float) -> None:
        # labels() costs a lock and a lookup: keep each (verb, route, code)'s children
        verb = method if method in _VERBS else "OTHER"
        key = (verb, route, code)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(verb, route, str(code)),
                self.duration.labels(verb, route),
            )
        children[0].inc()
        children[1].observe(seconds)


@functools.lru_cache(maxsize=1024)  # a cluster's HPAs ask for a few metrics, again and again
def _metric_info(resource: str, namespaced: bool, metric: str) -> CustomMetricInfo:
    return CustomMetricInfo(GroupResource.parse(resource), namespaced, metric)


def _now() -> datetime:
    return datetime.now(UTC)


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=types.encode(body), status=status, content_type="application/json")


def _text(body: str, status: int = 200) -> web.Response:
    headers = {"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"}
    return web.Response(text=body, status=status, headers=headers)


def _accepts_json(accept: str) -> bool:
    """Whether an Accept header admits JSON; kubectl asks /openapi/v2 for protobuf first."""
    if not accept.strip():
        return True
    ranges = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(ranges & {"application/json", "application/*", "*/*"})


class _API:
    """Answers a resolved route; errors propagate as APIError for the caller to render."""

    def __init__(
        self,
        provider: Provider,
        ready: Callable[[], bool] | None,
        registry: CollectorRegistry,
        resources: resource_metrics.ResourceMetricsProvider | None = None,
        ready_note: Callable[[], str] | None = None,
    ) -> None:
        self.provider = provider
        self.ready = ready
        self.ready_note = ready_note
        self.registry = registry
        self.resources = resources

    async def answer(self, route: Route, request: web.BaseRequest) -> web.Response:
        match route:
            case CustomMetric():
                return await self.custom(route, request)
            case ExternalMetric():
                return await self.external(route, request)
            case ResourceMetrics():
                return _json(await self.resource_metrics(route, request))
            case Discovery():
                return _json(self.discovery(route))
            case OpenAPI():
                return self.openapi(route, request)
            case Health():
                return self.readyz() if route.check == "readyz" else _text("ok")
            case Metrics():
                headers = {"Content-Type": CONTENT_TYPE_LATEST}
                return web.Response(body=generate_latest(self.registry), headers=headers)

    async def custom(self, route: CustomMetric, request: web.BaseRequest) -> web.Response:
        # Kubernetes decodes the list options (labelSelector) before it looks at anything else.
        selector = parse_selector(request.query.get("labelSelector"))
        metric_selector = parse_selector(request.query.get("metricLabelSelector"))
        # As custom-metrics-apiserver: the resource as written (`deployments` or
        # `deployments.apps`); the provider normalizes it and answers 404 for what it lacks.
        info = _metric_info(route.resource, route.namespace != "", route.metric)
        if route.name == "*":
            values = await self.provider.get_metric_by_selector(
                route.namespace, selector, info, metric_selector
            )
        else:
            value = await self.provider.get_metric_by_name(
                route.namespace, route.name, info, metric_selector
            )
            values = [value]
        return _json(types.metric_value_list(values, route.version))

    async def external(self, route: ExternalMetric, request: web.BaseRequest) -> web.Response:
        metric_selector = parse_selector(request.query.get("labelSelector"))
        values = await self.provider.get_external_metric(
            route.namespace, metric_selector, ExternalMetricInfo(route.metric)
        )
        return _json(types.external_metric_value_list(values))

    async def resource_metrics(
        self, route: ResourceMetrics, request: web.BaseRequest
    ) -> types.JSON:
        if self.resources is None:
            raise NotFound(_PATH_NOT_FOUND, details={})
        return await resource_metrics.answer(
            self.resources, route.resource, route.namespace, route.name, request.query, _now()
        )

    def discovery(self, route: Discovery) -> types.JSON:
        if route.group is None:
            return discovery.api_group_list(resource_metrics_served=self.resources is not None)
        if route.group == resource_metrics.GROUP and self.resources is None:
            raise NotFound(_PATH_NOT_FOUND, details={})
        if route.version is None:
            return discovery.api_group(route.group)
        return discovery.api_resource_list(route.group, route.version, self.provider)

    def openapi(self, route: OpenAPI, request: web.BaseRequest) -> web.Response:
        if not _accepts_json(request.headers.get("Accept", "")):
            raise NotAcceptable("only the following media types are accepted: application/json")
        if route.version == "v2":
            return web.Response(body=openapi.openapi_v2(), content_type="application/json")
        if route.group_version is None:
            return web.Response(
                body=openapi.openapi_v3_discovery(), content_type="application/json"
            )
        document = openapi.openapi_v3_document(*route.group_version)
        if document is None:  # pragma: no cover - routes only name served group-versions
            raise NotFound(_PATH_NOT_FOUND, details={})
        body, digest = document
        wanted = request.query.get("hash")
        if wanted is not None and wanted != digest:
            # An old hash: send the client to the current document, as Kubernetes does.
            return web.Response(status=301, headers={"Location": f"{request.path}?hash={digest}"})
        response = web.Response(body=body, content_type="application/json")
        response.headers["ETag"] = f'"{digest}"'
        if wanted is not None:
            response.headers["Cache-Control"] = "public, immutable"
        return response

    def readyz(self) -> web.Response:
        try:
            ready = self.ready is None or self.ready()
        except Exception:
            log.exception("the readiness check failed")
            ready = False
        note = self.ready_note() if self.ready_note is not None else ""
        if ready:
            return _text(f"ok: {note}" if note else "ok")
        # Kubernetes' health report: one line per check, the reason withheld from clients.
        rules = f"[-]rules: {note}\n" if note else ""
        report = f"[+]ping ok\n{rules}[-]provider failed: reason withheld\nreadyz check failed\n"
        return _text(report, status=500)


def build_app(
    provider: Provider,
    *,
    metrics_registry: CollectorRegistry | None = None,
    ready: Callable[[], bool] | None = None,
    ready_note: Callable[[], str] | None = None,
    insecure_skip_auth: bool = False,
    auth: DelegatedAuth | None = None,
    limits: Limits | None = None,
    resources: resource_metrics.ResourceMetricsProvider | None = None,
) -> web.Application:
    """The aiohttp application serving the metrics APIs from `provider`.

    `metrics_registry` receives the request metrics and is what /metrics exposes (a private
    registry when None); `ready` decides /readyz (always ready when None) and `ready_note`
    adds what a probe's reader should know (rules broken, yet ready). Every request
    but a health check passes `auth` (delegated authentication and authorization), which
    only `insecure_skip_auth` may replace; `limits` bound what is worked on at once.
    `resources` serves metrics.k8s.io (PodMetrics, NodeMetrics); without it that group is
    neither listed nor served.
    """
    if auth is None and not insecure_skip_auth:
        raise ValueError(AUTH_REQUIRED)
    limits = limits or Limits()
    registry = metrics_registry or CollectorRegistry()
    api = _API(provider, ready, registry, resources, ready_note)
    instruments = _Instruments(registry)
    gate = InflightGate(limits.max_requests_inflight)
    deadlines = Deadlines(limits.request_timeout_s)

    async def handle(request: web.BaseRequest) -> web.Response:
        started = time.perf_counter()
        kind = "unknown"
        exempt = request.path in _HEALTH_PATHS
        if not exempt and not gate.enter():
            response = too_many_requests()
            instruments.observe(request.method, kind, 429, time.perf_counter() - started)
            return response
        task = asyncio.current_task()
        assert task is not None  # aiohttp runs every request in a task of its own
        clock = deadlines.begin(task)
        try:
            if (request.content_length or 0) > limits.max_body_bytes:
                raise RequestEntityTooLarge(limits.max_body_bytes)
            if auth is not None:
                await auth.check(request)
            route = resolve(request.path)
            if route is None:
                raise NotFound(_PATH_NOT_FOUND, details={})
            kind = route.kind
            if request.method != "GET":
                raise MethodNotAllowed(_METHOD_NOT_ALLOWED, details={})
            response = await api.answer(route, request)
        except APIError as err:
            response = _json(types.status(err), status=err.code)
        except asyncio.CancelledError:
            if not deadlines.expired(task):
                raise
            response = _json(types.status(Timeout()), status=Timeout.code)
        except Exception:
            log.exception("%s %s failed", request.method, request.path_qs)
            error = InternalError(_UNEXPECTED)
            response = _json(types.status(error), status=error.code)
        finally:
            deadlines.end(task, clock)
            if not exempt:
                gate.leave()
        elapsed = time.perf_counter() - started
        instruments.observe(request.method, kind, response.status, elapsed)
        return response

    app = web.Application(client_max_size=limits.max_body_bytes)
    app[LIMITS] = limits
    app[HANDLER] = handle
    app.router.add_route("*", "/{path:.*}", handle)
    return app


class APIServer:
    """Serves an app of build_app on host:port, over TLS when given a context, until stopped.

    Port 0 binds a free port; `port` tells which. `stop` lets requests in flight finish
    (up to `shutdown_timeout` seconds) before it closes connections. The app's handler is
    served by aiohttp's low-level server, past the Application's router: the app has one
    catch-all route (`routes.resolve` routes), so the router's prefix walk, regex match and
    match info were a tenth of a request's CPU for nothing.
    """

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        *,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self._handler = app[HANDLER]
        self._limits = app.get(LIMITS) or Limits()
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.ServerRunner | None = None
        self._host = host
        self._port = port
        self._ssl_context = ssl_context

    async def start(self) -> None:
        server = web.Server(self._handler, access_log=None, **self._limits.server_args())
        self._runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl_context)
        await site.start()

    @property
    def port(self) -> int:
        """The bound port; valid after start()."""
        assert self._runner is not None, "start() first"
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
