"""The engine's timed paths on an injected clock: the refresh-ahead loop itself, what an
idle entry keeps through an outage, and the time of an answer assembled from parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.engine import EngineSettings, OptimizedEngine
from apiservice.errors import ServiceUnavailable
from surge.demo.localprom import LocalPrometheus
from tests.engine.conftest import SERVICES, Stack, make_stack
from tests.engine.test_split import _ask, _expected
from tests.support.clock import Clock
from tests.support.ticks import Ticks


def _engine(stack: Stack) -> OptimizedEngine:
    assert isinstance(stack.engine, OptimizedEngine)
    return stack.engine


async def test_the_refresh_loop_refreshes_hot_snapshots_on_its_own(
    fleet_prometheus: LocalPrometheus, fleet_files: tuple[Path, Path]
) -> None:
    clock = Clock()
    ticks = Ticks(clock)
    stack, proxy = await make_stack(fleet_prometheus.url, *fleet_files, clock=clock, sleep=ticks)
    engine = _engine(stack)
    service = SERVICES[0]
    try:
        asked_at = clock.now
        assert await _ask(stack, service) == (_expected(service), 0.0)
        await engine.start()
        await ticks.step(4)  # 6 s: not yet 70 % of the 10 s freshness
        assert proxy.total == 1
        await ticks.step()  # 7.5 s
        assert proxy.total == 2
        await ticks.step(15)  # 30 s
        # half the time between refresh-ahead (70 %) and expiry
        assert ticks.slept == pytest.approx([1.5] * 20)
        assert proxy.total == 5  # at 7.5, 15, 22.5 and 30 s, with nobody asking
        # ... so a request finds the snapshot of the last round, and sends nothing
        assert await _ask(stack, service) == (_expected(service), 0.0)
        assert proxy.total == 5
        # nobody asks any more: refreshed until a minute after the last request, then not
        await ticks.step(60)
        assert clock.now - asked_at == pytest.approx(120.0)
        assert proxy.total == 5 + 8  # at 37.5, 45, ... 90 s
    finally:
        await engine.close()
        await stack.client.close()
        await proxy.stop()


async def test_an_outage_after_a_quiet_spell_is_answered_stale_within_the_bound(
    stack: Stack,
) -> None:
    """Decided rule: an entry nobody asks for stops being refreshed after idle_after (60 s)
    but is kept while its snapshot could be served (max staleness, 120 s): an HPA that
    comes back during an outage gets the last answer, as one that never left does."""
    engine, service = _engine(stack), SERVICES[1]
    assert await _ask(stack, service) == (_expected(service), 0.0)
    for _ in range(40):  # 100 s of quiet: refreshed up to 60 s, then left alone
        stack.clock.advance(2.5)
        await engine.refresh_due()
    assert stack.proxy.total == 1 + 8
    stack.proxy.mode = "refuse"
    for _ in range(12):  # 30 s more of quiet, now with Prometheus down
        stack.clock.advance(2.5)
        await engine.refresh_due()
    assert stack.proxy.total == 1 + 8  # idle: nothing was retried
    values, age = await _ask(stack, service)  # 130 s after the last request
    assert values == _expected(service)
    assert age == 70.0  # the refresh at 60 s
    # asked again, it is retried, and served until its snapshot is too old to serve
    stack.clock.advance(49.0)
    await engine.refresh_due()
    assert (await _ask(stack, service))[1] == 119.0
    stack.clock.advance(1.0)
    with pytest.raises(ServiceUnavailable, match="max staleness 120s"):
        await _ask(stack, service)
    # quiet again: past idle_after and max staleness, the entry is gone, and so is the
    # stale answer: what is left is the outage itself
    for _ in range(30):
        stack.clock.advance(2.5)
        await engine.refresh_due()
    assert engine.due(stack.clock.now) == []
    with pytest.raises(ServiceUnavailable, match="unreachable") as err:
        await _ask(stack, service)
    assert "max staleness" not in str(err.value)


async def test_an_answer_from_several_per_request_queries_is_as_old_as_the_oldest(
    fleet_prometheus: LocalPrometheus, fleet_files: tuple[Path, Path]
) -> None:
    """The batch and the namespace's share fail; the request's own query is split in
    three by --max-query-length; one of those fails at its refresh: the answer is assembled
    from two fresh parts and a stale one, and carries the stale one's time."""
    settings = EngineSettings(max_query_length=90)
    stack, proxy = await make_stack(fleet_prometheus.url, *fleet_files, settings=settings)
    engine, service = _engine(stack), SERVICES[2]
    try:
        proxy.failing = lambda query: 'pod!=""' in query  # the batch and every share
        assert await _ask(stack, service) == (_expected(service), 0.0)
        own = [q for q in proxy.queries if 'pod!=""' not in q]
        assert len(own) == len(service.pods)  # one name per query fits in 90 characters
        first = service.pods[0]
        proxy.failing = lambda query: 'pod!=""' in query or first in query
        stack.clock.advance(7.5)
        await engine.refresh_due()
        stack.clock.advance(3.5)  # the first pod's snapshot is 11 s old, the others 3.5 s
        values, age = await _ask(stack, service)
        assert values == _expected(service)
        assert age == 11.0
        assert engine.metrics.stale.labels("http_requests_waiting")._value.get() == 1
        # the failed part is retried within half the freshness period: all fresh again
        proxy.failing = lambda query: 'pod!=""' in query
        stack.clock.advance(5.0)
        await engine.refresh_due()
        assert await _ask(stack, service) == (_expected(service), 0.0)
    finally:
        await stack.client.close()
        await proxy.stop()
