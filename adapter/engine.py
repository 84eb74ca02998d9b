"""The hot path between a metric request and Prometheus.

This is the naive engine: one backend query per request, as prometheus-adapter does.
The optimized engine (coalescing, batching, snapshots) plugs in behind the same call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from adapter.prometheus import PrometheusClient, QueryResult


@dataclass(frozen=True)
class Answer:
    """A query result and the time it describes; items carry this timestamp."""

    result: QueryResult
    evaluated_at: float


class NaiveEngine:
    def __init__(self, prometheus: PrometheusClient, clock: Callable[[], float] = time.time):
        self.prometheus = prometheus
        self.clock = clock

    async def query(self, promql: str) -> Answer:
        now = self.clock()
        return Answer(await self.prometheus.query(promql, at=now), now)
