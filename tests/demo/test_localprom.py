"""The real Prometheus machinery: backfill, start, query at "now", restart, live scrapes."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_api_client import PrometheusConnect
from prometheus_client.parser import text_string_to_metric_families

from surge.demo.data import ConstantModel, generate_openmetrics, pod_names, start_exporter
from surge.demo.localprom import LocalPrometheus, PrometheusError, backfill
from tests.support.oracle import ConstantData


def _values(prom_url: str, query: str) -> dict[str, float]:
    """pod -> value of an instant query at the server's now."""
    result = PrometheusConnect(prom_url, disable_ssl=True).custom_query(query)
    return {r["metric"].get("pod", ""): float(r["value"][1]) for r in result}


def test_backfilled_gauge_is_current(prometheus_constant: ConstantData) -> None:
    got = _values(prometheus_constant.url, 'http_requests_waiting{namespace="ai-platform"}')
    assert got == {pod: prometheus_constant.waiting(pod) for pod in prometheus_constant.pods}


def test_backfilled_counter_rate(prometheus_constant: ConstantData) -> None:
    got = _values(prometheus_constant.url, "rate(http_requests_total[2m])")
    assert set(got) == set(prometheus_constant.pods)
    for pod, value in got.items():
        assert value == pytest.approx(prometheus_constant.request_rate(pod), rel=1e-9)


def test_backfilled_histogram_quantile(prometheus_constant: ConstantData) -> None:
    pods = prometheus_constant.pods
    query = (
        "histogram_quantile(0.99, sum by (le) "
        '(rate(ai_llm_response_time_seconds_bucket{namespace="ai-platform"}[2m])))'
    )
    got = _values(prometheus_constant.url, query)[""]
    assert got == pytest.approx(prometheus_constant.latency_quantile(0.99, pods), rel=1e-6)
    mean = _values(
        prometheus_constant.url,
        "sum(rate(ai_llm_response_time_seconds_sum[2m]))"
        " / sum(rate(ai_llm_response_time_seconds_count[2m]))",
    )[""]
    assert mean == pytest.approx(prometheus_constant.mean_latency(pods), rel=1e-6)


def test_data_stays_current_for_hours(prometheus_constant: ConstantData) -> None:
    """Instant queries two hours ahead still find the constant series (future blocks)."""
    later = datetime.now(UTC) + timedelta(hours=2)
    result = PrometheusConnect(prometheus_constant.url, disable_ssl=True).custom_query(
        "http_requests_waiting", params={"time": later.timestamp()}
    )
    assert len(result) == len(prometheus_constant.pods)


def _small_backfill(data_dir: Path, pods: list[str]) -> None:
    now = datetime.now(UTC)
    text = generate_openmetrics(
        now - timedelta(minutes=30), now + timedelta(minutes=30), 15, pods, ConstantModel()
    )
    backfill(data_dir, text)


def test_restart_keeps_port_and_data(tmp_path: Path) -> None:
    pods = pod_names(2, seed="restart")
    _small_backfill(tmp_path, pods)
    with LocalPrometheus(tmp_path) as prom:
        url = prom.url
        before = _values(url, "http_requests_waiting")
        prom.restart()
        assert prom.url == url
        assert _values(url, "http_requests_waiting") == before
    assert before == {pods[0]: 10.0, pods[1]: 20.0}


def test_stop_then_start_again(tmp_path: Path) -> None:
    pods = pod_names(1, seed="again")
    _small_backfill(tmp_path, pods)
    prom = LocalPrometheus(tmp_path)
    prom.start()
    prom.stop()
    assert not prom.running
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2)
    prom.start()
    try:
        assert _values(prom.url, "http_requests_waiting") == {pods[0]: 10.0}
    finally:
        prom.stop()


def test_backfill_reports_promtool_error(tmp_path: Path) -> None:
    with pytest.raises(PrometheusError, match="promtool could not backfill") as caught:
        backfill(tmp_path / "data", "this is not openmetrics\n")
    assert 'parsing "is": invalid syntax' in str(caught.value)


def test_backfill_from_a_file(tmp_path: Path) -> None:
    pods = pod_names(1, seed="file")
    now = datetime.now(UTC)
    source = tmp_path / "samples.om"
    source.write_text(
        generate_openmetrics(now - timedelta(minutes=5), now + timedelta(minutes=5), 15, pods)
    )
    backfill(tmp_path / "data", source)
    assert any(p.is_dir() and p.name != "wal" for p in (tmp_path / "data").iterdir())


def test_missing_binary_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrometheusError) as caught:
        LocalPrometheus(tmp_path / "data").start()
    message = str(caught.value)
    assert message.startswith("prometheus not found on PATH")
    assert "apt-get install prometheus" in message and "\n" not in message
    with pytest.raises(PrometheusError, match=r"^promtool not found on PATH"):
        backfill(tmp_path / "data", "# EOF\n")


def test_start_failure_quotes_prometheus_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        prom = LocalPrometheus(tmp_path, port=taken.getsockname()[1])
        with pytest.raises(PrometheusError, match="exited with code") as caught:
            prom.start()
    assert "address already in use" in str(caught.value)
    assert not prom.running


def _prometheus_counter(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


async def test_live_scrapes_land_next_to_future_blocks(tmp_path: Path) -> None:
    """The demo's setup: history (and future) backfilled, the present scraped from the
    exporter. Without the out-of-order window every scraped sample would be refused."""
    pods = pod_names(2, seed="live")
    model = ConstantModel()
    now = datetime.now(UTC)
    backfill(
        tmp_path,
        generate_openmetrics(now - timedelta(hours=1), now + timedelta(hours=1), 15, pods, model),
    )
    # Backfilled samples are 15 s apart: more than one sample in 4 s comes from scrapes.
    dense = 'count_over_time(http_requests_waiting{job="ai-service"}[4s]) >= 2'
    runner = await start_exporter("127.0.0.1", 0, pods, model=model)
    try:
        target = f"127.0.0.1:{runner.addresses[0][1]}"
        async with LocalPrometheus(tmp_path, scrape_targets=[target], scrape_interval="1s") as prom:
            client = PrometheusConnect(prom.url, disable_ssl=True)
            deadline = asyncio.get_running_loop().time() + 60
            while asyncio.get_running_loop().time() < deadline:
                if len(await asyncio.to_thread(client.custom_query, dense)) == len(pods):
                    break
                await asyncio.sleep(0.5)
            scraped = await asyncio.to_thread(client.custom_query, dense)
            refused = await asyncio.to_thread(
                _prometheus_counter,
                prom.url,
                "prometheus_target_scrapes_sample_out_of_bounds_total",
            )
    finally:
        await runner.cleanup()
    assert {r["metric"]["pod"] for r in scraped} == set(pods)
    assert refused == 0
