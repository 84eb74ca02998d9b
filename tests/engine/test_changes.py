"""Which engine announces its refreshes (KEDA's streams then wake on them) and which does not
(they poll): the engine says so itself, through the Engine protocol."""

from __future__ import annotations

from adapter.engine import NaiveEngine, OptimizedEngine
from adapter.engine_protocol import Engine
from adapter.prometheus import PrometheusClient, PrometheusSettings


async def test_only_the_engine_with_snapshots_announces_refreshes() -> None:
    client = PrometheusClient(PrometheusSettings(url="http://127.0.0.1:1"))
    naive: Engine = NaiveEngine(client)
    optimized: Engine = OptimizedEngine(client)
    try:
        assert naive.changes is None
        assert optimized.changes is optimized  # its subscribe() feeds the streams
    finally:
        await client.close()
