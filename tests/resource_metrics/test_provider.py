"""PodMetrics and NodeMetrics from resourceRules, in process, against the real Prometheus.

The stack is `surge serve`'s (engine, provider, object index) with a recording proxy in
front of Prometheus, to count what reaches it, and an injected clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapter.engine import EngineSettings, NaiveEngine, OptimizedEngine
from adapter.objects import StaticObjects
from adapter.prometheus import PrometheusClient, PrometheusSettings
from adapter.resources_provider import ResourceMetricsSource
from adapter.rules import load_config, parse_config
from apiservice.errors import NotFound, ServiceUnavailable
from apiservice.resource_metrics import PodMetrics
from apiservice.selectors import parse_selector
from surge.demo.localprom import LocalPrometheus
from tests.resource_metrics.conftest import RULES
from tests.resource_metrics.data import EXPECTED_NODES, EXPECTED_PODS
from tests.resource_metrics.quantities import byte_count, nanocores
from tests.support.clock import Clock
from tests.support.promproxy import PrometheusProxy

EVERYTHING = parse_selector(None)


@dataclass
class Stack:
    source: ResourceMetricsSource
    engine: NaiveEngine
    proxy: PrometheusProxy
    clock: Clock


@contextlib.asynccontextmanager
async def _stack(
    prometheus: LocalPrometheus, objects: Path, rules: Path, *, naive: bool = False
) -> AsyncIterator[Stack]:
    proxy = PrometheusProxy(prometheus.url)
    await proxy.start()
    clock = Clock()
    client = PrometheusClient(PrometheusSettings(proxy.url, timeout_s=2.0))
    engine = (
        NaiveEngine(client, clock)
        if naive
        else OptimizedEngine(client, EngineSettings(max_staleness_s=60), clock=clock)
    )
    config = load_config(str(rules))
    assert config.resource_rules is not None
    source = ResourceMetricsSource(config.resource_rules, StaticObjects.from_file(objects), engine)
    try:
        yield Stack(source, engine, proxy, clock)
    finally:
        await client.close()
        await proxy.stop()


@pytest.fixture
async def stack(resource_prometheus: LocalPrometheus, objects_file: Path) -> AsyncIterator[Stack]:
    async with _stack(resource_prometheus, objects_file, RULES) as built:
        yield built


def containers(pod: PodMetrics) -> dict[str, tuple[int, int]]:
    return {
        c.name: (nanocores(str(c.usage.cpu)), byte_count(str(c.usage.memory)))
        for c in pod.containers
    }


def oracle_pods(
    oracle: Callable[..., list[dict[str, Any]]], at: float
) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """The same data read with PromQL directly, at the engine's evaluation time."""
    params = {"time": f"{at:.3f}"}
    cpu = oracle(
        'irate(container_cpu_usage_seconds_total{container!="",pod!=""}[4m])', params=params
    )
    memory = oracle('container_memory_working_set_bytes{container!="",pod!=""}', params=params)
    out: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    for sample in cpu:
        m = sample["metric"]
        out.setdefault((m["namespace"], m["pod"]), {})[m["container"]] = (
            int(float(sample["value"][1]) * 1e9),
            0,
        )
    for sample in memory:
        m = sample["metric"]
        cores = out.setdefault((m["namespace"], m["pod"]), {}).get(m["container"], (0, 0))[0]
        out[(m["namespace"], m["pod"])][m["container"]] = (cores, int(float(sample["value"][1])))
    return out


async def test_pods_of_every_namespace_match_promql_and_the_model(
    stack: Stack, resource_oracle: Callable[..., list[dict[str, Any]]]
) -> None:
    pods = await stack.source.list_pod_metrics("", EVERYTHING)
    got = {(p.namespace, p.name): containers(p) for p in pods}
    truth = oracle_pods(resource_oracle, stack.clock.now)
    # Listed: pods that exist and have both CPU and memory series.
    assert set(got) == set(EXPECTED_PODS)
    for key, by_container in got.items():
        assert by_container == truth[key], key
        model = {c: (int(cores * 1e9), int(b)) for c, (cores, b) in EXPECTED_PODS[key].items()}
        assert by_container == model, key
    assert all(p.window == "5m0s" for p in pods)
    assert all(abs(p.timestamp.timestamp() - stack.clock.now) < 1e-3 for p in pods)


async def test_one_batched_query_per_resource_whatever_is_asked(stack: Stack) -> None:
    await stack.source.list_pod_metrics("shop", parse_selector("app=web"))
    await stack.source.list_pod_metrics("batch", EVERYTHING)
    await stack.source.list_pod_metrics("", parse_selector("tier"))
    await stack.source.get_pod_metrics("shop", "cache-1")
    assert stack.proxy.total == 2  # container CPU and memory, for every pod at once
    (cpu,) = [q for q in stack.proxy.queries if "cpu" in q]
    assert "namespace" in cpu and "pod=~" not in cpu and 'pod!=""' in cpu
    await stack.source.list_node_metrics(EVERYTHING)
    await stack.source.get_node_metrics("node-b")
    assert stack.proxy.total == 4


async def test_label_selector_and_namespace(stack: Stack) -> None:
    web = await stack.source.list_pod_metrics("shop", parse_selector("app=web"))
    assert sorted(p.name for p in web) == ["web-1", "web-2"]  # web-3 has no series
    assert all(p.labels["app"] == "web" for p in web)
    batch = await stack.source.list_pod_metrics("batch", EVERYTHING)
    assert [(p.name, [c.name for c in p.containers]) for p in batch] == [("web-1", ["main"])]
    assert await stack.source.list_pod_metrics("nowhere", EVERYTHING) == []


async def test_get_one_pod_and_the_404s(stack: Stack) -> None:
    pod = await stack.source.get_pod_metrics("shop", "cache-1")
    assert containers(pod)["exporter"] == (15_625_000, 0)  # CPU only: memory 0
    assert str(pod.containers[0].usage.cpu) == "15625u"  # as Go writes 15625000n
    cases = {
        ("shop", "web-3"): 'podmetrics.metrics.k8s.io "shop/web-3" not found',
        ("shop", "cpu-only"): 'podmetrics.metrics.k8s.io "shop/cpu-only" not found',
        ("batch", "ghost"): 'pods "ghost" not found',
        ("shop", "nope"): 'pods "nope" not found',
    }
    for (namespace, name), message in cases.items():
        with pytest.raises(NotFound) as err:
            await stack.source.get_pod_metrics(namespace, name)
        assert err.value.message == message


async def test_nodes_match_promql(
    stack: Stack, resource_oracle: Callable[..., list[dict[str, Any]]]
) -> None:
    nodes = await stack.source.list_node_metrics(EVERYTHING)
    params = {"time": f"{stack.clock.now:.3f}"}
    cpu = {
        s["metric"]["node"]: int(float(s["value"][1]) * 1e9)
        for s in resource_oracle("irate(node_cpu_usage_seconds_total[4m])", params=params)
    }
    memory = {
        s["metric"]["node"]: int(float(s["value"][1]))
        for s in resource_oracle("node_memory_working_set_bytes", params=params)
    }
    got = {n.name: (nanocores(str(n.usage.cpu)), byte_count(str(n.usage.memory))) for n in nodes}
    assert got == {name: (cpu[name], memory[name]) for name in got}
    assert got == {n: (int(c * 1e9), b) for n, (c, b) in EXPECTED_NODES.items()}
    assert [n.name for n in await stack.source.list_node_metrics(parse_selector("zone=b"))] == [
        "node-b"
    ]
    with pytest.raises(NotFound) as err:
        await stack.source.get_node_metrics("node-c")
    assert err.value.message == 'nodemetrics.metrics.k8s.io "node-c" not found'
    with pytest.raises(NotFound) as err:
        await stack.source.get_node_metrics("node-z")
    assert err.value.message == 'nodes "node-z" not found'


async def test_backend_down_is_503_once_the_snapshot_is_too_old(stack: Stack) -> None:
    before = await stack.source.list_pod_metrics("shop", EVERYTHING)
    stack.proxy.mode = "refuse"
    stack.clock.now += 30  # stale but within max staleness: the last snapshot answers
    assert await stack.source.list_pod_metrics("shop", EVERYTHING) == before
    stack.clock.now += 60
    with pytest.raises(ServiceUnavailable):
        await stack.source.list_pod_metrics("shop", EVERYTHING)
    with pytest.raises(ServiceUnavailable):
        await stack.source.list_node_metrics(EVERYTHING)  # never asked: no snapshot


RULES_READING_NAMES = """
resourceRules:
  cpu:
    containerQuery: >-
      sum by (<<.GroupBy>>) (irate(container_cpu_usage_seconds_total{<<.LabelMatchers>>,
      container!="",namespace="<<index .LabelValuesByName "namespace">>"}[4m]))
    nodeQuery: sum by (<<.GroupBy>>) (irate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[4m]))
    resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod},
      node: {resource: node}}}
    containerLabel: container
  memory:
    containerQuery: >-
      sum by (<<.GroupBy>>) (container_memory_working_set_bytes{<<.LabelMatchers>>,container!=""})
    nodeQuery: sum by (<<.GroupBy>>) (node_memory_working_set_bytes{<<.LabelMatchers>>})
    resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod},
      node: {resource: node}}}
    containerLabel: container
  window: 2m
"""


async def test_rules_that_cannot_be_widened_are_asked_per_namespace(
    resource_prometheus: LocalPrometheus, objects_file: Path, tmp_path: Path
) -> None:
    """A template reading LabelValuesByName is asked as prometheus-adapter asks it: per
    namespace, with the names in a regex; the other rule is still one widened query."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_READING_NAMES)
    parse_config(rules.read_text())  # valid for prometheus-adapter too
    async with _stack(resource_prometheus, objects_file, rules) as stack:
        pods = await stack.source.list_pod_metrics("", parse_selector("app in (web, worker)"))
        queries = list(stack.proxy.queries)
        assert len(queries) == 3  # CPU for shop and for batch, memory for every pod
        assert any('namespace="shop",pod=~"web-1|web-2|web-3"' in q for q in queries)
        assert any('namespace="batch",pod="web-1"' in q for q in queries)
        got = {(p.namespace, p.name): containers(p) for p in pods}
        model = {
            key: {c: (int(cores * 1e9), int(b)) for c, (cores, b) in EXPECTED_PODS[key].items()}
            for key in (("shop", "web-1"), ("shop", "web-2"), ("batch", "web-1"))
        }
        assert got == model
        assert pods[0].window == "2m0s"


async def test_the_naive_engine_gives_the_same_answers(
    resource_prometheus: LocalPrometheus, objects_file: Path, stack: Stack
) -> None:
    async with _stack(resource_prometheus, objects_file, RULES, naive=True) as naive:
        naive.clock.now = stack.clock.now
        got = await naive.source.list_pod_metrics("", EVERYTHING)
        want = await stack.source.list_pod_metrics("", EVERYTHING)
        assert [(p.namespace, p.name, p.containers) for p in got] == [
            (p.namespace, p.name, p.containers) for p in want
        ]
