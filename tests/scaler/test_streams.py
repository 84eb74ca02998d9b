"""KEDA's StreamIsActive over time, on an injected clock: an open stream keeps its
snapshot refreshed past idle_after, a closed one removes its watch and lets the snapshot
go idle; over the naive engine (no snapshots) the hub's ticker re-evaluates streams."""

from __future__ import annotations

from pathlib import Path

from adapter.engine import OptimizedEngine
from apiservice.scaler import externalscaler_pb2 as pb
from tests.scaler.conftest import FRESHNESS_S, running_scaler
from tests.scaler.test_scaler import EXTERNAL, next_push
from tests.support.clock import Clock
from tests.support.oracle import ConstantData
from tests.support.ticks import Ticks, eventually

ACTIVE = {**EXTERNAL, "targetValue": "10", "activationValue": "50"}
IDLE_AFTER_S = 60.0


def _ref() -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(name="ai-service", namespace="ai-platform", scalerMetadata=ACTIVE)


async def test_an_open_stream_keeps_its_snapshot_hot_a_closed_one_lets_it_go(
    prometheus_constant: ConstantData, constant_objects: Path, tls_pair: tuple[Path, Path, bytes]
) -> None:
    async with running_scaler(
        prometheus_constant, constant_objects, tls_pair, raw_query=False, idle_after_s=IDLE_AFTER_S
    ) as scaler:
        engine, hub = scaler.engine, scaler.server.scaler.hub
        assert isinstance(engine, OptimizedEngine)
        call = scaler.stub.StreamIsActive(_ref())
        stream = aiter(call)
        assert await next_push(stream) is True
        assert hub.streams == 1
        hits = engine.metrics.hits._value.get()
        for _ in range(20):  # 150 s, far past idle_after, with nobody but the stream asking
            scaler.clock.advance(7.5)
            assert await engine.refresh_due() == 1
            # the refresh woke the stream, which read the new snapshot: it is still wanted
            await eventually(lambda seen=hits: engine.metrics.hits._value.get() > seen)
            hits = engine.metrics.hits._value.get()
        assert scaler.proxy.total == 21
        call.cancel()
        await eventually(lambda: hub.streams == 0)  # the closed stream's watch is gone
        refreshed = 0
        for _ in range(20):
            scaler.clock.advance(7.5)
            refreshed += await engine.refresh_due()
        assert refreshed == IDLE_AFTER_S / 7.5  # up to a minute after its last read, then none


async def test_over_the_naive_engine_the_ticker_re_evaluates_every_stream(
    prometheus_constant: ConstantData, constant_objects: Path, tls_pair: tuple[Path, Path, bytes]
) -> None:
    clock = Clock()
    ticks = Ticks(clock)
    async with running_scaler(
        prometheus_constant,
        constant_objects,
        tls_pair,
        raw_query=False,
        naive=True,
        clock=clock,
        sleep=ticks,
    ) as scaler:
        hub = scaler.server.scaler.hub
        calls = [scaler.stub.StreamIsActive(_ref()) for _ in range(2)]
        streams = [aiter(call) for call in calls]
        assert [await next_push(s) for s in streams] == [True, True]
        assert scaler.proxy.total == 2  # no snapshots: each evaluation is a query
        for tick in range(1, 4):
            await ticks.step()
            await eventually(lambda n=tick: scaler.proxy.total == 2 + 2 * n)
        assert ticks.slept == [FRESHNESS_S] * 3
        # past the data's end the metric is 0: the next tick finds it and both streams push
        clock.advance(4 * 3600)
        await ticks.step()
        assert [await next_push(s) for s in streams] == [False, False]
        calls[0].cancel()
        await eventually(lambda: hub.streams == 1)
        before = scaler.proxy.total
        await ticks.step()
        await eventually(lambda: scaler.proxy.total == before + 1)  # only the open stream
