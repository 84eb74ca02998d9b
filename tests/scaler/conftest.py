"""The KEDA scaler over the real provider stack: the constant Prometheus behind a recording
proxy, the seed rules, the optimized engine on an injected clock, gRPC over real TLS."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme

from adapter.discovery import SeriesDiscovery
from adapter.engine import EngineSettings, NaiveEngine, OptimizedEngine, Sleep
from adapter.objects import StaticObjects
from adapter.prometheus import PrometheusClient, PrometheusSettings
from adapter.provider import PrometheusProvider
from adapter.rules import load_config
from apiservice.scaler import externalscaler_pb2_grpc as pb_grpc
from apiservice.scaler.server import ExternalScaler, ScalerServer, tls_credentials
from apiservice.scaler.streams import StreamHub
from tests.support.clock import Clock
from tests.support.oracle import ConstantData
from tests.support.promproxy import PrometheusProxy

ROOT = Path(__file__).resolve().parents[2]
SEED_RULES = ROOT / "deploy" / "config" / "seed-rules.yaml"
FRESHNESS_S = 10.0
MAX_STALENESS_S = 60.0


@dataclass
class Scaler:
    stub: pb_grpc.ExternalScalerStub
    engine: NaiveEngine
    proxy: PrometheusProxy
    clock: Clock
    server: ScalerServer
    port: int
    ca_pem: bytes


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A serving pair for 127.0.0.1 from a test CA: (cert file, key file, CA PEM)."""
    folder = tmp_path_factory.mktemp("scaler-tls")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = folder / "tls.crt", folder / "tls.key"
    issued.cert_chain_pems[0].write_to_path(cert)
    issued.private_key_pem.write_to_path(key)
    return cert, key, ca.cert_pem.bytes()


async def start_scaler(
    prometheus: ConstantData,
    objects: Path,
    tls: tuple[Path, Path, bytes],
    *,
    raw_query: bool,
    idle_after_s: float = 10**6,
    naive: bool = False,
    clock: Clock | None = None,
    sleep: Sleep = asyncio.sleep,
) -> tuple[Scaler, grpc.aio.Channel, PrometheusClient]:
    """The scaler over the optimized engine (streams woken by its refreshes) or the naive
    one (streams woken by the hub's ticker every FRESHNESS_S, on `sleep`)."""
    proxy = PrometheusProxy(prometheus.url)
    await proxy.start()
    clock = clock or Clock()
    client = PrometheusClient(PrometheusSettings(proxy.url, timeout_s=2.0))
    index = StaticObjects.from_file(objects)
    discovery = SeriesDiscovery(
        load_config(SEED_RULES), client, lambda: index.mapper, max_age_s=7200, clock=clock
    )
    await discovery.relist()
    settings = EngineSettings(
        freshness_s=FRESHNESS_S, max_staleness_s=MAX_STALENESS_S, idle_after_s=idle_after_s
    )
    engine = NaiveEngine(client, clock) if naive else OptimizedEngine(client, settings, clock=clock)
    provider = PrometheusProvider(discovery.registry, index, engine)
    feed = engine if isinstance(engine, OptimizedEngine) else None
    scaler = ExternalScaler(
        provider,
        StreamHub(feed, tick_s=FRESHNESS_S, sleep=sleep),
        raw_query=provider.raw_query if raw_query else None,
    )
    cert, key, ca_pem = tls
    server = ScalerServer(scaler, "127.0.0.1", 0, tls_credentials(cert, key))
    await server.start()
    channel = grpc.aio.secure_channel(
        f"127.0.0.1:{server.port}", grpc.ssl_channel_credentials(root_certificates=ca_pem)
    )
    proxy.queries.clear()
    stub = pb_grpc.ExternalScalerStub(channel)
    return Scaler(stub, engine, proxy, clock, server, server.port, ca_pem), channel, client


@contextlib.asynccontextmanager
async def running_scaler(
    prometheus: ConstantData,
    objects: Path,
    tls: tuple[Path, Path, bytes],
    *,
    raw_query: bool,
    **options: Any,
) -> AsyncIterator[Scaler]:
    """start_scaler(), stopped on the way out."""
    built, channel, client = await start_scaler(
        prometheus, objects, tls, raw_query=raw_query, **options
    )
    try:
        yield built
    finally:
        await channel.close()
        await built.server.stop(0)
        await built.engine.close()
        await client.close()
        await built.proxy.stop()


async def _scaler(
    prometheus: ConstantData, objects: Path, tls: tuple[Path, Path, bytes], *, raw_query: bool
) -> AsyncIterator[Scaler]:
    async with running_scaler(prometheus, objects, tls, raw_query=raw_query) as built:
        yield built


@pytest.fixture
async def scaler(
    prometheus_constant: ConstantData, constant_objects: Path, tls_pair: tuple[Path, Path, bytes]
) -> AsyncIterator[Scaler]:
    """Raw PromQL triggers allowed."""
    async for built in _scaler(prometheus_constant, constant_objects, tls_pair, raw_query=True):
        yield built


@pytest.fixture
async def strict_scaler(
    prometheus_constant: ConstantData, constant_objects: Path, tls_pair: tuple[Path, Path, bytes]
) -> AsyncIterator[Scaler]:
    """Raw PromQL triggers refused (the server's default)."""
    async for built in _scaler(prometheus_constant, constant_objects, tls_pair, raw_query=False):
        yield built
