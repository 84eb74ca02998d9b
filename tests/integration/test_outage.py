"""A real Prometheus stopped under a running `surge serve`: stale answers within the bound,
then 503 so the HPA holds, then fresh answers once it is back. Real time, generous bounds:
this asserts what happens, never how fast."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from surge.demo.localprom import LocalPrometheus
from tests.integration.test_kubectl import Server, start_server

PATH = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ai-platform/pods/*/http_requests_waiting"


def _ask(server: Server) -> tuple[int, dict[str, object], str]:
    done = server.kubectl(PATH)
    text = done.stdout if done.returncode == 0 else done.stderr
    try:
        body = json.loads(done.stdout) if done.returncode == 0 else {}
    except ValueError:
        body = {}
    return done.returncode, body, text


def _age(body: dict[str, object]) -> float:
    stamps = {item["timestamp"] for item in body["items"]}  # type: ignore[index]
    (stamp,) = stamps
    taken = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (datetime.now(UTC) - taken).total_seconds()


def test_prometheus_stopped_then_restarted(
    tmp_path: Path, own_prometheus: LocalPrometheus, constant_objects: Path
) -> None:
    server = start_server(
        tmp_path,
        own_prometheus.url,
        constant_objects,
        "--freshness=1s",
        "--max-staleness=6s",
        "--prometheus-timeout=1s",
    )
    try:
        code, body, text = _ask(server)
        assert code == 0, text
        values = {i["describedObject"]["name"]: i["value"] for i in body["items"]}

        own_prometheus.stop()
        time.sleep(2.5)  # past freshness, within max staleness
        code, body, text = _ask(server)
        assert code == 0, text
        assert {i["describedObject"]["name"]: i["value"] for i in body["items"]} == values
        assert _age(body) >= 1.5  # the stale snapshot says how old it is

        deadline = time.monotonic() + 30
        while True:  # past max staleness: 503, so the HPA holds its scale
            code, body, text = _ask(server)
            if code != 0:
                break
            assert time.monotonic() < deadline, "never stopped serving the stale snapshot"
            assert _age(body) < 6.0 + 2.0
            time.sleep(0.5)
        assert "ServiceUnavailable" in text or "503" in text or "unable to fetch" in text
        assert server.process.poll() is None  # nothing crashed

        own_prometheus.start()
        deadline = time.monotonic() + 30
        while True:
            code, body, text = _ask(server)
            if code == 0 and _age(body) < 5:
                break
            assert time.monotonic() < deadline, f"did not recover: {text}"
            time.sleep(0.5)
        assert {i["describedObject"]["name"]: i["value"] for i in body["items"]} == values
    finally:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
