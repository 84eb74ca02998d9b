"""Faults under concurrent load, against `surge serve` over TLS: Prometheus killed, slow or
failing; the Kubernetes API gone; the serving certificate replaced mid-flight. What is
asserted is what happens (no crash, no wrong value, stale then 503, recovery), never how
fast: the waits only bound a failure so that it cannot hang the suite."""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import trustme

from surge.demo.data import ConstantModel, demo_objects
from surge.demo.localprom import LocalPrometheus
from tests.integration.conftest import quantity_milli
from tests.security.conftest import PKI, WAITING, Surge, client_context, https_get, launch
from tests.support.kube_standin import KubeStandinThread
from tests.support.oracle import ConstantData
from tests.support.promproxy import PrometheusProxy

QUERY = f"{WAITING}?labelSelector=app%3Dai-service"
MAX_STALENESS_S = 5.0


@dataclass
class Load:
    """Workers asking the same question over and over; every answer is judged."""

    surge: Surge
    expected: dict[str, int]  # pod -> milli value
    outcomes: Counter[str] = field(default_factory=Counter)
    stale_ages: list[float] = field(default_factory=list)
    log: list[tuple[float, str]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def judge(self, status: int, body: Any) -> str:
        if status != 200:
            return str(status)
        got = {i["describedObject"]["name"]: quantity_milli(i["value"]) for i in body["items"]}
        if got != self.expected:
            return "wrong"
        (stamp,) = {i["timestamp"] for i in body["items"]}
        taken = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        self.stale_ages.append((datetime.now(UTC) - taken).total_seconds())
        return "200"

    async def worker(self) -> None:
        tls = client_context(self.surge.ca)
        url = f"https://127.0.0.1:{self.surge.port}{QUERY}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            while not self.stop.is_set():
                try:
                    async with session.get(url, ssl=tls) as resp:
                        body = await resp.json(content_type=None)
                        outcome = self.judge(resp.status, body)
                except (aiohttp.ClientError, TimeoutError) as err:
                    outcome = f"error: {type(err).__name__}"
                self.outcomes[outcome] += 1
                self.log.append((time.monotonic(), outcome))
                await asyncio.sleep(0.02)

    async def until(self, outcome: str | set[str], since: float, what: str) -> float:
        """When `outcome` (or one of them) was first seen after `since`; fails after a
        generous while."""
        wanted = {outcome} if isinstance(outcome, str) else outcome
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = [t for t, o in self.log if t >= since and o in wanted]
            if seen:
                return seen[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"never saw {what}: {self.outcomes}")


def _expected(data_pods: list[str]) -> dict[str, int]:
    model = ConstantModel()
    return {p: round(model.waiting(i) * 1000) for i, p in enumerate(data_pods)}


async def test_prometheus_killed_under_load(
    tmp_path: Path,
    pki: PKI,
    own_prometheus: LocalPrometheus,
    constant_objects: Path,
    prometheus_constant: ConstantData,
    surge_processes: list[Surge],
) -> None:
    surge = await asyncio.to_thread(
        launch,
        tmp_path,
        pki,
        own_prometheus.url,
        f"--objects={constant_objects}",
        "--insecure-skip-auth",
        "--freshness=1s",
        f"--max-staleness={MAX_STALENESS_S:g}s",
        "--prometheus-timeout=1s",
    )
    surge_processes.append(surge)
    load = Load(surge, _expected(list(prometheus_constant.pods)))
    workers = [asyncio.create_task(load.worker()) for _ in range(8)]
    try:
        await load.until("200", 0, "answers while Prometheus is up")
        await asyncio.to_thread(own_prometheus.stop)
        killed = time.monotonic()
        ages_before = len(load.stale_ages)
        first_503 = await load.until("503", killed, "a 503 once the snapshot is too old")
        # Between the kill and the first 503: only stale 200s, each within the bound.
        during = [o for t, o in load.log if killed <= t < first_503]
        assert set(during) <= {"200"}, Counter(during)
        # Whole-second timestamps: an answer may look up to 1 s older than it is.
        assert max(load.stale_ages[ages_before:], default=0) <= MAX_STALENESS_S + 1 + 1
        await asyncio.sleep(1)
        after = [o for t, o in load.log if t > first_503 + 0.5]
        assert set(after) <= {"503"}, Counter(after)  # beyond the bound it holds at 503
        await asyncio.to_thread(own_prometheus.start)
        back = time.monotonic()
        recovered = await load.until("200", back, "recovery once Prometheus is back")
        assert recovered >= back
    finally:
        load.stop.set()
        await asyncio.gather(*workers)
    assert surge.process.poll() is None, surge.log.read_text()  # no crash
    assert set(load.outcomes) <= {"200", "503"}, load.outcomes  # no wrong value, no error
    assert load.outcomes["wrong"] == 0


async def test_prometheus_slow_then_failing_under_load(
    tmp_path: Path,
    pki: PKI,
    prometheus_constant: ConstantData,
    constant_objects: Path,
    surge_processes: list[Surge],
) -> None:
    proxy = PrometheusProxy(prometheus_constant.url)
    await proxy.start()
    load: Load | None = None
    workers: list[asyncio.Task[None]] = []
    try:
        surge = await asyncio.to_thread(
            launch,
            tmp_path,
            pki,
            proxy.url,
            f"--objects={constant_objects}",
            "--insecure-skip-auth",
            "--freshness=1s",
            f"--max-staleness={MAX_STALENESS_S:g}s",
            "--prometheus-timeout=1s",
        )
        surge_processes.append(surge)
        load = Load(surge, _expected(list(prometheus_constant.pods)))
        workers = [asyncio.create_task(load.worker()) for _ in range(8)]
        await load.until("200", 0, "answers through the proxy")
        proxy.mode, proxy.stall_s = "stall", 5.0  # slower than --prometheus-timeout
        slow = time.monotonic()
        await load.until("503", slow, "a 503 once a slow Prometheus left the snapshot too old")
        proxy.mode = "pass"
        await load.until("200", time.monotonic(), "recovery from slowness")
        proxy.mode = "error"
        failing = time.monotonic()
        await load.until({"500", "503"}, failing, "an error once the bound is over")
        proxy.mode = "pass"
        await load.until("200", time.monotonic(), "recovery from errors")
    finally:
        if load is not None:
            load.stop.set()
        await asyncio.gather(*workers)
        await proxy.stop()
    assert surge.process.poll() is None, surge.log.read_text()
    assert set(load.outcomes) <= {"200", "500", "503"}, load.outcomes
    assert max(load.stale_ages) <= MAX_STALENESS_S + 2


def _live(surge: Surge) -> float | None:
    text = https_get(surge.port, "/metrics", client_context(surge.ca)).text
    for line in text.splitlines():
        if line.startswith("surge_object_index_live "):
            return float(line.split()[1])
    return None


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def test_kubernetes_api_gone_serves_the_last_index(
    tmp_path: Path,
    pki: PKI,
    prometheus_constant: ConstantData,
    surge_processes: list[Surge],
) -> None:
    with KubeStandinThread() as standin:
        for obj in demo_objects(list(prometheus_constant.pods)):
            standin.add(obj)
        kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
        surge = launch(
            tmp_path,
            pki,
            prometheus_constant.url,
            f"--kubeconfig={kubeconfig}",
            "--insecure-skip-auth",
        )
        surge_processes.append(surge)
        first = surge.get(QUERY)
        assert first.status == 200, first.text
        names = sorted(i["describedObject"]["name"] for i in first.json()["items"])
        assert names == sorted(prometheus_constant.pods)
        assert _live(surge) == 1.0

        standin.stop()  # connections refused: the watch breaks, relists fail
        _eventually(lambda: _live(surge) == 0.0, "the index reported not live")
        for _ in range(5):
            reply = surge.get(QUERY)
            assert reply.status == 200
            assert sorted(i["describedObject"]["name"] for i in reply.json()["items"]) == names
        assert surge.get("/readyz").status == 200  # a transient outage does not flap readiness

        standin.start()
        _eventually(lambda: _live(surge) == 1.0, "the index live again")
        assert surge.get(QUERY).status == 200
    assert surge.stop() == 0


def _write_pair(directory: Path, ca: trustme.CA, cert: Path, key: Path) -> None:
    """Replace the pair the way a mounted Secret is updated: new files renamed into place."""
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    for target, pem in ((key, leaf.private_key_pem), (cert, leaf.cert_chain_pems[0])):
        staged = directory / f".{target.name}.new"
        pem.write_to_path(str(staged))
        os.replace(staged, target)


def _verifies(surge: Surge, ca: Path) -> bool:
    try:
        return (
            https_get(surge.port, "/healthz", ssl.create_default_context(cafile=str(ca))).status
            == 200
        )
    except ssl.SSLError:
        return False


async def test_serving_certificate_replaced_mid_flight(
    tmp_path: Path,
    pki: PKI,
    prometheus_constant: ConstantData,
    constant_objects: Path,
    surge_processes: list[Surge],
) -> None:
    certs = tmp_path / "serving"
    certs.mkdir()
    cert, key = certs / "tls.crt", certs / "tls.key"
    first_ca, second_ca = trustme.CA(), trustme.CA()
    first_ca.cert_pem.write_to_path(str(tmp_path / "first-ca.pem"))
    second_ca.cert_pem.write_to_path(str(tmp_path / "second-ca.pem"))
    _write_pair(certs, first_ca, cert, key)
    pki_first = PKI(**{**pki.__dict__, "serving_ca": tmp_path / "first-ca.pem"})
    surge = await asyncio.to_thread(
        launch,
        tmp_path,
        PKI(**{**pki_first.__dict__, "serving_cert": cert, "serving_key": key}),
        prometheus_constant.url,
        f"--objects={constant_objects}",
        "--insecure-skip-auth",
    )
    surge_processes.append(surge)
    load = Load(surge, _expected(list(prometheus_constant.pods)))
    workers = [asyncio.create_task(load.worker()) for _ in range(4)]
    try:
        await load.until("200", 0, "answers under the first certificate")
        _write_pair(certs, second_ca, cert, key)
        await asyncio.to_thread(
            _eventually,
            lambda: _verifies(surge, tmp_path / "second-ca.pem"),
            "new handshakes get the new certificate",
        )
        assert not _verifies(surge, tmp_path / "first-ca.pem")
        # A broken renewal (half-written file) is not loaded: the good pair keeps serving.
        cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        await asyncio.sleep(2.5)
        assert _verifies(surge, tmp_path / "second-ca.pem")
        switched = time.monotonic()
        # The workers' connections were opened under the first certificate: they go on.
        await load.until("200", switched, "answers on connections opened before the switch")
    finally:
        load.stop.set()
        await asyncio.gather(*workers)
    assert surge.process.poll() is None
    assert set(load.outcomes) == {"200"}, load.outcomes
    assert "serving certificate not reloaded" in surge.log.read_text()
