"""HPA requests, KEDA calls and PodMetrics lists on the same pods share backend queries.

One real Prometheus holds the seed service's series (http_requests_waiting, ...) and the
kubelet's CPU and memory series of the same pods. Surge serves them over HTTPS
(custom.metrics.k8s.io, metrics.k8s.io) and gRPC (KEDA's external scaler), in process,
and every sync period (15 s, on an injected clock: no waiting) the clients ask:

- each HPA: its Pods metric (http_requests_waiting of the pods `app=ai-service` selects)
  and its CPU utilization (a PodMetrics list for the same selector, as the HPA
  controller reads Resource metrics);
- each KEDA ScaledObject: IsActive then GetMetrics on the same pods metric;
- `kubectl top pod`: a PodMetrics list of the namespace.

Prometheus' own counter of /api/v1/query requests is read before and after, for Surge's
optimized engine and for its naive one (one query per request, as prometheus-adapter).
A second table runs each client alone, then all together: together they cost what the
HPAs alone cost, since KEDA and `kubectl top` read the snapshots the HPAs refresh.

    python -m bench shared [--hpas 50 --scaledobjects 50 --tops 10 --syncs 4]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import yaml
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from adapter.discovery import SeriesDiscovery
from adapter.engine import EngineSettings, NaiveEngine, OptimizedEngine
from adapter.objects import StaticObjects
from adapter.prometheus import PrometheusClient, PrometheusSettings
from adapter.provider import PrometheusProvider
from adapter.resources_provider import ResourceMetricsSource
from adapter.rules import parse_config
from apiservice.scaler import externalscaler_pb2 as pb
from apiservice.scaler import externalscaler_pb2_grpc as pb_grpc
from apiservice.scaler.server import ExternalScaler, ScalerServer
from apiservice.scaler.streams import StreamHub
from apiservice.server import build_app
from surge.demo.data import (
    NAMESPACE,
    ConstantModel,
    demo_objects,
    demo_resource_usage,
    generate_openmetrics,
    generate_resource_openmetrics,
    pod_names,
)
from surge.demo.localprom import LocalPrometheus, backfill

SYNC_S = 15.0
SEED_RULES = Path(__file__).resolve().parents[1] / "deploy" / "config" / "seed-rules.yaml"
RESOURCE_RULES = """
resourceRules:
  cpu:
    containerQuery: |
      sum by (<<.GroupBy>>) (
        irate(container_cpu_usage_seconds_total{<<.LabelMatchers>>,container!="",pod!=""}[4m]))
    nodeQuery: sum by (<<.GroupBy>>) (irate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[4m]))
    resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod},
      node: {resource: node}}}
    containerLabel: container
  memory:
    containerQuery: |
      sum by (<<.GroupBy>>) (container_memory_working_set_bytes{<<.LabelMatchers>>,container!=""})
    nodeQuery: sum by (<<.GroupBy>>) (node_memory_working_set_bytes{<<.LabelMatchers>>})
    resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod},
      node: {resource: node}}}
    containerLabel: container
  window: 5m
"""
SELECTOR = "app%3Dai-service"
CUSTOM_PATH = (
    f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NAMESPACE}/pods/*/http_requests_waiting"
    f"?labelSelector={SELECTOR}"
)
PODS_PATH = f"/apis/metrics.k8s.io/v1beta1/namespaces/{NAMESPACE}/pods"
KEDA_METADATA = {
    "metricName": "http_requests_waiting",
    "resource": "pods",
    "labelSelector": "app=ai-service",
    "targetValue": "50",
    "activationValue": "1",
}
CLIENTS = ("hpa", "keda", "top")


@dataclass(frozen=True)
class Load:
    hpas: int
    scaledobjects: int
    tops: int
    syncs: int

    def only(self, client: str) -> Load:
        return Load(
            self.hpas if client == "hpa" else 0,
            self.scaledobjects if client == "keda" else 0,
            self.tops if client == "top" else 0,
            self.syncs,
        )


@dataclass
class Figures:
    """Requests answered per client kind, and what reached Prometheus."""

    hpa_custom: int = 0
    hpa_cpu: int = 0
    keda: int = 0
    top: int = 0
    prometheus_queries: int = 0

    @property
    def requests(self) -> int:
        return self.hpa_custom + self.hpa_cpu + self.keda + self.top


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def prometheus_queries(url: str) -> int:
    """Prometheus' own count of instant queries answered (/api/v1/query, any code)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == "prometheus_http_requests":
            for sample in family.samples:
                if (
                    sample.name.endswith("_total")
                    and sample.labels.get("handler") == "/api/v1/query"
                ):
                    total += sample.value
    return int(total)


def start_prometheus(workdir: Path, pods: Sequence[str]) -> LocalPrometheus:
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    seed = generate_openmetrics(start, end, 15, pods, ConstantModel())
    usage = generate_resource_openmetrics(start, end, 15, demo_resource_usage(pods))
    backfill(workdir / "data", seed.removesuffix("# EOF\n") + usage)
    prometheus = LocalPrometheus(workdir / "data")
    prometheus.start()
    return prometheus


async def until_next_sync(clock: Clock, engine: NaiveEngine | OptimizedEngine) -> None:
    """One sync period on the clock; for the optimized engine, in the steps of its
    refresh-ahead loop, refreshing what is due at each, as `surge serve` does (a hot key
    is refreshed about twice per 15 s sync with the 10 s freshness)."""
    if not isinstance(engine, OptimizedEngine):
        clock.now += SYNC_S
        return
    end = clock.now + SYNC_S
    while clock.now + engine.refresh_tick_s <= end:
        clock.now += engine.refresh_tick_s
        await engine.refresh_due()
    clock.now = end


async def run_once(
    prometheus: LocalPrometheus, objects: Path, load: Load, *, naive: bool
) -> Figures:
    """One engine, all clients for `load.syncs` sync periods; Prometheus' count of it."""
    config = parse_config(SEED_RULES.read_text() + RESOURCE_RULES, "bench-rules.yaml")
    assert config.resource_rules is not None
    clock = Clock()
    client = PrometheusClient(PrometheusSettings(prometheus.url, timeout_s=10.0))
    index = StaticObjects.from_file(objects)
    discovery = SeriesDiscovery(config, client, lambda: index.mapper, max_age_s=7200, clock=clock)
    await discovery.relist()
    engine: NaiveEngine = (
        NaiveEngine(client, clock)
        if naive
        else OptimizedEngine(client, EngineSettings(freshness_s=10.0), clock=clock)
    )
    provider = PrometheusProvider(discovery.registry, index, engine)
    resources = ResourceMetricsSource(config.resource_rules, index, engine)
    app = build_app(provider, insecure_skip_auth=True, resources=resources)
    feed = engine if isinstance(engine, OptimizedEngine) else None
    scaler = ScalerServer(ExternalScaler(provider, StreamHub(feed)), "127.0.0.1", 0, None)
    figures = Figures()
    async with TestServer(app, host="127.0.0.1") as server, ClientSession() as http:
        await scaler.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{scaler.port}")
        stub = pb_grpc.ExternalScalerStub(channel)
        ref = pb.ScaledObjectRef(name="so", namespace=NAMESPACE, scalerMetadata=KEDA_METADATA)

        async def get(path: str) -> None:
            async with http.get(server.make_url(path)) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"{path}: HTTP {resp.status}: {await resp.text()}")
                await resp.read()

        async def keda() -> None:
            await stub.IsActive(ref)
            await stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName="s0"))

        before = prometheus_queries(prometheus.url)
        for _ in range(load.syncs):
            calls = [get(CUSTOM_PATH) for _ in range(load.hpas)]
            calls += [get(f"{PODS_PATH}?labelSelector={SELECTOR}") for _ in range(load.hpas)]
            calls += [keda() for _ in range(load.scaledobjects)]
            calls += [get(PODS_PATH) for _ in range(load.tops)]
            await asyncio.gather(*calls)
            figures.hpa_custom += load.hpas
            figures.hpa_cpu += load.hpas
            figures.keda += 2 * load.scaledobjects
            figures.top += load.tops
            await until_next_sync(clock, engine)
        figures.prometheus_queries = prometheus_queries(prometheus.url) - before
        await channel.close()
        await scaler.stop(0)
    await engine.close()
    await client.close()
    return figures


async def run(load: Load, workdir: Path) -> dict[str, Any]:
    pods = pod_names(3, seed="bench-shared")
    objects = workdir / "objects.yaml"
    objects.write_text(yaml.safe_dump({"kind": "List", "items": demo_objects(pods)}))
    prometheus = await asyncio.to_thread(start_prometheus, workdir, pods)
    try:
        together = {
            mode: await run_once(prometheus, objects, load, naive=mode == "naive")
            for mode in ("naive", "surge")
        }
        alone = {
            client: await run_once(prometheus, objects, load.only(client), naive=False)
            for client in CLIENTS
        }
    finally:
        await asyncio.to_thread(prometheus.stop)
    return {"load": load.__dict__, "together": together, "alone": alone}


def render(result: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    load = result["load"]
    first = Table(
        title=f"{load['hpas']} HPAs, {load['scaledobjects']} ScaledObjects, {load['tops']} "
        f"`kubectl top` per sync, {load['syncs']} syncs of {SYNC_S:g}s: requests and "
        "Prometheus queries"
    )
    for column in (
        "engine",
        "HPA custom",
        "HPA CPU (PodMetrics)",
        "KEDA IsActive+GetMetrics",
        "kubectl top",
        "requests",
        "Prometheus queries",
        "queries per request",
    ):
        first.add_column(column, justify="right")
    for mode, f in result["together"].items():
        first.add_row(
            "naive (per request)" if mode == "naive" else "surge (shared snapshots)",
            str(f.hpa_custom),
            str(f.hpa_cpu),
            str(f.keda),
            str(f.top),
            str(f.requests),
            str(f.prometheus_queries),
            f"{f.prometheus_queries / f.requests:.3f}",
        )
    second = Table(title="surge: each client alone, then all together")
    for column in ("clients", "requests", "Prometheus queries"):
        second.add_column(column, justify="right")
    names = {"hpa": "HPAs alone", "keda": "KEDA alone", "top": "kubectl top alone"}
    for client, f in result["alone"].items():
        second.add_row(names[client], str(f.requests), str(f.prometheus_queries))
    together = result["together"]["surge"]
    summed = sum(f.prometheus_queries for f in result["alone"].values())
    second.add_row("sum of the three alone", "", str(summed))
    second.add_row("all together", str(together.requests), str(together.prometheus_queries))
    return [first, second]


def add_parser(commands: Any) -> None:
    """`python -m bench shared`'s flags."""
    s = commands.add_parser(
        "shared",
        help="HPA, KEDA and kubectl top on the same pods share Prometheus queries",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--hpas", type=int, default=50)
    s.add_argument("--scaledobjects", type=int, default=50)
    s.add_argument("--tops", type=int, default=10)
    s.add_argument("--syncs", type=int, default=4)
    s.add_argument("--workdir", type=Path, help="keep Prometheus' data here (default: temp)")


def main(args: argparse.Namespace) -> int:
    load = Load(args.hpas, args.scaledobjects, args.tops, args.syncs)
    if min(load.hpas, load.scaledobjects, load.tops) < 0 or load.syncs < 1:
        print("counts must not be negative, --syncs at least 1", file=sys.stderr)
        return 2
    from rich.console import Console

    with tempfile.TemporaryDirectory(prefix="surge-bench-shared-") as tmp:
        result = asyncio.run(run(load, args.workdir or Path(tmp)))
    console = Console()
    if console.width < 150:  # the first table has eight columns
        console = Console(width=150)
    for part in render(result):
        console.print(part)
    return 0
