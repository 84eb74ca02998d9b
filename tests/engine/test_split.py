"""A batched query that fails is asked in parts (its namespaces, then the requests' own
queries), so a failure stays as small as its cause; the whole backend's failure is not
split. Real Prometheus, a recording proxy, time injected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from adapter.engine import EngineSettings, OptimizedEngine
from apiservice.errors import ServiceUnavailable
from apiservice.provider import CustomMetricInfo, GroupResource
from apiservice.selectors import EVERYTHING, parse_selector
from bench import fleet
from surge.demo.localprom import LocalPrometheus
from tests.engine.conftest import SERVICES, Stack, fleet_prometheus_of, make_stack

WAITING = CustomMetricInfo(GroupResource("", "pods"), True, "http_requests_waiting")
P99 = CustomMetricInfo(
    GroupResource("apps", "deployments"), True, "ai_llm_response_time_p99_seconds"
)
RULE = WAITING.metric
FRESHNESS_S = 10.0
MAX_STALENESS_S = 120.0


def _engine(stack: Stack) -> OptimizedEngine:
    assert isinstance(stack.engine, OptimizedEngine)
    return stack.engine


async def _ask(stack: Stack, service: fleet.Service) -> tuple[dict[str, str], float]:
    """An HPA's Pods metric: every pod's value, and the age of the answer."""
    items = await stack.provider.get_metric_by_selector(
        service.namespace, parse_selector(f"app={service.deployment}"), WAITING, EVERYTHING
    )
    ages = {round(stack.clock.now - i.timestamp.timestamp(), 3) for i in items}
    assert len(ages) == 1, "one answer, one time"
    return {i.described_object.name: str(i.value) for i in items}, ages.pop()


def _expected(service: fleet.Service) -> dict[str, str]:
    return {p: str(int(fleet.waiting(service, p))) for p in service.pods}


def _objects(folder: Path, services: list[fleet.Service]) -> Path:
    path = folder / "objects.yaml"
    path.write_text(yaml.safe_dump_all(fleet.objects(services)))
    return path


# -- a real Prometheus' own limit ------------------------------------------------------

# Three small namespaces and a big one: 20 Deployments of 3 pods in team-0009. With
# --query.max-samples=100, Prometheus (2.42, measured) refuses the batched query of the
# pods' rule (78 series) and team-0009's share of it (60 series); it answers the small
# namespaces' shares (6), every HPA's own query (3) and the Deployments' batch (26).
BIG = [
    fleet.Service(
        "team-0009", f"svc-{d:04d}", tuple(f"svc-{d:04d}-7d9f8b6c5d-{p:05d}" for p in range(3))
    )
    for d in range(20)
]
MIXED = SERVICES[:6] + BIG


@pytest.fixture(scope="module")
def limited_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    data = tmp_path_factory.mktemp("limited-prometheus")
    with fleet_prometheus_of(data, MIXED, ["--query.max-samples=100"]) as prometheus:
        yield prometheus


async def test_a_batch_over_prometheus_sample_limit_is_answered_by_its_parts(
    limited_prometheus: LocalPrometheus, fleet_files: tuple[Path, Path], tmp_path: Path
) -> None:
    rules, _ = fleet_files
    stack, proxy = await make_stack(limited_prometheus.url, rules, _objects(tmp_path, MIXED))
    try:
        for service in MIXED:
            values, age = await _ask(stack, service)
            assert values == _expected(service), service
            assert age == 0.0  # fresh, not a stale fallback
            p99 = await stack.provider.get_metric_by_name(
                service.namespace, service.deployment, P99, EVERYTHING
            )
            assert p99.value.milli_value() == int(fleet.p99(service) * 1000)
        assert [q for q in proxy.queries if "ai_llm" in q] == [
            'max(ai_llm_response_time_p99_seconds{namespace!="",deployment!=""}) '
            "by (namespace,deployment)"
        ]
        # the batch, each namespace's share once, and team-0009's HPAs one query each
        pods_queries = [q for q in proxy.queries if "http_requests_waiting" in q]
        assert len(pods_queries) == 1 + 4 + len(BIG)
        assert all(proxy.queries[q] == 1 for q in pods_queries)
        splits = _engine(stack).metrics.splits
        assert splits.labels(RULE, "namespaces", "query")._value.get() == 1
        assert splits.labels(RULE, "requests", "query")._value.get() == 1
        assert splits.labels(P99.metric, "namespaces", "query")._value.get() == 0
    finally:
        await stack.client.close()
        await proxy.stop()


# -- one namespace's share failing --------------------------------------------------------


def _team_0001(query: str) -> bool:
    """The batched query (it covers every namespace) and any query of team-0001."""
    return 'namespace!=""' in query or 'namespace="team-0001"' in query


async def test_one_failing_namespace_goes_stale_then_503_the_others_stay_fresh(
    stack: Stack,
) -> None:
    engine = _engine(stack)
    for service in SERVICES:
        assert await _ask(stack, service) == (_expected(service), 0.0)
    stack.proxy.failing = _team_0001
    failing = [s for s in SERVICES if s.namespace == "team-0001"]
    healthy = [s for s in SERVICES if s.namespace != "team-0001"]
    assert failing and healthy
    step, elapsed, stale_seen = 2.5, 0.0, 0
    while elapsed < MAX_STALENESS_S - step:
        stack.clock.advance(step)
        elapsed += step
        await engine.refresh_due()
        for service in healthy:
            values, age = await _ask(stack, service)
            assert values == _expected(service)
            assert age < FRESHNESS_S, (service, elapsed)
        for service in failing:
            values, age = await _ask(stack, service)
            assert values == _expected(service)  # the last good answer...
            assert age == elapsed  # ...saying how old it is
            stale_seen += age >= FRESHNESS_S
    assert stale_seen > 0
    stack.clock.advance(2 * step)
    await engine.refresh_due()
    for service in failing:
        with pytest.raises(ServiceUnavailable, match="max staleness 120s"):
            await _ask(stack, service)
    for service in healthy:
        assert (await _ask(stack, service))[1] < FRESHNESS_S
    assert engine.metrics.splits.labels(RULE, "namespaces", "query")._value.get() >= 1
    assert engine.metrics.splits.labels(RULE, "requests", "query")._value.get() >= 1
    # the batch itself is retried ever less often while its parts answer
    batch = 'sum(http_requests_waiting{namespace!="",pod!=""}) by (namespace,pod)'
    assert stack.proxy.queries[batch] <= 6

    stack.proxy.failing = lambda query: False  # the cause goes away
    stack.clock.advance(FRESHNESS_S / 2)
    await engine.refresh_due()
    for service in SERVICES:
        values, age = await _ask(stack, service)
        assert values == _expected(service)
        assert age < FRESHNESS_S


async def test_a_namespace_too_heavy_to_answer_in_time_is_split_like_a_query_error(
    fleet_prometheus: LocalPrometheus, fleet_files: tuple[Path, Path]
) -> None:
    """A timeout may be the backend's: the first shares asked are probes. One answers, so
    the timeout was the batch's: every healthy namespace is asked its share and stays
    fresh; the heavy one's share times out too and only it is served stale."""
    stack, proxy = await make_stack(fleet_prometheus.url, *fleet_files, timeout_s=0.5)
    engine = _engine(stack)
    try:
        for service in SERVICES:
            assert await _ask(stack, service) == (_expected(service), 0.0)
        proxy.stall_s, proxy.stalling = 2.0, _team_0001
        elapsed = 0.0
        for _ in range(6):
            stack.clock.advance(2.5)
            elapsed += 2.5
            await engine.refresh_due()
            for service in SERVICES:
                values, age = await _ask(stack, service)
                assert values == _expected(service)
                if service.namespace == "team-0001":
                    assert age == elapsed  # the batch's last answer, stale from 10 s on
                else:
                    assert age < FRESHNESS_S
        splits = engine.metrics.splits
        assert splits.labels(RULE, "namespaces", "timeout")._value.get() >= 1
        assert splits.labels(RULE, "requests", "timeout")._value.get() >= 1  # team-0001's
    finally:
        await stack.client.close()
        await proxy.stop()


# -- the whole backend failing ------------------------------------------------------------

WIDE = fleet.fleet(namespaces=12, deployments=24, pods=2)


@pytest.fixture(scope="module")
def wide_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    with fleet_prometheus_of(tmp_path_factory.mktemp("wide-prometheus"), WIDE) as prometheus:
        yield prometheus


async def _queries_during_outage(
    prometheus: LocalPrometheus, rules: Path, folder: Path, namespaces: int, outage: str
) -> int:
    """Queries reaching the proxy in 60 s of outage, every HPA asking every 2.5 s."""
    services = [s for s in WIDE if int(s.namespace.rsplit("-", 1)[1]) < namespaces]
    settings = EngineSettings(freshness_s=FRESHNESS_S, max_staleness_s=MAX_STALENESS_S)
    stack, proxy = await make_stack(
        prometheus.url, rules, _objects(folder, services), settings=settings
    )
    try:
        for service in services:
            assert (await _ask(stack, service))[0] == _expected(service)
        proxy.queries.clear()
        if outage == "refuse":
            proxy.mode = "refuse"
        else:
            proxy.failing = lambda query: True
            proxy.failure = {
                "5xx": (500, "internal", "injected failure"),
                "429": (429, "unavailable", "too many requests"),
            }[outage]
        for _ in range(24):
            stack.clock.advance(2.5)
            await stack.engine.refresh_due()  # type: ignore[attr-defined]
            for service in services:
                try:
                    values, age = await _ask(stack, service)
                except ServiceUnavailable:
                    continue
                assert values == _expected(service)
                assert age <= MAX_STALENESS_S
        return proxy.total
    finally:
        await stack.client.close()
        await proxy.stop()


@pytest.mark.parametrize("outage", ["refuse", "5xx", "429"])
async def test_with_the_backend_down_queries_do_not_grow_with_namespaces(
    wide_prometheus: LocalPrometheus, fleet_files: tuple[Path, Path], tmp_path: Path, outage: str
) -> None:
    rules, _ = fleet_files
    few = await _queries_during_outage(wide_prometheus, rules, tmp_path, 2, outage)
    many = await _queries_during_outage(wide_prometheus, rules, tmp_path, 12, outage)
    assert few == many
    assert 0 < many <= 24 * 3  # a probe or a retry per round, not one per namespace
