"""The hot path against a real Prometheus, counted by a recording proxy; time is injected."""

from __future__ import annotations

import asyncio

import pytest

from adapter.engine import EngineSettings, OptimizedEngine
from adapter.resources import ResourceMapper
from apiservice.errors import InternalError, NotFound, ServiceUnavailable
from apiservice.provider import CustomMetricInfo, GroupResource
from apiservice.selectors import EVERYTHING, parse_selector
from bench import fleet
from tests.engine.conftest import SERVICES, Stack, make_stack

WAITING = CustomMetricInfo(GroupResource("", "pods"), True, "http_requests_waiting")
P99 = CustomMetricInfo(
    GroupResource("apps", "deployments"), True, "ai_llm_response_time_p99_seconds"
)


async def _waiting(stack: Stack, service: fleet.Service) -> dict[str, str]:
    items = await stack.provider.get_metric_by_selector(
        service.namespace, parse_selector(f"app={service.deployment}"), WAITING, EVERYTHING
    )
    return {i.described_object.name: str(i.value) for i in items}


def _expected(service: fleet.Service) -> dict[str, str]:
    return {p: str(int(fleet.waiting(service, p))) for p in service.pods}


async def test_a_burst_across_namespaces_costs_one_query(stack: Stack) -> None:
    answers = await asyncio.gather(*(_waiting(stack, s) for s in SERVICES for _ in range(20)))
    assert stack.proxy.total == 1
    for i, service in enumerate(s for s in SERVICES for _ in range(20)):
        assert answers[i] == _expected(service)
    engine = stack.engine
    assert isinstance(engine, OptimizedEngine)
    assert engine.metrics.coalesced._value.get() == len(SERVICES) * 20 - 1


async def test_identical_queries_in_flight_run_once(stack: Stack) -> None:
    query = 'max(ai_llm_response_time_p99_seconds{namespace="team-0001"}) by (deployment)'
    answers = await asyncio.gather(*(stack.engine.query(query) for _ in range(50)))
    assert stack.proxy.queries[query] == 1
    assert len({id(a) for a in answers}) == 1


async def test_batched_answers_equal_per_request_answers(stack: Stack, naive_stack: Stack) -> None:
    for service in SERVICES:
        assert await _waiting(stack, service) == await _waiting(naive_stack, service)
        for pod in service.pods:
            a = await stack.provider.get_metric_by_name(service.namespace, pod, WAITING, EVERYTHING)
            b = await naive_stack.provider.get_metric_by_name(
                service.namespace, pod, WAITING, EVERYTHING
            )
            assert (a.described_object, str(a.value)) == (b.described_object, str(b.value))
        a = await stack.provider.get_metric_by_name(
            service.namespace, service.deployment, P99, EVERYTHING
        )
        b = await naive_stack.provider.get_metric_by_name(
            service.namespace, service.deployment, P99, EVERYTHING
        )
        assert str(a.value) == str(b.value)
        assert a.value.milli_value() == int(fleet.p99(service) * 1000)
    # all of it cost the optimized engine one query per rule; naive one per request
    assert stack.proxy.total == 2
    assert naive_stack.proxy.total == len(SERVICES) * (1 + 3 + 1)


async def test_snapshots_are_served_while_fresh_with_their_own_timestamp(stack: Stack) -> None:
    service = SERVICES[0]
    first = await stack.provider.get_metric_by_selector(
        service.namespace, EVERYTHING, WAITING, EVERYTHING
    )
    taken = stack.clock.now
    stack.clock.advance(9.0)
    again = await stack.provider.get_metric_by_selector(
        service.namespace, EVERYTHING, WAITING, EVERYTHING
    )
    assert stack.proxy.total == 1
    assert {i.timestamp for i in first} == {i.timestamp for i in again}
    assert again[0].timestamp.timestamp() == pytest.approx(taken)
    stack.clock.advance(1.5)  # now older than the 10 s freshness bound
    third = await stack.provider.get_metric_by_selector(
        service.namespace, EVERYTHING, WAITING, EVERYTHING
    )
    assert stack.proxy.total == 2
    assert third[0].timestamp.timestamp() == pytest.approx(stack.clock.now)


async def test_refresh_ahead_keeps_hot_keys_fresh(stack: Stack) -> None:
    engine = stack.engine
    assert isinstance(engine, OptimizedEngine)
    service = SERVICES[1]
    await _waiting(stack, service)
    stack.clock.advance(5.0)
    assert await engine.refresh_due() == 0  # not yet 70 % of the freshness bound
    stack.clock.advance(2.5)
    assert await engine.refresh_due() == 1
    assert stack.proxy.total == 2
    refreshed_at = stack.clock.now
    stack.clock.advance(6.0)  # 13.5 s after the first answer: the refreshed one is served
    items = await stack.provider.get_metric_by_selector(
        service.namespace, EVERYTHING, WAITING, EVERYTHING
    )
    assert stack.proxy.total == 2
    assert items[0].timestamp.timestamp() == pytest.approx(refreshed_at)
    # a key nobody asks for stops being refreshed
    stack.clock.advance(61.0)
    assert await engine.refresh_due() == 0


async def test_stale_within_the_bound_then_503_then_recovery(stack: Stack) -> None:
    engine = stack.engine
    assert isinstance(engine, OptimizedEngine)
    service = SERVICES[2]
    assert await _waiting(stack, service) == _expected(service)
    taken = stack.clock.now
    stack.proxy.mode = "refuse"
    stack.clock.advance(30.0)
    items = await stack.provider.get_metric_by_selector(
        service.namespace, EVERYTHING, WAITING, EVERYTHING
    )
    assert items[0].timestamp.timestamp() == pytest.approx(taken)  # stale, and says so
    assert engine.metrics.stale.labels("http_requests_waiting")._value.get() == 1
    calls = stack.proxy.total
    stack.clock.advance(2.0)  # failed recently: answered stale without waiting on the backend
    assert await _waiting(stack, service) == _expected(service)
    assert stack.proxy.total == calls
    stack.clock.advance(4.0)  # the refresher retries a failing key within the period
    assert await engine.refresh_due() == 1
    stack.clock.advance(100.0)  # now older than max staleness (120 s)
    with pytest.raises(ServiceUnavailable, match="max staleness 120s"):
        await _waiting(stack, service)
    stack.proxy.mode = "pass"
    stack.clock.advance(6.0)
    assert await engine.refresh_due() == 1
    items = await stack.provider.get_metric_by_selector(
        service.namespace, EVERYTHING, WAITING, EVERYTHING
    )
    assert items[0].timestamp.timestamp() >= stack.clock.now - 6.0


async def test_no_snapshot_and_backend_down_is_503(stack: Stack) -> None:
    stack.proxy.mode = "refuse"
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        await _waiting(stack, SERVICES[0])


async def test_backend_error_without_snapshot_is_500(stack: Stack) -> None:
    stack.proxy.mode = "error"
    with pytest.raises(InternalError, match="unable to fetch metrics"):
        await _waiting(stack, SERVICES[0])


async def test_one_failing_rule_never_fails_another(stack: Stack) -> None:
    service = SERVICES[0]
    bad = "sum(rate(http_requests_waiting[5m] offset -))"  # Prometheus answers 400
    results = await asyncio.gather(
        stack.engine.query(bad, "broken"), _waiting(stack, service), return_exceptions=True
    )
    assert isinstance(results[0], Exception)
    assert results[1] == _expected(service)


@pytest.mark.parametrize("limit", [1, 2])
async def test_too_many_series_falls_back_to_split_per_request_queries(
    fleet_prometheus, fleet_files, limit: int
) -> None:
    settings = EngineSettings(max_series_per_query=limit, max_query_length=90)
    stack, proxy = await make_stack(fleet_prometheus.url, *fleet_files, settings=settings)
    try:
        service = SERVICES[3]
        assert await _waiting(stack, service) == _expected(service)
        engine = stack.engine
        assert isinstance(engine, OptimizedEngine)
        assert (
            engine.metrics.fallback.labels("http_requests_waiting", "too-many-series")._value.get()
            == 1
        )
        per_request = [q for q in proxy.queries if "pod=" in q]
        assert len(per_request) >= 2  # the three names did not fit in one 90-character query
        assert all(len(q) <= 90 for q in per_request)
    finally:
        await stack.client.close()
        await proxy.stop()


async def test_series_list_failed_at_start_is_503_then_retried_soon(
    fleet_prometheus, fleet_files
) -> None:
    from adapter.discovery import SeriesDiscovery
    from adapter.objects import StaticObjects
    from adapter.rules import load_config

    stack, proxy = await make_stack(fleet_prometheus.url, *fleet_files)
    try:
        rules, objects = fleet_files
        index = StaticObjects.from_file(objects)
        discovery = SeriesDiscovery(
            load_config(rules), stack.client, lambda: index.mapper, max_age_s=7200
        )
        discovery.RETRY_S = 0.05
        stack.provider.registry = discovery.registry
        proxy.mode = "refuse"
        with pytest.raises(ServiceUnavailable):
            await discovery.relist()
        with pytest.raises(ServiceUnavailable, match="series list is not loaded yet"):
            await _waiting(stack, SERVICES[0])
        proxy.mode = "pass"
        runner = asyncio.create_task(discovery.run())
        try:
            for _ in range(600):  # up to 30 s
                if discovery.registry.listed_at is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            runner.cancel()
        assert await _waiting(stack, SERVICES[0]) == _expected(SERVICES[0])
    finally:
        await stack.client.close()
        await proxy.stop()


async def test_a_metric_found_once_follows_the_series_list_and_the_resources(
    stack: Stack,
) -> None:
    service = SERVICES[0]
    assert await _waiting(stack, service) == _expected(service)
    registry, objects = stack.provider.registry, stack.provider.objects
    served, mapper = registry.custom, objects.mapper
    # A relist that no longer lists the metric (the registry is replaced whole): 404.
    registry.custom = {k: v for k, v in served.items() if k.metric != WAITING.metric}
    with pytest.raises(NotFound):
        await _waiting(stack, service)
    registry.custom = served
    assert await _waiting(stack, service) == _expected(service)
    # Resources discovered again without pods: not served either.
    objects.mapper = ResourceMapper(r for r in mapper if r.resource != "pods")
    with pytest.raises(InternalError):  # as PA: listing an unknown resource fails first
        await _waiting(stack, service)
    with pytest.raises(NotFound):
        await stack.provider.get_metric_by_name(service.namespace, "x", WAITING, EVERYTHING)
