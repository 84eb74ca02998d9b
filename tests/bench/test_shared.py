"""`python -m bench shared`, small: the three clients share what the HPAs already refresh."""

from __future__ import annotations

from pathlib import Path

from bench.shared import Load, run


async def test_hpa_keda_and_top_share_backend_queries(tmp_path: Path) -> None:
    result = await run(Load(hpas=4, scaledobjects=3, tops=2, syncs=2), tmp_path)
    naive, surge = result["together"]["naive"], result["together"]["surge"]
    assert naive.requests == surge.requests == 2 * (4 + 4 + 2 * 3 + 2)
    # Naive: one query per custom request, two (CPU, memory) per PodMetrics list.
    assert naive.prometheus_queries == 2 * (4 + 2 * 4 + 2 * 3 + 2 * 2)

    # Shared: one query per snapshot (custom metric, pod CPU, pod memory) on the first
    # ask, then the refresh-ahead loop's: with a 10 s freshness refreshed at 7 s, on 1.5 s
    # ticks, twice per 15 s sync.
    def per_key(keys: int) -> int:
        return keys * (1 + 2 * 2)

    assert surge.prometheus_queries == per_key(3)
    alone = result["alone"]
    assert alone["hpa"].prometheus_queries == surge.prometheus_queries
    assert alone["keda"].prometheus_queries == per_key(1)
    assert alone["top"].prometheus_queries == per_key(2)
