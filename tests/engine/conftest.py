"""A real Prometheus holding a small fleet (same names in several namespaces), a recording
proxy in front of it, and the provider stack wired as `surge serve` wires it, with an
injected clock."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from adapter.discovery import SeriesDiscovery
from adapter.engine import EngineSettings, NaiveEngine, OptimizedEngine, Sleep
from adapter.objects import StaticObjects
from adapter.prometheus import PrometheusClient, PrometheusSettings
from adapter.provider import PrometheusProvider
from adapter.rules import load_config
from bench import fleet
from surge.demo.localprom import LocalPrometheus, backfill
from tests.support.clock import Clock
from tests.support.promproxy import PrometheusProxy

SERVICES = fleet.fleet(namespaces=3, deployments=6, pods=3)


@contextlib.contextmanager
def fleet_prometheus_of(
    data: Path, services: list[fleet.Service], flags: Sequence[str] = ()
) -> Iterator[LocalPrometheus]:
    """A real Prometheus holding `services`' series from an hour ago to four hours ahead."""
    now = time.time()
    backfill(data, fleet.openmetrics(services, now - 3600, now + 4 * 3600, 30))
    with LocalPrometheus(data, flags=flags) as prometheus:
        yield prometheus


@pytest.fixture(scope="session")
def fleet_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    with fleet_prometheus_of(tmp_path_factory.mktemp("fleet-prometheus"), SERVICES) as prometheus:
        yield prometheus


@pytest.fixture(scope="session")
def fleet_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("fleet")
    rules, objects = folder / "rules.yaml", folder / "objects.yaml"
    rules.write_text(fleet.RULES)
    objects.write_text(yaml.safe_dump_all(fleet.objects(SERVICES)))
    return rules, objects


@dataclass
class Stack:
    provider: PrometheusProvider
    engine: NaiveEngine
    proxy: PrometheusProxy
    clock: Clock
    client: PrometheusClient


async def make_stack(
    prometheus_url: str,
    rules: Path,
    objects: Path,
    *,
    naive: bool = False,
    settings: EngineSettings | None = None,
    clock: Clock | None = None,
    sleep: Sleep = asyncio.sleep,
    timeout_s: float = 2.0,
) -> tuple[Stack, PrometheusProxy]:
    proxy = PrometheusProxy(prometheus_url)
    await proxy.start()
    clock = clock or Clock()
    client = PrometheusClient(PrometheusSettings(proxy.url, timeout_s=timeout_s))
    index = StaticObjects.from_file(objects)
    discovery = SeriesDiscovery(
        load_config(rules), client, lambda: index.mapper, max_age_s=7200, clock=clock
    )
    await discovery.relist()
    engine: NaiveEngine = (
        NaiveEngine(client, clock)
        if naive
        else OptimizedEngine(client, settings or EngineSettings(), clock=clock, sleep=sleep)
    )
    provider = PrometheusProvider(discovery.registry, index, engine)
    proxy.queries.clear()
    return Stack(provider, engine, proxy, clock, client), proxy


@pytest.fixture
async def stack(
    fleet_prometheus: LocalPrometheus, fleet_files: tuple[Path, Path]
) -> AsyncIterator[Stack]:
    built, proxy = await make_stack(fleet_prometheus.url, *fleet_files)
    yield built
    await built.client.close()
    await proxy.stop()


@pytest.fixture
async def naive_stack(
    fleet_prometheus: LocalPrometheus, fleet_files: tuple[Path, Path]
) -> AsyncIterator[Stack]:
    built, proxy = await make_stack(fleet_prometheus.url, *fleet_files, naive=True)
    yield built
    await built.client.close()
    await proxy.stop()
