"""KEDA's external scaler (gRPC, asyncio) over the same Provider the metrics APIs use.

KEDA's GetMetrics calls therefore share the engine's batched queries and snapshots with
the HPA's requests. Errors are gRPC statuses KEDA acts on: INVALID_ARGUMENT for bad
metadata (naming the key), NOT_FOUND for an unknown metric, UNAVAILABLE when the backend
is down or its last snapshot too old (KEDA's `fallback` then applies), INTERNAL otherwise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import NoReturn

import grpc
from prometheus_client import CollectorRegistry, Counter

from apiservice.changes import recording
from apiservice.errors import APIError
from apiservice.provider import CustomMetricInfo, ExternalMetricInfo, GroupResource, Provider
from apiservice.scaler import externalscaler_pb2 as pb
from apiservice.scaler import externalscaler_pb2_grpc as pb_grpc
from apiservice.scaler.metadata import (
    CustomSource,
    ExternalSource,
    InvalidMetadata,
    QuerySource,
    Trigger,
    parse_trigger,
)
from apiservice.scaler.streams import StreamHub
from apiservice.selectors import parse_selector

log = logging.getLogger(__name__)

RawQuery = Callable[[str], Awaitable[list[float]]]
"""Runs PromQL and returns its sample values (a scalar is one value)."""

_EVERYTHING = parse_selector(None)
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    503: grpc.StatusCode.UNAVAILABLE,
}


def whole(value: float) -> int:
    """The deprecated int64 fields, for KEDA versions that read only them: the float
    rounded half up (2.5 -> 3, not Python's 2)."""
    return math.floor(value + 0.5) if math.isfinite(value) else 0


class ExternalScaler(pb_grpc.ExternalScalerServicer):
    def __init__(
        self,
        provider: Provider,
        hub: StreamHub,
        *,
        raw_query: RawQuery | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.provider = provider
        self.hub = hub
        self.raw_query = raw_query
        self.calls = Counter(
            "surge_scaler_requests",
            "KEDA external scaler calls, by method and gRPC code.",
            ["method", "code"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    # -- what a trigger reads -----------------------------------------------------

    def _trigger(self, ref: pb.ScaledObjectRef) -> Trigger:
        return parse_trigger(
            dict(ref.scalerMetadata), ref.namespace, allow_query=self.raw_query is not None
        )

    def _namespaced(self, source: CustomSource) -> bool:
        """Whether the metric is served for namespaced objects of the resource; a metric
        known only root-scoped (namespaces, nodes) is asked without a namespace."""
        wanted = GroupResource.parse(source.resource)
        scopes = {
            info.namespaced
            for info in self.provider.list_all_metrics()
            if info.metric == source.metric
            and (
                info.group_resource == wanted
                or (not wanted.group and info.group_resource.resource == wanted.resource)
            )
        }
        return scopes != {False}

    async def value(self, trigger: Trigger) -> float:
        """The trigger's current value: the sum of what its source returns."""
        match trigger.source:
            case CustomSource() as source:
                namespaced = self._namespaced(source)
                namespace = source.namespace if namespaced else ""
                info = CustomMetricInfo(
                    GroupResource.parse(source.resource), namespaced, source.metric
                )
                if source.name is not None:
                    one = await self.provider.get_metric_by_name(
                        namespace, source.name, info, _EVERYTHING
                    )
                    return float(one.value)
                values = await self.provider.get_metric_by_selector(
                    namespace, source.selector, info, _EVERYTHING
                )
                return sum(float(v.value) for v in values)
            case ExternalSource() as source:
                items = await self.provider.get_external_metric(
                    source.namespace, source.selector, ExternalMetricInfo(source.metric)
                )
                return sum(float(i.value) for i in items)
            case QuerySource() as source:
                assert self.raw_query is not None  # parse_trigger refuses query otherwise
                return sum(await self.raw_query(source.promql))

    async def _active(self, trigger: Trigger) -> bool:
        return await self.value(trigger) > trigger.activation

    # -- errors -------------------------------------------------------------------

    async def _fail(
        self, method: str, context: grpc.aio.ServicerContext, err: Exception
    ) -> NoReturn:
        if isinstance(err, InvalidMetadata):
            code, message = grpc.StatusCode.INVALID_ARGUMENT, str(err)
        elif isinstance(err, APIError):
            code, message = _CODES.get(err.code, grpc.StatusCode.INTERNAL), err.message
        else:
            log.error("%s failed", method, exc_info=err)
            code, message = grpc.StatusCode.INTERNAL, "an unexpected error; see the server log"
        self.calls.labels(method, code.name).inc()
        await context.abort(code, message)
        raise AssertionError("abort returned")  # pragma: no cover - abort always raises

    def _ok(self, method: str) -> None:
        self.calls.labels(method, grpc.StatusCode.OK.name).inc()

    # -- the four methods ---------------------------------------------------------

    async def IsActive(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.IsActiveResponse:
        try:
            active = await self._active(self._trigger(request))
        except Exception as err:
            await self._fail("IsActive", context, err)
        self._ok("IsActive")
        return pb.IsActiveResponse(result=active)

    async def StreamIsActive(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.IsActiveResponse]:
        last: bool | None = None
        with self.hub.watch() as watch:
            while True:
                try:
                    trigger = self._trigger(request)
                    with recording() as reads:
                        watch.keys = reads
                        active = await self._active(trigger)
                except Exception as err:
                    await self._fail("StreamIsActive", context, err)
                if active != last:
                    self._ok("StreamIsActive")
                    yield pb.IsActiveResponse(result=active)
                    last = active
                await watch.changed()

    async def GetMetricSpec(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricSpecResponse:
        try:
            trigger = self._trigger(request)
        except Exception as err:
            await self._fail("GetMetricSpec", context, err)
        self._ok("GetMetricSpec")
        spec = pb.MetricSpec(
            metricName=trigger.metric_name,
            targetSize=max(1, whole(trigger.target)),
            targetSizeFloat=trigger.target,
        )
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricsResponse:
        try:
            trigger = self._trigger(request.scaledObjectRef)
            value = await self.value(trigger)
        except Exception as err:
            await self._fail("GetMetrics", context, err)
        self._ok("GetMetrics")
        metric = pb.MetricValue(
            metricName=request.metricName or trigger.metric_name,
            metricValue=whole(value),
            metricValueFloat=value,
        )
        return pb.GetMetricsResponse(metricValues=[metric])


def tls_credentials(
    cert_file: Path, key_file: Path, client_ca_file: Path | None = None
) -> grpc.ServerCredentials:
    """Server TLS from the PEM pair the HTTPS server serves, re-read when a file changes
    (a rotated certificate is used from the next handshake on). With `client_ca_file`,
    callers must present a certificate that CA issued (KEDA's TriggerAuthentication
    `tlsClientCert`/`tlsClientKey`); the CA file is re-read as it rotates too."""
    files = [cert_file, key_file, *([client_ca_file] if client_ca_file else [])]

    def stamp() -> tuple[int, ...]:
        return tuple(f.stat().st_mtime_ns for f in files)

    def load() -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(key_file.read_bytes(), cert_file.read_bytes())],
            root_certificates=client_ca_file.read_bytes() if client_ca_file else None,
        )

    loaded = [stamp()]

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        try:
            now = stamp()
            if now == loaded[0]:
                return None
            config = load()
        except (OSError, ValueError) as err:
            log.error("cannot reload the scaler's certificates: %s", err)
            return None
        loaded[0] = now
        log.info("the scaler's certificates were reloaded from %s", ", ".join(map(str, files)))
        return config

    return grpc.dynamic_ssl_server_credentials(
        load(), fetch, require_client_authentication=client_ca_file is not None
    )


class ScalerServer:
    """The gRPC server on host:port (0: a free port, see `port` after start)."""

    def __init__(
        self,
        scaler: ExternalScaler,
        host: str,
        port: int,
        credentials: grpc.ServerCredentials | None,
    ) -> None:
        self.scaler = scaler
        self._server = grpc.aio.server()
        pb_grpc.add_ExternalScalerServicer_to_server(scaler, self._server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"cannot listen on {address} for the KEDA scaler")

    async def start(self) -> None:
        self.scaler.hub.start()
        await self._server.start()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking calls, give calls in flight `grace_s`, then end the open streams."""
        await self._server.stop(grace_s)
        await self.scaler.hub.close()
