"""The HPA storm: N HPAs x M metrics over K namespaces, as the HPA controller asks for them.

One run starts a real Prometheus holding the fleet's series (bench/fleet.py), then, one
after the other, each server under test on loopback HTTPS, and drives the same storm at
each: Surge (optimized engine), Surge `--engine=naive`, the bare handler (bench/bare.py,
the upper bound of a Python server here) and, when it can be built, prometheus-adapter
(PA) v0.12.0 with the same config. Every server lists its objects from, and authorizes
requests through, the same Kubernetes API (bench/kube.py): a real kube-apiserver of
tests/e2e's build, or the Python stand-in where that is not built.

Each mode has three phases:

- warm-up: one sync of every HPA, not measured;
- sync phase: `syncs` syncs driven as the HPA controller drives them: `workers` workers
  (kube-controller-manager's --concurrent-horizontal-pod-autoscaler-syncs, 5) take HPAs
  from a queue, ask each HPA's metrics one after the other, and re-queue the HPA one sync
  period after it was handled. Gives Prometheus queries per sync (Prometheus' own
  prometheus_http_requests_total{handler="/api/v1/query"}), latencies, CPU per sync,
  and the age of every answer (each item's timestamp against the time it arrived);
- closed loop: `concurrency` connections asking as fast as they can for a few seconds,
  for requests per second.

Time may be compressed by a factor C: the sync period is 15 s / C, and Surge's
--freshness, --max-staleness and --refresh-idle-after (10 s, 2 m, 1 m by default) and
both servers' relist interval (10 m) and SubjectAccessReview cache (10 s) are divided by
C too, so the ratios between them stay those of a real cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import resource
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import trustme
import yarl

from apiservice.quantity import Quantity
from bench import fleet
from bench.kube import API_COUNTS, CLIENT_USER, FleetKube, fleet_kube, objects_lines
from surge.certs import self_signed
from surge.demo.localprom import LOOPBACK, LocalPrometheus, backfill, free_port

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "bench" / "build_prometheus_adapter.sh"
MODES = ("surge", "naive", "bare", "prometheus-adapter")
# Surge's SubjectAccessReviews: `broad` (its default: an allowed review for all namespaces
# and names covers every object) or `exact` (one per request's own attributes, as
# prometheus-adapter's k8s.io/apiserver asks them).
SURGE_REVIEWS = ("broad", "exact")
FIGURES = (
    "queries_per_sync",
    "p50_ms",
    "p99_ms",
    "rps",
    "adapter_cpu_s",
    "prometheus_cpu_s",
    "kube_api_cpu_s",
    "rss_mb",
    "max_age_s",
    "freshness_s",
    "ready_s",
)
# Ratios to Surge only for figures that measure the same work: not the oldest answer or
# the freshness bound (properties, not costs); for the bare handler, which neither asks
# Prometheus nor reads objects, only its latency and throughput (the bound).
NO_RATIO = frozenset({"max_age_s", "freshness_s", "ready_s"})
BARE_RATIOS = frozenset({"p50_ms", "p99_ms", "rps"})

# A real cluster's clock: the HPA controller's sync period and Surge's defaults.
SYNC_S = 15.0
FRESHNESS_S = 10.0
MAX_STALENESS_S = 120.0
IDLE_AFTER_S = 60.0
# Both servers: series relisted every 10 m (both defaults), listed back 2 h.
RELIST_S = 600.0
# Both servers' SubjectAccessReview cache (both defaults: allowed and denied answers 10 s).
AUTH_CACHE_S = 10.0
METRICS_MAX_AGE = "2h"
HPA_WORKERS = 5  # kube-controller-manager --concurrent-horizontal-pod-autoscaler-syncs
MAX_COMPRESSION = 5
# `--compress auto` keeps the offered load at or under this (requests per second).
AUTO_RATE = 400.0
# Answers carry RFC 3339 timestamps with whole seconds: an age is known to within this,
# so an answer is too old only past the freshness bound plus this allowance.
TIMESTAMP_RESOLUTION_S = 1.0
# The scale the issue's targets were set for (#19: 5,000 x 2 x 500); elsewhere they do
# not apply, and are reported with `met` null.
TARGETS_FOR = {"hpas": 5000, "metrics": 2, "namespaces": 500}
REQUEST_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
SETTLE_S = 0.3  # lets Prometheus count the last query of a phase
DATA_PAST_S, DATA_FUTURE_S, DATA_STEP_S = 600, 3600, 60
API = "/apis/custom.metrics.k8s.io/v1beta2"
PA_CLIENT_QPS = 10_000


class ModeError(RuntimeError):
    """A server did not come up or failed; the mode is reported as null with this reason."""


# ----- the scenario ------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    hpas: int
    metrics: int
    namespaces: int
    compression: float
    syncs: int = 3
    workers: int = HPA_WORKERS
    concurrency: int = 16
    loop_s: float = 3.0
    pods: int = 2

    @property
    def sync_s(self) -> float:
        return SYNC_S / self.compression

    @property
    def freshness_s(self) -> float:
        return FRESHNESS_S / self.compression

    @property
    def max_staleness_s(self) -> float:
        return MAX_STALENESS_S / self.compression

    @property
    def idle_after_s(self) -> float:
        return IDLE_AFTER_S / self.compression

    @property
    def relist_s(self) -> float:
        return RELIST_S / self.compression

    @property
    def auth_cache_s(self) -> float:
        return AUTH_CACHE_S / self.compression


def auto_compression(hpas: int, metrics: int) -> float:
    """The largest whole factor up to 5 keeping the offered load under AUTO_RATE req/s,
    and at least 1 (no stretching: a big fleet runs at the real 15 s)."""
    per_sync = max(1, hpas * metrics)
    return float(max(1, min(MAX_COMPRESSION, math.floor(AUTO_RATE * SYNC_S / per_sync))))


@dataclass(frozen=True)
class Call:
    """One request an HPA makes, and the values the fleet holds for its answer."""

    path: str
    expected: dict[str, str]  # described object name -> value as a Quantity string


def _quantity(value: float) -> str:
    return str(Quantity.from_float_milli(value))


def hpa_calls(services: list[fleet.Service], catalog: list[fleet.Metric]) -> list[list[Call]]:
    """Per HPA (one per Deployment), its metrics' requests in spec order."""
    out = []
    for s in services:
        calls = []
        for metric in catalog:
            base = f"{API}/namespaces/{s.namespace}"
            if metric.kind == "pods":
                path = f"{base}/pods/*/{metric.name}?labelSelector=app%3D{s.deployment}"
                expected = {p: _quantity(fleet.value(s, metric, p)) for p in s.pods}
            else:
                path = f"{base}/deployments.apps/{s.deployment}/{metric.name}"
                expected = {s.deployment: _quantity(fleet.value(s, metric, s.deployment))}
            calls.append(Call(path, expected))
        out.append(calls)
    return out


# ----- the load generator ------------------------------------------------------------


@dataclass
class Tally:
    """What one phase saw. `check` off (the bare handler) skips values and timestamps."""

    check: bool
    freshness_s: float | None
    latencies_ms: list[float] = field(default_factory=list)
    failed: int = 0
    wrong: int = 0
    too_old: int = 0
    max_age_s: float | None = None
    first_problem: str | None = None
    _stamps: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    def _stamp(self, text: str) -> float:
        known = self._stamps.get(text)
        if known is None:
            known = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            self._stamps[text] = known
        return known

    def _problem(self, text: str) -> None:
        if self.first_problem is None:
            self.first_problem = text

    def add(self, call: Call, status: int, body: bytes, latency_s: float, at: float) -> None:
        self.latencies_ms.append(latency_s * 1000.0)
        if status != 200:
            self.failed += 1
            self._problem(f"{status} for {call.path}: {body[:300]!r}")
            return
        if not self.check:
            return
        try:
            items = json.loads(body)["items"]
            got = {i["describedObject"]["name"]: i["value"] for i in items}
            ages = [at - self._stamp(i["timestamp"]) for i in items]
        except (ValueError, KeyError, TypeError) as err:
            self.wrong += 1
            self._problem(f"unreadable answer for {call.path}: {err!r}")
            return
        if got != call.expected:
            self.wrong += 1
            self._problem(f"{call.path}: got {got}, the fleet holds {call.expected}")
        for age in ages:
            self.max_age_s = age if self.max_age_s is None else max(self.max_age_s, age)
            if self.freshness_s is not None and age > self.freshness_s + TIMESTAMP_RESOLUTION_S:
                self.too_old += 1
                self._problem(f"{call.path}: an answer {age:.1f}s old")

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Client:
    """HTTPS/1.1 with keep-alive, as many connections as concurrent callers."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext, connections: int) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=connections, ssl=ssl_context, keepalive_timeout=300
            ),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        )

    async def get(self, path: str) -> tuple[int, bytes, float, float]:
        """Status, body, latency (to the last byte) and the wall time it arrived."""
        url = yarl.URL(self.base_url + path, encoded=True)
        started = time.perf_counter()
        try:
            async with self.session.get(url, headers={"Accept": "application/json"}) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            status, body = 599, repr(err).encode()
        return status, body, time.perf_counter() - started, time.time()

    async def close(self) -> None:
        await self.session.close()


@dataclass
class SyncRun:
    tally: Tally
    hpa_syncs: int  # HPAs handled (a whole sync is one per HPA)
    elapsed_s: float
    cut_short: bool  # the time bound ended it before every HPA had its syncs


async def drive_syncs(
    client: Client,
    hpas: list[list[Call]],
    *,
    syncs: int,
    period_s: float,
    workers: int,
    limit_s: float,
    tally: Tally,
) -> SyncRun:
    """The HPA controller's loop: every HPA queued at once, `workers` workers, each HPA's
    metrics asked in order, and the HPA queued again `period_s` after it was handled.
    Stops after `syncs` syncs of every HPA, or at `limit_s` (current HPAs finish)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[int | None] = asyncio.Queue()
    for i in range(len(hpas)):
        ready.put_nowait(i)
    left = [syncs] * len(hpas)
    unfinished = len(hpas)
    all_done = asyncio.Event()
    stopping = False
    timers: list[asyncio.TimerHandle] = []
    handled = 0

    async def worker() -> None:
        nonlocal unfinished, handled
        while not stopping:
            i = await ready.get()
            if i is None or stopping:
                return
            for call in hpas[i]:
                status, body, latency, at = await client.get(call.path)
                tally.add(call, status, body, latency, at)
            handled += 1
            left[i] -= 1
            if left[i] > 0:
                timers.append(loop.call_later(period_s, ready.put_nowait, i))
            else:
                unfinished -= 1
                if unfinished == 0:
                    all_done.set()

    started = time.monotonic()
    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    cut_short = False
    try:
        try:
            await asyncio.wait_for(all_done.wait(), timeout=limit_s)
        except TimeoutError:
            cut_short = True
        stopping = True
        for timer in timers:
            timer.cancel()
        for _ in tasks:
            ready.put_nowait(None)
        # Workers finish the HPA in hand: each request is bounded by REQUEST_TIMEOUT_S.
        max_hpa_s = REQUEST_TIMEOUT_S * max(1, len(hpas[0]) if hpas else 1) + 5
        await asyncio.wait(tasks, timeout=max_hpa_s)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return SyncRun(tally, handled, time.monotonic() - started, cut_short)


@dataclass(frozen=True)
class LoopRun:
    ok: int
    failed: int
    elapsed_s: float


async def closed_loop(
    client: Client, paths: list[str], concurrency: int, seconds: float
) -> LoopRun:
    """`concurrency` callers, each sending its next request as soon as the last answered."""
    counter = iter(range(1 << 62))
    ok = failed = 0
    end = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal ok, failed
        while time.perf_counter() < end:
            status, _, _, _ = await client.get(paths[next(counter) % len(paths)])
            if status == 200:
                ok += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return LoopRun(ok, failed, time.perf_counter() - started)


# ----- processes ---------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """A live process' memory from /proc/PID/status: VmHWM is the most resident memory it
    ever had (its peak), VmRSS what it has now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    raise ModeError(f"no {field} in /proc/{pid}/status")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Process:
    """A subprocess of this run, its output in a log file; stop() is safe to repeat."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                self.argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    @property
    def pid(self) -> int:
        assert self._popen is not None
        return self._popen.pid

    def exited(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        popen, self._popen = self._popen, None
        if popen is None or popen.poll() is not None:
            return
        popen.terminate()
        try:
            popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(STOP_TIMEOUT_S)


async def wait_until(
    what: str, check: Callable[[], Awaitable[bool]], process: Process | None, limit_s: float
) -> None:
    """Poll `check` until it holds; fail early if `process` exits, and at `limit_s`."""
    deadline = time.monotonic() + limit_s
    while True:
        if process is not None and process.exited() is not None:
            raise ModeError(
                f"{process.name} exited with {process.exited()} before {what}:\n"
                + process.log_tail()
            )
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError, ValueError):
            if await check():
                return
        if time.monotonic() > deadline:
            tail = process.log_tail() if process is not None else ""
            raise ModeError(f"no {what} within {limit_s:.0f}s\n{tail}".strip())
        await asyncio.sleep(0.2)


class PrometheusReadings:
    """Prometheus' own counters: instant queries answered and CPU seconds (client_golang
    reads utime + stime from /proc/self/stat, as cpu_seconds() does for the adapters)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def read(self) -> tuple[float, float]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(f"{self.url}/metrics") as resp,
        ):
            text = await resp.text()
        queries = cpu = 0.0
        for line in text.splitlines():
            if line.startswith("prometheus_http_requests_total{") and (
                'handler="/api/v1/query"' in line
            ):
                queries += float(line.rsplit(" ", 1)[1])
            elif line.startswith("process_cpu_seconds_total "):
                cpu = float(line.rsplit(" ", 1)[1])
        return queries, cpu


async def cache_lookups(client: Client) -> dict[str, float]:
    """Surge's surge_cache_requests_total by result (hit, miss), from its /metrics."""
    status, body, _, _ = await client.get("/metrics")
    if status != 200:
        raise ModeError(f"Surge's /metrics answered {status}")
    out: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line.startswith("surge_cache_requests_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            out[result] = out.get(result, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


# ----- the servers under test --------------------------------------------------------


@dataclass
class Workspace:
    """Files every mode shares: rules, objects, the serving pair and a client identity."""

    root: Path
    scenario: Scenario
    catalog: list[fleet.Metric]
    prometheus_url: str
    rules: Path = field(init=False)
    objects: Path = field(init=False)
    cert: Path = field(init=False)
    key: Path = field(init=False)
    ca: Path = field(init=False)
    client_cert: Path = field(init=False)
    client_key: Path = field(init=False)

    def __post_init__(self) -> None:
        self.rules = self.root / "rules.yaml"
        self.objects = self.root / "objects.jsonl"
        self.cert, self.key = (
            self.root / "tls" / "apiserver.crt",
            self.root / "tls" / "apiserver.key",
        )
        self.ca = self.root / "client-ca.crt"
        self.client_cert, self.client_key = self.root / "client.crt", self.root / "client.key"

    def write(self, services: list[fleet.Service]) -> None:
        self.rules.write_text(fleet.rules(self.catalog))
        self.objects.write_text(objects_lines(fleet.objects(services)))
        self_signed(self.cert.parent, [LOOPBACK])
        # Both servers authenticate the load generator by client certificate, and ask the
        # Kubernetes API whether this plain user may read the metrics (bench/kube.py).
        ca = trustme.CA()
        leaf = ca.issue_cert(CLIENT_USER, common_name=CLIENT_USER)
        ca.cert_pem.write_to_path(str(self.ca))
        self.client_cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(self.client_key))

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.cert))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context

    def startup_limit_s(self) -> float:
        """Listing 15k objects takes a server several seconds on this machine."""
        return 60.0 + self.scenario.hpas * (1 + self.scenario.pods) / 200.0

    def relist(self) -> list[str]:
        """The series-listing flags, the same for Surge and PA."""
        return [
            f"--metrics-relist-interval={ms_flag(self.scenario.relist_s)}",
            f"--metrics-max-age={METRICS_MAX_AGE}",
        ]

    def delegated_auth(self, kube: FleetKube) -> list[str]:
        """Client certificates checked against the run's CA, SubjectAccessReviews to the
        fleet's API, cached as long (compressed like the sync period, so that as in a
        cluster an HPA's next sync finds its review expired): the same flags for Surge
        and PA."""
        kc, ttl = str(kube.kubeconfig), ms_flag(self.scenario.auth_cache_s)
        return [
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            *self.client_ca(),
            f"--authorization-webhook-cache-authorized-ttl={ttl}",
            f"--authorization-webhook-cache-unauthorized-ttl={ttl}",
        ]

    def client_ca(self) -> list[str]:
        """The storm's clients connect directly with certificates of the run's CA, so
        neither server reads the cluster's client CA or front-proxy settings."""
        return ["--authentication-skip-lookup", f"--client-ca-file={self.ca}"]


def ms_flag(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


@dataclass
class Server:
    """A server under test: its process, URL, and the Kubernetes API processes it reads."""

    process: Process
    url: str
    kube_pids: list[int] = field(default_factory=list)
    store_pids: list[int] = field(default_factory=list)  # etcd's, under a real API
    ready_s: float | None = None  # from its launch to ready (the adapters)

    def stop(self) -> None:
        self.process.stop()


async def _lists_metrics(client: Client, catalog: list[fleet.Metric]) -> bool:
    status, body, _, _ = await client.get(API)
    if status != 200:
        return False
    listed = {r["name"].rsplit("/", 1)[-1] for r in json.loads(body).get("resources", [])}
    return all(m.name in listed for m in catalog)


async def start_surge(
    ws: Workspace, engine: str, kube: FleetKube, reviews: str = "broad"
) -> Server:
    sc, port = ws.scenario, free_port()
    argv = [
        sys.executable, "-m", "surge", "serve",
        "--config", str(ws.rules),
        "--prometheus-url", ws.prometheus_url,
        "--kubeconfig", str(kube.kubeconfig),
        "--bind-address", LOOPBACK,
        "--secure-port", str(port),
        "--tls-cert-file", str(ws.cert),
        "--tls-private-key-file", str(ws.key),
        *ws.delegated_auth(kube),
        f"--authorization-broad-reviews={str(reviews == 'broad').lower()}",
        *ws.relist(),
        "--engine", engine,
        "--freshness", ms_flag(sc.freshness_s),
        "--max-staleness", ms_flag(sc.max_staleness_s),
        "--refresh-idle-after", ms_flag(sc.idle_after_s),
        "--log-format", "json",
        "--log-level", "warning",
    ]  # fmt: skip
    process = Process(f"surge ({engine})", argv, ws.root / f"surge-{engine}.log")
    server = Server(process, f"https://{LOOPBACK}:{port}", kube.pids(), kube.store_pids())
    process.start()
    try:
        await _wait_ready(server, ws)
    except BaseException:
        server.stop()
        raise
    return server


async def start_bare(ws: Workspace, kube: FleetKube) -> Server:
    port = free_port()
    argv = [
        sys.executable, "-m", "bench.bare",
        "--port", str(port),
        "--tls-cert-file", str(ws.cert),
        "--tls-private-key-file", str(ws.key),
    ]  # fmt: skip
    process = Process("bare handler", argv, ws.root / "bare.log")
    server = Server(process, f"https://{LOOPBACK}:{port}", kube.pids(), kube.store_pids())
    process.start()
    client = Client(server.url, ws.ssl_context(), 1)
    try:

        async def answers() -> bool:
            return (await client.get("/readyz"))[0] == 200

        await wait_until("an answer from the bare handler", answers, process, 30)
    except BaseException:
        server.stop()
        raise
    finally:
        await client.close()
    return server


async def _wait_ready(server: Server, ws: Workspace) -> None:
    """Until /readyz answers 200 (Surge: its object index listed, its series too) and
    discovery lists every metric (PA: after its first Prometheus poll); `ready_s` is the
    time since the launch."""
    client = Client(server.url, ws.ssl_context(), 1)
    started = time.monotonic()

    async def ready() -> bool:
        return (await client.get("/readyz"))[0] == 200 and await _lists_metrics(client, ws.catalog)

    try:
        await wait_until(
            f"/readyz and discovery listing {len(ws.catalog)} metrics",
            ready,
            server.process,
            ws.startup_limit_s(),
        )
        server.ready_s = time.monotonic() - started
    finally:
        await client.close()


class AdapterBuild:
    """bench/build_prometheus_adapter.sh in the background from the run's start, bounded:
    a cached binary answers at once, a cold build takes minutes."""

    def __init__(self, log_path: Path, limit_s: float) -> None:
        self.limit_s = limit_s
        self._out = log_path.with_suffix(".out")
        self._log = log_path
        with self._out.open("wb") as out, self._log.open("wb") as err:
            # Its own session, so that stop() can end the go processes it spawned.
            self._popen = subprocess.Popen(
                ["bash", str(BUILD_SCRIPT)],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self._started = time.monotonic()

    async def binary(self) -> Path:
        left = self.limit_s - (time.monotonic() - self._started)
        try:
            code = await asyncio.to_thread(self._popen.wait, max(0.1, left))
        except subprocess.TimeoutExpired:
            self.stop()
            raise ModeError(
                f"building prometheus-adapter took over {self.limit_s:.0f}s "
                f"(bench/build_prometheus_adapter.sh; raise --pa-build-timeout)"
            ) from None
        lines = self._out.read_text().split()
        if code != 0 or not lines or not os.access(lines[-1], os.X_OK):
            raise ModeError(
                f"bench/build_prometheus_adapter.sh failed (exit {code}): "
                + self._log.read_text(errors="replace")[-600:].strip()
            )
        return Path(lines[-1])

    def stop(self) -> None:
        if self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGTERM)
            try:
                self._popen.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._popen.pid, signal.SIGKILL)
                self._popen.wait(STOP_TIMEOUT_S)


async def start_prometheus_adapter(ws: Workspace, build: AdapterBuild, kube: FleetKube) -> Server:
    binary = await build.binary()
    port = free_port()
    argv = [
        str(binary),
        f"--secure-port={port}",
        f"--bind-address={LOOPBACK}",
        f"--cert-dir={ws.root / 'pa-certs'}",
        f"--tls-cert-file={ws.cert}",
        f"--tls-private-key-file={ws.key}",
        f"--lister-kubeconfig={kube.kubeconfig}",
        *ws.delegated_auth(kube),
        f"--prometheus-url={ws.prometheus_url}",
        f"--config={ws.rules}",
        *ws.relist(),
        # PA lists the pods of every Pods-metric request through the Kubernetes API, and
        # client-go's default limit (5/s, burst 10) would cap it at 5 such answers/s.
        f"--client-qps={PA_CLIENT_QPS}",
        f"--client-burst={PA_CLIENT_QPS}",
    ]
    server = Server(
        Process("prometheus-adapter", argv, ws.root / "prometheus-adapter.log"),
        f"https://{LOOPBACK}:{port}",
        kube.pids(),
        kube.store_pids(),
    )
    try:
        server.process.start()
        await _wait_ready(server, ws)
    except BaseException:
        server.stop()
        raise
    return server


# ----- one mode, measured ------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """CPU seconds so far of everything a phase involves, and of the whole machine."""

    at: float
    adapter: float
    kube: float
    store: float
    prometheus: float
    queries: float
    client: float
    machine: float

    def cores(self, later: Reading, cpu_s: float) -> float:
        return cpu_s / max(1e-9, later.at - self.at)


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the machine (all processes; steal counts as busy)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


async def read_all(server: Server, prometheus: PrometheusReadings) -> Reading:
    queries, prometheus_cpu = await prometheus.read()
    return Reading(
        at=time.monotonic(),
        adapter=cpu_seconds(server.process.pid),
        kube=sum(cpu_seconds(pid) for pid in server.kube_pids),
        store=sum(cpu_seconds(pid) for pid in server.store_pids),
        prometheus=prometheus_cpu,
        queries=queries,
        client=own_cpu_seconds(),
        machine=machine_busy_seconds(),
    )


def background_cores(before: Reading, after: Reading) -> float:
    """Cores busy with work outside this run (other processes on the machine, steal):
    figures measured while it is high are less trustworthy."""
    ours = sum(
        getattr(after, name) - getattr(before, name)
        for name in ("adapter", "kube", "store", "prometheus", "client")
    )
    return before.cores(after, max(0.0, after.machine - before.machine - ours))


async def measure(
    ws: Workspace,
    server: Server,
    hpas: list[list[Call]],
    prometheus: PrometheusReadings,
    kube: FleetKube,
    *,
    check: bool,
    freshness_s: float | None,
    uses_prometheus: bool,
    counts_cache: bool = False,
) -> dict[str, Any]:
    """Warm-up, sync phase and closed loop against a running server."""
    sc = ws.scenario
    client = Client(server.url, ws.ssl_context(), sc.workers)
    try:
        warm = Tally(check, freshness_s)
        warm_run = await drive_syncs(
            client, hpas, syncs=1, period_s=sc.sync_s, workers=sc.workers,
            limit_s=2 * sc.sync_s + 60, tally=warm,
        )  # fmt: skip
        if warm.failed or warm.wrong:
            raise ModeError(f"the warm-up sync failed: {warm.first_problem}")
        # The next sync a period after the warm-up's, as the controller re-queues an HPA:
        # sooner, it would find the warm-up's SubjectAccessReviews still cached.
        await asyncio.sleep(max(0.0, sc.sync_s - warm_run.elapsed_s))
        # The API's counters are read outside the CPU window: a scrape is work of its own.
        served_before = await asyncio.to_thread(kube.served)
        before = await read_all(server, prometheus)
        lookups_before = await cache_lookups(client) if counts_cache else {}
        run = await drive_syncs(
            client, hpas, syncs=sc.syncs, period_s=sc.sync_s, workers=sc.workers,
            limit_s=2 * sc.syncs * sc.sync_s + 60, tally=Tally(check, freshness_s),
        )  # fmt: skip
        # The window covers whole periods, so that queries sent between bursts (Surge's
        # refresh ahead) count for the syncs they serve.
        if not run.cut_short:
            await asyncio.sleep(max(0.0, before.at + sc.syncs * sc.sync_s - time.monotonic()))
        await asyncio.sleep(SETTLE_S)
        after = await read_all(server, prometheus)
        served_after = await asyncio.to_thread(kube.served)
        lookups = await cache_lookups(client) if counts_cache else {}
    finally:
        await client.close()

    loop_client = Client(server.url, ws.ssl_context(), sc.concurrency)
    try:
        paths = [call.path for calls in hpas for call in calls]
        loop_before = await read_all(server, prometheus)
        loop = await closed_loop(loop_client, paths, sc.concurrency, sc.loop_s)
        loop_after = await read_all(server, prometheus)
    finally:
        await loop_client.close()
    peak_rss, rss_now = rss_mb(server.process.pid), rss_mb(server.process.pid, "VmRSS")

    tally = run.tally
    syncs = run.hpa_syncs / len(hpas)

    def per_sync(name: str) -> float | None:
        return _round((getattr(after, name) - getattr(before, name)) / syncs, 3)

    def loop_cores(name: str) -> float | None:
        cpu = getattr(loop_after, name) - getattr(loop_before, name)
        return _round(loop_before.cores(loop_after, cpu), 2)

    figures: dict[str, Any] = {
        "queries_per_sync": per_sync("queries") if uses_prometheus else None,
        "p50_ms": _round(tally.percentile_ms(0.50), 3),
        "p99_ms": _round(tally.percentile_ms(0.99), 3),
        "rps": _round(loop.ok / loop.elapsed_s, 1),
        "adapter_cpu_s": per_sync("adapter"),
        "prometheus_cpu_s": per_sync("prometheus") if uses_prometheus else None,
        "rss_mb": _round(peak_rss, 1),
        "max_age_s": _round(tally.max_age_s, 3) if check else None,
        "freshness_s": freshness_s,
        "freshness_allowance_s": None if freshness_s is None else TIMESTAMP_RESOLUTION_S,
        "ready_s": _round(server.ready_s, 2),
        # what the figures above rest on
        "syncs": _round(syncs, 3),
        "rss_end_mb": _round(rss_now, 1),
        "requests": tally.requests,
        "failed": tally.failed + loop.failed,
        "wrong": tally.wrong,
        "too_old": tally.too_old if freshness_s is not None else None,
        "cut_short": run.cut_short,
        "sync_phase_s": _round(run.elapsed_s, 2),
        "sync_background_cores": _round(background_cores(before, after), 2),
        "loop_requests": loop.ok + loop.failed,
        "loop_adapter_cores": loop_cores("adapter"),
        "loop_client_cores": loop_cores("client"),
        "loop_background_cores": _round(background_cores(loop_before, loop_after), 2),
        "problem": tally.first_problem,
    }
    if counts_cache:
        hits = lookups.get("hit", 0.0) - lookups_before.get("hit", 0.0)
        misses = lookups.get("miss", 0.0) - lookups_before.get("miss", 0.0)
        figures["cache_hit_share"] = _round(hits / max(1.0, hits + misses), 4)
    figures["kube_api_cpu_s"] = per_sync("kube")
    figures["etcd_cpu_s"] = per_sync("store") if server.store_pids else None
    for kind in API_COUNTS:
        figures[f"{kind}_per_sync"] = (
            None
            if served_before is None or served_after is None
            else _round((served_after[kind] - served_before[kind]) / syncs, 1)
        )
    return figures


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# ----- the run -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "python": sys.version.split()[0]}


def fleet_prometheus(
    data: Path, services: list[fleet.Service], catalog: list[fleet.Metric]
) -> LocalPrometheus:
    """A real Prometheus (not yet started) holding the fleet's series in `data`: constant
    gauges backfilled with promtool from DATA_PAST_S ago to DATA_FUTURE_S ahead."""
    now = time.time()
    backfill(
        data,
        fleet.metrics_openmetrics(
            services, catalog, now - DATA_PAST_S, now + DATA_FUTURE_S, DATA_STEP_S
        ),
    )
    return LocalPrometheus(data)


@dataclass
class Options:
    scenario: Scenario
    kube: str = "standin"
    modes: tuple[str, ...] = MODES
    pa_build_timeout_s: float = 360.0
    surge_reviews: str = "broad"
    workdir: Path | None = None
    progress: Callable[[str], None] = lambda _: None


async def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; every process it starts is stopped before it returns."""
    started = time.monotonic()
    sc = options.scenario
    with contextlib.ExitStack() as stack:
        if options.workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="surge-storm-")))
        else:
            root = options.workdir
            root.mkdir(parents=True, exist_ok=True)
        build = None
        if "prometheus-adapter" in options.modes:
            build = AdapterBuild(root / "pa-build.log", options.pa_build_timeout_s)
            stack.callback(build.stop)
        services = fleet.fleet(sc.namespaces, sc.hpas, sc.pods)
        catalog = fleet.metrics(sc.metrics)
        hpas = hpa_calls(services, catalog)
        options.progress(
            f"backfilling {sc.hpas} Deployments x {sc.metrics} metrics into Prometheus"
        )
        prometheus = stack.enter_context(fleet_prometheus(root / "prometheus", services, catalog))
        ws = Workspace(root, sc, catalog, prometheus.url)
        ws.write(services)
        options.progress(f"starting the Kubernetes API ({options.kube}) with the fleet")
        kube = stack.enter_context(fleet_kube(options.kube, root / "kube", ws.objects))
        fill = kube.filled
        if fill is not None:
            options.progress(f"filled in {fill.seconds:.1f}s ({fill.objects_per_s:.0f} objects/s)")
        readings = PrometheusReadings(prometheus.url)

        modes: dict[str, dict[str, Any] | None] = {}
        notes: dict[str, str] = {}
        for mode in MODES:
            if mode not in options.modes:
                modes[mode] = None
                notes[mode] = "not asked for (--modes)"
                continue
            options.progress(f"{mode}: starting")
            server: Server | None = None
            try:
                if mode in ("surge", "naive"):
                    engine = "optimized" if mode == "surge" else "naive"
                    server = await start_surge(ws, engine, kube, options.surge_reviews)
                elif mode == "bare":
                    server = await start_bare(ws, kube)
                else:
                    assert build is not None
                    server = await start_prometheus_adapter(ws, build, kube)
                options.progress(f"{mode}: storm")
                modes[mode] = await measure(
                    ws,
                    server,
                    hpas,
                    readings,
                    kube,
                    check=mode != "bare",
                    freshness_s=sc.freshness_s if mode == "surge" else None,
                    uses_prometheus=mode != "bare",
                    counts_cache=mode == "surge",
                )
            except ModeError as err:
                modes[mode] = None
                notes[mode] = str(err)
                options.progress(f"{mode}: not measured: {str(err).splitlines()[0]}")
            finally:
                if server is not None:
                    server.stop()
    result = {
        "modes": modes,
        "ratios": ratios(modes),
        "targets": targets(modes, applies=at_target_scale(asdict(sc))),
        "targets_for": TARGETS_FOR,
        "run": {
            "hpas": sc.hpas,
            "metrics": sc.metrics,
            "namespaces": sc.namespaces,
            "pods_per_deployment": sc.pods,
            "requests_per_sync": sc.hpas * sc.metrics,
            "compression": sc.compression,
            "sync_s": round(sc.sync_s, 3),
            "kube": options.kube,
            "kube_fill": None
            if fill is None
            else {
                "objects": fill.objects,
                "requests": fill.requests,
                "seconds": round(fill.seconds, 1),
                "objects_per_s": round(fill.objects_per_s, 1),
            },
            "relist_s": sc.relist_s,
            "auth_cache_s": sc.auth_cache_s,
            "surge_reviews": options.surge_reviews,
            "metrics_max_age": METRICS_MAX_AGE,
            "surge_flags": {
                "freshness": ms_flag(sc.freshness_s),
                "max_staleness": ms_flag(sc.max_staleness_s),
                "refresh_idle_after": ms_flag(sc.idle_after_s),
            },
            "syncs": sc.syncs,
            "workers": sc.workers,
            "loop_concurrency": sc.concurrency,
            "loop_s": sc.loop_s,
            "machine": machine(),
            "duration_s": round(time.monotonic() - started, 1),
        },
        "notes": notes,
    }
    return result


def ratios(modes: dict[str, dict[str, Any] | None]) -> dict[str, dict[str, float | None]]:
    """Each mode's figures divided by optimized Surge's, where both rest on the same work
    (NO_RATIO, BARE_RATIOS) and both modes answered every request right."""
    base = modes.get("surge")
    out: dict[str, dict[str, float | None]] = {}
    for mode, figures in modes.items():
        if figures is None or base is None:
            continue
        out[mode] = {}
        right = not any(f["failed"] or f["wrong"] for f in (figures, base))
        for name in FIGURES:
            mine, theirs = figures.get(name), base.get(name)
            same_work = name not in NO_RATIO and (mode != "bare" or name in BARE_RATIOS)
            ok = (
                right
                and same_work
                and isinstance(mine, int | float)
                and isinstance(theirs, int | float)
                and theirs
            )
            out[mode][name] = round(mine / theirs, 3) if ok else None  # type: ignore[operator]
    return out


def at_target_scale(scale: dict[str, Any]) -> bool:
    """Whether a run's scale (its `run`, or a Scenario's fields) is the targets' own."""
    return all(scale[key] == value for key, value in TARGETS_FOR.items())


def targets(modes: dict[str, dict[str, Any] | None], *, applies: bool) -> list[dict[str, Any]]:
    """The issue's targets (set for TARGETS_FOR's scale): `met` is null where a figure is
    missing, and everywhere for a run at another scale (`applies` off): they do not judge it."""
    surge, naive, bare = modes.get("surge"), modes.get("naive"), modes.get("bare")

    def get(figures: dict[str, Any] | None, name: str) -> float | None:
        value = None if figures is None else figures.get(name)
        return float(value) if isinstance(value, int | float) else None

    def share(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a is not None and b else None

    def target(name: str, value: float | None, limit: str, met: bool | None) -> dict[str, Any]:
        return {"target": name, "value": value, "limit": limit, "met": met if applies else None}

    fewer = share(get(naive, "queries_per_sync"), get(surge, "queries_per_sync"))
    p99 = get(surge, "p99_ms")
    rps = share(get(surge, "rps"), get(bare, "rps"))
    old = get(surge, "too_old")
    rss = get(surge, "rss_mb")
    return [
        target("naive queries per sync / Surge's", fewer, ">= 100", _at_least(fewer, 100)),
        target("Surge p99 of cached answers (ms)", p99, "<= 5", None if p99 is None else p99 <= 5),
        target("Surge requests/s / bare handler's", rps, ">= 0.5", _at_least(rps, 0.5)),
        target(
            "Surge answers older than the freshness bound",
            old,
            "0",
            None if old is None else old == 0,
        ),
        target("Surge peak RSS (MB)", rss, "< 300", None if rss is None else rss < 300),
    ]


def _at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


# ----- output ------------------------------------------------------------------------

_ROWS = (
    ("queries_per_sync", "Prometheus queries per sync"),
    ("p50_ms", "latency p50 (ms)"),
    ("p99_ms", "latency p99 (ms)"),
    ("rps", "requests/s (closed loop)"),
    ("adapter_cpu_s", "adapter CPU s per sync"),
    ("prometheus_cpu_s", "Prometheus CPU s per sync"),
    ("kube_api_cpu_s", "Kubernetes API CPU s per sync"),
    ("rss_mb", "adapter peak RSS (MB)"),
    ("max_age_s", "oldest answer (s)"),
    ("freshness_s", "freshness bound (s)"),
    ("ready_s", "start-up to ready (s)"),
)
_CONTEXT_ROWS = (
    ("syncs", "measured syncs"),
    ("cache_hit_share", "answered from a snapshot"),
    ("rss_end_mb", "adapter RSS at the end (MB)"),
    ("etcd_cpu_s", "etcd CPU s per sync"),
    ("reviews_per_sync", "SubjectAccessReviews per sync"),
    ("pod_lists_per_sync", "pod lists per sync"),
    ("sync_background_cores", "other load, sync phase (cores)"),
    ("loop_background_cores", "other load, closed loop (cores)"),
    ("loop_adapter_cores", "adapter cores, closed loop"),
    ("loop_client_cores", "load generator cores, closed loop"),
)


def cell(value: Any, ratio: float | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and abs(value) < 100:
        text = f"{value:.3g}"
    else:
        text = f"{value:,.0f}"
    return text if ratio is None else f"{text} ({ratio:.3g}x)"


_KUBE_NAMES = {
    "real": "a real kube-apiserver (tests/e2e's build)",
    "standin": "the Python stand-in (tests/support/kube_standin)",
}


_REVIEWS = {
    "broad": "broad (all namespaces and names first; PA reviews each request's own)",
    "exact": "exact (each request's own, as PA's)",
}


def render(result: dict[str, Any]) -> Iterator[Any]:
    """rich renderables: the run, the figures with ratios to Surge, and the targets."""
    from rich.table import Table

    r = result["run"]
    yield (
        f"[bold]HPA storm[/bold]: {r['hpas']} HPAs x {r['metrics']} metrics over "
        f"{r['namespaces']} namespaces ({r['requests_per_sync']} requests per sync), "
        f"{r['workers']} HPA workers, {r['syncs']} measured syncs after one warm-up; "
        f"closed loop {r['loop_s']:g}s at {r['loop_concurrency']} connections.\n"
        f"Machine: {r['machine']['nproc']} CPUs, {r['machine']['cpu']}. Run took "
        f"{r['duration_s']:g}s.\nKubernetes API: {_KUBE_NAMES[r['kube']]}; both servers "
        f"relist series every {r['relist_s']:g}s, {r['metrics_max_age']} back, and "
        "authorize the client (its certificate's user) with SubjectAccessReviews there, cached "
        f"{r['auth_cache_s']:g}s; Surge's reviews: {_REVIEWS[r['surge_reviews']]}."
    )
    flags = r["surge_flags"]
    if r["compression"] != 1:
        yield (
            f"[yellow]Time compressed x{r['compression']:g}[/yellow]: sync every "
            f"{r['sync_s']:g}s (not 15s); Surge --freshness {flags['freshness']} "
            f"--max-staleness {flags['max_staleness']} "
            f"--refresh-idle-after {flags['refresh_idle_after']} (divided likewise)."
        )
    else:
        yield f"Real time: sync every 15s; Surge --freshness {flags['freshness']}."
    modes = result["modes"]
    table = Table(title="Per mode (ratio to optimized Surge)")
    table.add_column("")
    for mode in modes:
        table.add_column(mode, justify="right")
    for key, title in _ROWS:
        cells = []
        for mode, figures in modes.items():
            ratio = result["ratios"].get(mode, {}).get(key) if mode != "surge" else None
            if not figures:
                cells.append("n/a")
            elif key == "freshness_s" and figures[key] is not None:
                # The bound too_old uses: the timestamps' whole seconds are allowed for.
                cells.append(f"{cell(figures[key])} + {cell(figures['freshness_allowance_s'])}")
            else:
                cells.append(cell(figures[key], ratio))
        table.add_row(title, *cells)
    table.add_row(
        "answers wrong / failed / too old",
        *(
            f"{cell(f['wrong'])} / {cell(f['failed'])} / {cell(f['too_old'])}" if f else "n/a"
            for f in modes.values()
        ),
    )
    table.add_section()
    for key, title in _CONTEXT_ROWS:
        table.add_row(title, *(cell(f.get(key)) if f else "n/a" for f in modes.values()))
    yield table
    for mode, figures in modes.items():
        if figures is None:
            yield f"[yellow]{mode}[/yellow]: not measured: {result['notes'].get(mode, '')}"
    for mode, figures in result["modes"].items():
        if figures and (figures["failed"] or figures["wrong"] or figures.get("too_old")):
            yield (
                f"[red]{mode}[/red]: {figures['failed']} failed, {figures['wrong']} wrong, "
                f"{figures.get('too_old') or 0} too old; first: {figures['problem']}"
            )
        if figures and figures["cut_short"]:
            yield (
                f"[yellow]{mode}[/yellow]: the sync phase hit its time bound after "
                f"{figures['syncs']:g} syncs"
            )
    scale = result["targets_for"]
    applies = at_target_scale(r)
    goals = Table(
        title=f"Targets (set for {scale['hpas']:,} HPAs x {scale['metrics']} metrics over "
        f"{scale['namespaces']:,} namespaces)"
    )
    for name in ("target", "value", "limit", "met"):
        goals.add_column(name)
    unmet = "-" if applies else "n/a at this scale"
    for t in result["targets"]:
        met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: unmet}[t["met"]]
        goals.add_row(
            t["target"], "-" if t["value"] is None else f"{t['value']:g}", t["limit"], met
        )
    yield goals
