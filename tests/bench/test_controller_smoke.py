"""`python -m bench controller` at a tiny scale: the real kube-controller-manager drives a
handful of HPAs through the aggregator, first to Surge, then to prometheus-adapter; the
JSON's shape and invariants, not timings.

It needs tests/e2e's control plane (`bash tests/e2e/build.sh`) and prometheus-adapter
(`bench/build_prometheus_adapter.sh`), which .ci/run builds before pytest; without them
the command exits 1 naming the build to run, and this test fails with that message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bench import controller, fleet

ROOT = Path(__file__).resolve().parents[2]
HPAS, NAMESPACES, COMPRESSION, SYNCS = 6, 2, 5.0, 2
PA_BUILD_TIMEOUT_S = 900
# Metric requests that may straddle a window's two ends: 5 workers x 2 metrics x 2 ends.
IN_FLIGHT = 20

pytestmark = pytest.mark.timeout(PA_BUILD_TIMEOUT_S + 400)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    argv = [
        sys.executable, "-m", "bench", "controller",
        "--hpas", str(HPAS), "--namespaces", str(NAMESPACES),
        "--compress", str(COMPRESSION), "--syncs", str(SYNCS),
        # the reverse of the default order: the controller starts with prometheus-adapter
        "--adapters", "prometheus-adapter,surge",
        "--pa-build-timeout", str(PA_BUILD_TIMEOUT_S),
        "--workdir", str(tmp_path_factory.mktemp("controller")), "--json",
    ]  # fmt: skip
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=PA_BUILD_TIMEOUT_S + 300
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout[-2000:]
    return dict(json.loads(lines[0]))


def test_every_hpa_is_active_with_either_adapter(result: dict[str, Any]) -> None:
    for name in controller.ADAPTERS:
        figures = result["adapters"][name]
        assert figures is not None, f"{name}: {result['notes'].get(name)}"
        assert figures["warmed_up"], (name, figures["problem"])
        assert figures["hpas"] == HPAS
        assert figures["hpas_active"] == HPAS, (name, figures["problem"])
        assert figures["hpas_right_values"] == HPAS, (name, figures["problem"])
        assert figures["reconciliation_errors"] == 0 and figures["computation_errors"] == 0
        assert set(figures["computation_by_type"]) == {"Pods", "Object"}


def test_the_controllers_own_metrics_are_read(result: dict[str, Any]) -> None:
    for name in controller.ADAPTERS:
        figures = result["adapters"][name]
        # Each reconciliation computes the HPA's 2 metrics; at each end of the window the
        # 5 workers may hold a reconciliation whose computations fall on the other side.
        assert figures["reconciliations_per_sync"] > 0, name
        assert figures["computations_per_sync"] == pytest.approx(
            2 * figures["reconciliations_per_sync"], abs=IN_FLIGHT / figures["syncs"] + 0.2
        )
        # (a p99 interpolated in its bucket may fall just below the mean: not compared)
        for key in ("reconcile_mean_ms", "reconcile_p99_ms", "computation_mean_ms"):
            assert figures[key] > 0, (name, key)
        assert figures["queue_depth_max"] is not None and figures["queue_depth_max"] >= 0
        for key in (
            "adapter_cpu_s",
            "rss_mb",
            "prometheus_cpu_s",
            "kube_apiserver_cpu_s",
            "etcd_cpu_s",
            "controller_cpu_s",
        ):
            assert figures[key] > 0, (name, key)


def test_surge_batches_where_prometheus_adapter_queries_per_request(
    result: dict[str, Any],
) -> None:
    surge, pa = result["adapters"]["surge"], result["adapters"]["prometheus-adapter"]
    # prometheus-adapter: one query per metric request the controller makes.
    assert pa["queries_per_sync"] == pytest.approx(
        pa["computations_per_sync"], abs=IN_FLIGHT / pa["syncs"] + 0.2
    )
    assert 0 < surge["queries_per_sync"] < pa["queries_per_sync"]
    # prometheus-adapter lists the pods of each Pods-metric request through kube-apiserver;
    # Surge selects them from its watched index.
    pods_per_sync = pa["computation_by_type"]["Pods"]["count"] / pa["syncs"]
    assert pa["pod_lists_per_sync"] == pytest.approx(pods_per_sync, abs=IN_FLIGHT / pa["syncs"])
    assert surge["pod_lists_per_sync"] == 0
    # Each (namespace, object, metric) is a review key of prometheus-adapter's, expired by
    # the next sync; Surge's broad reviews cover them all with one per resource and metric.
    assert 0 < surge["reviews_per_sync"] < pa["reviews_per_sync"]
    assert result["ratios"]["queries_per_sync"] == pytest.approx(
        pa["queries_per_sync"] / surge["queries_per_sync"], rel=1e-2
    )


def test_the_table_has_a_figure_in_every_cell(result: dict[str, Any]) -> None:
    console = Console(record=True, width=200)
    for part in controller.render(result):
        console.print(part)
    text = console.export_text()
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(rows) == len(controller.ROWS)
    for row in rows:
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert all(c not in ("", "-", "n/a") for c in cells[1:3]), row
    assert result["run"]["sync_s"] == pytest.approx(15 / COMPRESSION)
    assert result["run"]["order"] == ["prometheus-adapter", "surge"]


def test_each_hpa_targets_the_fleets_values() -> None:
    service = fleet.fleet(1, 1)[0]
    hpa = controller.hpa_object(service, fleet.metrics(2))
    pods, obj = hpa["spec"]["metrics"]
    mean = sum(fleet.waiting(service, p) for p in service.pods) / 2
    assert pods["pods"]["target"]["averageValue"] == f"{round(mean * 1000)}m"
    assert obj["object"]["describedObject"]["name"] == service.deployment
    assert hpa["spec"]["scaleTargetRef"]["name"] == service.deployment


def test_histogram_quantiles_interpolate_as_prometheus_does() -> None:
    h = controller.Histogram({0.01: 50.0, 0.02: 90.0, float("inf"): 100.0}, 1.5, 100.0)
    assert h.quantile(0.5) == pytest.approx(0.01)
    assert h.quantile(0.7) == pytest.approx(0.015)
    assert h.quantile(0.99) == pytest.approx(0.02)  # in +Inf: the highest finite bound
    assert h.mean() == pytest.approx(0.015)
    earlier = controller.Histogram({0.01: 40.0, 0.02: 40.0, float("inf"): 40.0}, 0.3, 40.0)
    later = h.minus(earlier)
    assert later.count == 60 and later.quantile(0.5) == pytest.approx(0.015)
    assert controller.Histogram({}, 0.0, 0.0).quantile(0.5) is None
    assert h.beyond(0.99) and not h.beyond(0.9)  # the p99 is past 0.02: a floor


def test_scrape_sums_labels_and_counts_errors() -> None:
    total = controller.RECONCILIATIONS
    text = (
        f"# TYPE {total} counter\n"
        f'{total}{{action="none",error="none"}} 7\n'
        f'{total}{{action="none",error="internal"}} 2\n'
        "# TYPE workqueue_depth gauge\n"
        'workqueue_depth{name="horizontalpodautoscaler"} 3\n'
        'workqueue_depth{name="deployment"} 9\n'
    )
    scrape = controller.Scrape.parse(text)
    assert scrape.total(controller.RECONCILIATIONS) == 9
    assert scrape.errors(controller.RECONCILIATIONS) == 2
    assert scrape.total("workqueue_depth", name=controller.QUEUE) == 3
