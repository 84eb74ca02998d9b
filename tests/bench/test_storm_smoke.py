"""`python -m bench storm` at a tiny scale: the JSON shape and the invariants, not timings.

The storm runs every mode for real (Prometheus, tests/e2e's kube-apiserver, Surge twice,
the bare handler, prometheus-adapter built by bench/build_prometheus_adapter.sh or taken
from its cache).
"""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bench import __main__ as bench_main
from bench import fleet, kube, storm

ROOT = Path(__file__).resolve().parents[2]
HPAS, METRICS, NAMESPACES, COMPRESSION = 12, 3, 3, 10.0
# A cold prometheus-adapter build takes minutes on two cores; a cached one is instant.
PA_BUILD_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("storm")
    argv = [
        sys.executable, "-m", "bench", "storm",
        "--hpas", str(HPAS), "--metrics", str(METRICS), "--namespaces", str(NAMESPACES),
        "--compress", str(COMPRESSION), "--syncs", "1", "--loop-seconds", "0.5",
        "--pa-build-timeout", str(PA_BUILD_TIMEOUT_S), "--workdir", str(workdir), "--json",
    ]  # fmt: skip
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=PA_BUILD_TIMEOUT_S + 300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout[-2000:]
    return json.loads(lines[0])


pytestmark = pytest.mark.timeout(PA_BUILD_TIMEOUT_S + 400)


def test_every_mode_reports_every_figure(result: dict[str, Any]) -> None:
    assert set(result["modes"]) == {"surge", "naive", "bare", "prometheus-adapter"}
    for mode, figures in result["modes"].items():
        assert figures is not None, f"{mode}: {result['notes'].get(mode)}"
        assert set(storm.FIGURES) <= set(figures), mode
        for name in ("p50_ms", "p99_ms", "rps", "adapter_cpu_s", "rss_mb"):
            assert isinstance(figures[name], int | float) and figures[name] >= 0, (mode, name)
        assert figures["p50_ms"] <= figures["p99_ms"]
        assert figures["rps"] > 0 and figures["rss_mb"] > 0
        assert figures["syncs"] == 1 and not figures["cut_short"]
        assert figures["requests"] == HPAS * METRICS


def test_figures_that_do_not_apply_are_null(result: dict[str, Any]) -> None:
    bare = result["modes"]["bare"]
    for name in ("queries_per_sync", "prometheus_cpu_s", "max_age_s", "freshness_s", "ready_s"):
        assert bare[name] is None, name
    for mode in ("naive", "prometheus-adapter"):
        assert result["modes"][mode]["freshness_s"] is None
        assert result["modes"][mode]["max_age_s"] is not None
    for mode in ("surge", "naive", "prometheus-adapter"):
        assert result["modes"][mode]["ready_s"] > 0, mode


def test_every_answer_is_the_fleets_value(result: dict[str, Any]) -> None:
    for mode, figures in result["modes"].items():
        assert figures["failed"] == 0, (mode, figures["problem"])
        assert figures["wrong"] == 0, (mode, figures["problem"])


def test_one_query_per_request_without_the_engine(result: dict[str, Any]) -> None:
    for mode in ("naive", "prometheus-adapter"):
        assert result["modes"][mode]["queries_per_sync"] == HPAS * METRICS, mode


def test_surge_batches_and_answers_within_the_freshness_bound(result: dict[str, Any]) -> None:
    surge = result["modes"]["surge"]
    assert 0 < surge["queries_per_sync"] < HPAS * METRICS
    assert surge["freshness_s"] == pytest.approx(storm.FRESHNESS_S / COMPRESSION)
    assert surge["too_old"] == 0, surge["problem"]
    assert 0 < surge["cache_hit_share"] <= 1
    assert surge["max_age_s"] <= surge["freshness_s"] + storm.TIMESTAMP_RESOLUTION_S


def test_run_records_the_compression_and_the_machine(result: dict[str, Any]) -> None:
    run = result["run"]
    assert run["compression"] == COMPRESSION
    assert run["sync_s"] == pytest.approx(storm.SYNC_S / COMPRESSION)
    assert run["surge_flags"]["freshness"] == "1000ms"
    assert run["requests_per_sync"] == HPAS * METRICS
    assert run["machine"]["nproc"] >= 1 and run["machine"]["cpu"]
    # tests/e2e's control plane is built wherever the test command ran: the real API.
    assert run["kube"] == "real"
    assert run["relist_s"] == pytest.approx(storm.RELIST_S / COMPRESSION)


def test_every_mode_read_the_same_kubernetes_api(result: dict[str, Any]) -> None:
    for mode, figures in result["modes"].items():
        assert isinstance(figures["kube_api_cpu_s"], int | float), mode
        # The real API's etcd is part of the run's work, reported, not "other load".
        assert isinstance(figures["etcd_cpu_s"], int | float), mode
    # PA lists pods through the API on every Pods-metric request; Surge watches.
    assert result["modes"]["prometheus-adapter"]["kube_api_cpu_s"] > 0
    pods_metrics = sum(m.kind == "pods" for m in fleet.metrics(METRICS))
    pa, surge = result["modes"]["prometheus-adapter"], result["modes"]["surge"]
    assert pa["pod_lists_per_sync"] == HPAS * pods_metrics
    assert surge["pod_lists_per_sync"] == result["modes"]["naive"]["pod_lists_per_sync"] == 0
    # PA reviews each request's own attributes; Surge's broad review covers the fleet.
    assert result["run"]["surge_reviews"] == "broad"
    assert 0 < surge["reviews_per_sync"] < pa["reviews_per_sync"]
    assert result["modes"]["bare"]["reviews_per_sync"] == 0


def test_request_counts_read_kube_apiservers_counter() -> None:
    exposition = "\n".join(
        [
            "# TYPE apiserver_request_total counter",
            'apiserver_request_total{code="201",resource="subjectaccessreviews",'
            'subresource="",verb="POST",version="v1"} 7',
            'apiserver_request_total{code="403",resource="subjectaccessreviews",'
            'subresource="",verb="POST",version="v1"} 1',
            'apiserver_request_total{code="200",resource="pods",subresource="",'
            'verb="LIST",version="v1"} 5',
            'apiserver_request_total{code="200",resource="pods",subresource="status",'
            'verb="PATCH",version="v1"} 9',
            'apiserver_request_total{code="200",resource="pods",verb="WATCH"} 2',
        ]
    )
    assert kube.request_counts(exposition) == {"reviews": 8.0, "pod_lists": 5.0}


def test_ratios_are_to_optimized_surge(result: dict[str, Any]) -> None:
    surge, naive = result["modes"]["surge"], result["modes"]["naive"]
    assert result["ratios"]["surge"]["p99_ms"] == 1
    assert result["ratios"]["naive"]["queries_per_sync"] == pytest.approx(
        naive["queries_per_sync"] / surge["queries_per_sync"], rel=1e-3
    )
    assert result["ratios"]["bare"]["queries_per_sync"] is None
    # Only figures resting on the same work: not the bare handler's CPU, nor ages.
    assert result["ratios"]["bare"]["adapter_cpu_s"] is None
    assert result["ratios"]["bare"]["rps"] is not None
    assert result["ratios"]["naive"]["max_age_s"] is None
    fewer = next(t for t in result["targets"] if t["target"].startswith("naive queries"))
    assert fewer["value"] == pytest.approx(result["ratios"]["naive"]["queries_per_sync"])


def test_tally_flags_wrong_values_and_old_answers() -> None:
    call = storm.Call("/x", {"svc-0000": "1500m"})
    tally = storm.Tally(check=True, freshness_s=2.0)
    at = 1_700_000_010.0  # 2023-11-14T22:13:30Z
    body = {"items": [{"describedObject": {"name": "svc-0000"}, "value": "1500m"}]}
    body["items"][0]["timestamp"] = "2023-11-14T22:13:28Z"  # 2 s old: within 2 s + 1 s
    tally.add(call, 200, json.dumps(body).encode(), 0.001, at)
    assert (tally.wrong, tally.too_old, tally.max_age_s) == (0, 0, 2.0)
    body["items"][0]["timestamp"] = "2023-11-14T22:13:26Z"  # 4 s old
    body["items"][0]["value"] = "1"
    tally.add(call, 200, json.dumps(body).encode(), 0.001, at)
    assert (tally.wrong, tally.too_old, tally.max_age_s) == (1, 1, 4.0)
    tally.add(call, 503, b"{}", 0.001, at)
    assert tally.failed == 1 and tally.requests == 3


def test_auto_compression_keeps_the_offered_load_bounded() -> None:
    assert storm.auto_compression(500, 2) == storm.MAX_COMPRESSION
    assert storm.auto_compression(5000, 2) == 1
    assert storm.auto_compression(300, 2) * 600 / storm.SYNC_S <= storm.AUTO_RATE


def test_rules_for_more_metrics_extend_the_fleets_rules() -> None:
    assert fleet.rules(fleet.metrics(2)) == fleet.RULES
    names = [m.name for m in fleet.metrics(METRICS)]
    assert names == ["http_requests_waiting", "ai_llm_response_time_p99_seconds",
                     "http_requests_waiting_m1"]  # fmt: skip


def test_objects_file_reads_back() -> None:
    objects = fleet.objects(fleet.fleet(2, 3, 2))
    assert kube.read_objects(kube.objects_lines(objects)) == objects


def test_targets_say_their_scale_and_do_not_apply_at_another(result: dict[str, Any]) -> None:
    assert result["targets_for"] == {"hpas": 5000, "metrics": 2, "namespaces": 500}
    assert not storm.at_target_scale(result["run"])
    assert all(t["met"] is None for t in result["targets"])
    assert any(t["value"] is not None for t in result["targets"])
    # At the targets' scale the same figures are judged.
    judged = storm.targets(result["modes"], applies=True)
    assert [t["value"] for t in judged] == [t["value"] for t in result["targets"]]
    assert all(isinstance(t["met"], bool) for t in judged)
    assert storm.at_target_scale({"hpas": 5000, "metrics": 2, "namespaces": 500, "syncs": 3})


def test_the_freshness_allowance_is_the_one_too_old_uses(result: dict[str, Any]) -> None:
    assert result["modes"]["surge"]["freshness_allowance_s"] == storm.TIMESTAMP_RESOLUTION_S
    for mode in ("naive", "bare", "prometheus-adapter"):
        assert result["modes"][mode]["freshness_allowance_s"] is None, mode


def test_the_table_shows_answers_bound_and_targets_scale(result: dict[str, Any]) -> None:
    out = io.StringIO()
    console = Console(file=out, width=250)
    for part in storm.render(result):
        console.print(part)
    text = out.getvalue()
    answers = next(line for line in text.splitlines() if "answers wrong / failed / too old" in line)
    cells = [c.strip() for c in answers.split("│")[2:6]]
    assert cells == ["0 / 0 / 0", "0 / 0 / -", "0 / 0 / -", "0 / 0 / -"]
    bound = next(line for line in text.splitlines() if "freshness bound" in line)
    assert "1 + 1" in bound  # 10 s / 10, plus the timestamps' whole second
    assert text.count("n/a at this scale") == len(result["targets"])


def test_a_wrong_answer_fails_the_run_naming_the_mode(
    result: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_main.storm_status(result, storm.MODES) == 0
    assert capsys.readouterr().err == ""
    wrong = copy.deepcopy(result)
    wrong["modes"]["naive"]["wrong"] = 2
    assert bench_main.storm_status(wrong, storm.MODES) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "naive (2 of" in err and "surge" not in err
    missing = copy.deepcopy(result)
    missing["modes"]["bare"] = None
    assert bench_main.storm_status(missing, storm.MODES) == 1
    assert bench_main.storm_status(missing, ("surge", "naive")) == 0
