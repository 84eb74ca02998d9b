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
    # Shared: per sync, one query per snapshot (custom metric, pod CPU, pod memory).
    assert surge.prometheus_queries == 2 * 3
    alone = result["alone"]
    assert alone["hpa"].prometheus_queries == surge.prometheus_queries
    assert alone["keda"].prometheus_queries == 2
    assert alone["top"].prometheus_queries == 2 * 2
