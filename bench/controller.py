"""The real HPA controller at scale: N HPAs over N Deployments in tests/e2e's control plane
(etcd, kube-apiserver with its aggregator, kube-controller-manager running only the HPA
controller), the custom metrics served first by Surge, then by prometheus-adapter, behind
the same APIServices and over the same Prometheus holding the same series.

The fleet is the storm's (bench/fleet.py, bench/kube.py: Namespaces, Deployments of 2 pods
patched Running and Ready, as tests/e2e does; no deployment controller runs, so the pods
stay the fleet's). Each HPA asks its Deployment's metrics (a Pods metric through the
Deployment's selector, an Object metric on the Deployment), each target equal to the
fleet's value, so the controller computes every metric each sync and never rescales.

Per adapter, once the controller has computed every HPA's metrics through it, a fixed
window of `syncs` sync periods measures: Prometheus' own query count and CPU, the
adapter's CPU and memory, the controller's own metrics (scraped from its /metrics:
reconciliations, metric computations and their duration histograms, the
horizontalpodautoscaler work queue), and at its end every HPA's ScalingActive condition
and the values in its status.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yarl
from prometheus_client.parser import text_string_to_metric_families

from apiservice.quantity import Quantity
from bench import fleet, storm
from bench.kube import API_COUNTS, RealKube, objects_lines
from surge.demo.localprom import LOOPBACK, free_port
from tests.e2e.controlplane import SURGE_SERVICE, Process
from tests.e2e.kubeapi import Kube
from tests.e2e.kubeapi import KubeError as ApiError
from tests.e2e.pki import PKI

ADAPTERS = ("surge", "prometheus-adapter")
GROUP = "custom.metrics.k8s.io"
VERSIONS = (("v1beta1", 100), ("v1beta2", 200))  # version, versionPriority
APISERVICES = "/apis/apiregistration.k8s.io/v1/apiservices"
HPAS_PATH = "/apis/autoscaling/v2/horizontalpodautoscalers"
# kube-controller-manager's client rate limit. Its default (20/s, burst 30) would hold
# 1,000 HPAs x 2 metrics to 20 metric requests a second; raised, as a cluster this size
# must, the same for both adapters.
KCM_QPS, KCM_BURST = 1000, 2000
QUEUE = "horizontalpodautoscaler"  # the HPA controller's work queue
HPA = "horizontal_pod_autoscaler_controller_"
SAMPLE_S = 1.0  # the work queue's depth is read this often during the window
AVAILABLE_S = 120.0
# A Quantity prints thousandths: the status' values are the fleet's to within this.
VALUE_TOLERANCE = 0.0015


class ControllerError(RuntimeError):
    """The controller or the aggregator did not come up; the adapter is not measured."""


# ----- the HPAs ----------------------------------------------------------------------


def _mean(service: fleet.Service, metric: fleet.Metric) -> float:
    if metric.kind == "pods":
        return statistics.fmean(fleet.value(service, metric, p) for p in service.pods)
    return fleet.value(service, metric, service.deployment)


def hpa_object(service: fleet.Service, catalog: list[fleet.Metric]) -> dict[str, Any]:
    """One HPA on the service's Deployment, each target the fleet's value: a ratio of 1,
    within tolerance, so the controller keeps 2 replicas and computes every metric."""
    metrics: list[dict[str, Any]] = []
    for metric in catalog:
        target = str(Quantity.from_float_milli(_mean(service, metric)))
        if metric.kind == "pods":
            metrics.append(
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": metric.name},
                        "target": {"type": "AverageValue", "averageValue": target},
                    },
                }
            )
        else:
            described = {"apiVersion": "apps/v1", "kind": "Deployment", "name": service.deployment}
            metrics.append(
                {
                    "type": "Object",
                    "object": {
                        "describedObject": described,
                        "metric": {"name": metric.name},
                        "target": {"type": "Value", "value": target},
                    },
                }
            )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": service.deployment, "namespace": service.namespace},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": service.deployment,
            },
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": metrics,
        },
    }


@dataclass(frozen=True)
class HpaCensus:
    """Every HPA as the API reports it at one moment."""

    hpas: int
    active: int  # ScalingActive True
    right_values: int  # every current metric in status equals the fleet's value
    first_problem: str | None


def _current(status_metric: dict[str, Any]) -> float:
    kind = status_metric["type"].lower()
    current = status_metric[kind]["current"]
    return float(Quantity.parse(current.get("averageValue") or current["value"]))


def census(kube: Kube, services: list[fleet.Service], catalog: list[fleet.Metric]) -> HpaCensus:
    """List every HPA once: ScalingActive and the values the controller last read."""
    expected = {(s.namespace, s.deployment): [_mean(s, m) for m in catalog] for s in services}
    items = kube.get(HPAS_PATH)["items"]
    active = right = 0
    problem: str | None = None
    for hpa in items:
        meta, status = hpa["metadata"], hpa.get("status", {})
        key = (meta["namespace"], meta["name"])
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        scaling = conditions.get("ScalingActive", {})
        if scaling.get("status") == "True":
            active += 1
        elif problem is None:
            problem = f"{key[0]}/{key[1]}: ScalingActive {scaling or 'missing'}"
        got = [_current(m) for m in status.get("currentMetrics") or []]
        want = expected.get(key, [])
        if len(got) == len(want) and all(
            abs(a - b) <= VALUE_TOLERANCE for a, b in zip(got, want, strict=True)
        ):
            right += 1
        elif problem is None:
            problem = f"{key[0]}/{key[1]}: status values {got}, the fleet holds {want}"
    return HpaCensus(len(items), active, right, problem)


# ----- the workspace and the aggregator ----------------------------------------------


@dataclass
class ControllerWorkspace(storm.Workspace):
    """The storm's files, but serving with the cluster CA's certificate for the Service
    the APIServices name, and authenticating as a cluster's extension server does: the
    client CA and the front-proxy settings read from kube-system (both adapters)."""

    pki: PKI = field(kw_only=True)

    def write(self, services: list[fleet.Service]) -> None:
        self.rules.write_text(fleet.rules(self.catalog))
        hpas = [hpa_object(s, self.catalog) for s in services]
        home = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SURGE_SERVICE[1]}}
        self.objects.write_text(objects_lines([home, *fleet.objects(services), *hpas]))
        self.cert, self.key = self.pki.surge.cert, self.pki.surge.key

    def client_ca(self) -> list[str]:
        return []

    def ssl_context(self) -> ssl.SSLContext:
        """The benchmark's own requests to an adapter: the cluster admin's certificate."""
        context = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        context.load_cert_chain(str(self.pki.admin.cert), str(self.pki.admin.key))
        return context


def _apply(kube: Kube, collection: str, obj: dict[str, Any]) -> None:
    try:
        kube.create(collection, obj)
    except ApiError as err:
        if err.code != 409:
            raise
        kube.patch(f"{collection}/{obj['metadata']['name']}", {"spec": obj["spec"]})


def point_apiservices(kube: Kube, port: int, ca: Path) -> None:
    """The Service (ExternalName localhost, as tests/e2e registers Surge) and the
    custom.metrics.k8s.io APIServices, pointed at `port`."""
    name, namespace = SURGE_SERVICE  # the namespace is made with the fleet (write())
    _apply(
        kube,
        f"/api/v1/namespaces/{namespace}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "type": "ExternalName",
                "externalName": "localhost",
                "ports": [{"name": "https", "port": port}],
            },
        },
    )
    bundle = base64.b64encode(ca.read_bytes()).decode()
    for version, priority in VERSIONS:
        _apply(
            kube,
            APISERVICES,
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": f"{version}.{GROUP}"},
                "spec": {
                    "group": GROUP,
                    "version": version,
                    "service": {"name": name, "namespace": namespace, "port": port},
                    "caBundle": bundle,
                    "groupPriorityMinimum": 100,
                    "versionPriority": priority,
                },
            },
        )


def apiservices_available(kube: Kube) -> bool:
    for version, _ in VERSIONS:
        conditions = kube.get(f"{APISERVICES}/{version}.{GROUP}").get("status", {})
        available = [c for c in conditions.get("conditions", []) if c["type"] == "Available"]
        if not available or available[0]["status"] != "True":
            return False
    return True


# ----- the controller's own metrics --------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """A histogram's cumulative buckets (upper bound -> count), sum and count."""

    buckets: dict[float, float]
    total: float
    count: float

    def minus(self, earlier: Histogram) -> Histogram:
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.total - earlier.total,
            self.count - earlier.count,
        )

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def beyond(self, q: float) -> bool:
        """Whether the q-quantile lies past the highest finite bound, where quantile()
        gives that bound: a floor, not the value."""
        finite = [le for le in self.buckets if le != float("inf")]
        return bool(self.count and finite and self.buckets[max(finite)] < q * self.count)

    def quantile(self, q: float) -> float | None:
        """As Prometheus' histogram_quantile: linear within the bucket holding the rank;
        the highest finite bound when the rank falls in +Inf."""
        if not self.count:
            return None
        rank, lower, below = q * self.count, 0.0, 0.0
        bounds = sorted(self.buckets)
        for le in bounds:
            at = self.buckets[le]
            if at >= rank:
                if le == float("inf"):
                    return lower
                return lower + (le - lower) * ((rank - below) / (at - below) if at > below else 1)
            lower, below = le, at
        return bounds[-1] if bounds else None


@dataclass(frozen=True)
class Scrape:
    """One read of kube-controller-manager's /metrics: sample name -> [(labels, value)]."""

    samples: dict[str, list[tuple[dict[str, str], float]]]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples.setdefault(s.name, []).append((s.labels, s.value))
        return cls(samples)

    def _matching(self, name: str, match: dict[str, str]) -> Iterator[tuple[dict[str, str], float]]:
        for labels, value in self.samples.get(name, []):
            if all(labels.get(k) == v for k, v in match.items()):
                yield labels, value

    def total(self, metric: str, /, **match: str) -> float:
        return sum(value for _, value in self._matching(metric, match))

    def errors(self, name: str) -> float:
        """A counter with an `error` label, summed over every error but "none"."""
        return sum(v for labels, v in self._matching(name, {}) if labels.get("error") != "none")

    def histogram(self, metric: str, /, **match: str) -> Histogram:
        buckets: dict[float, float] = {}
        for labels, value in self._matching(f"{metric}_bucket", match):
            le = float(labels["le"])
            buckets[le] = buckets.get(le, 0.0) + value
        return Histogram(
            buckets, self.total(f"{metric}_sum", **match), self.total(f"{metric}_count", **match)
        )


class ControllerManagerMetrics:
    """HTTPS to kube-controller-manager's secure port (its own self-signed certificate)
    as the cluster admin, whom it authenticates and authorizes through kube-apiserver."""

    def __init__(self, port: int, pki: PKI) -> None:
        self.url = f"https://{LOOPBACK}:{port}/metrics"
        self._tls = ssl.create_default_context()
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE
        self._tls.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))

    async def read(self) -> Scrape:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session,
            session.get(self.url, ssl=self._tls) as resp,
        ):
            if resp.status != 200:
                raise ControllerError(f"{self.url} answered {resp.status}")
            return Scrape.parse(await resp.text())


def controller_flags(sc: storm.Scenario, port: int, kubeconfig: Path, cert_dir: Path) -> list[str]:
    """The HPA controller at its defaults but for the sync period (15 s / compression) and
    the client rate limit, with its metrics served on `port`: authenticated, but not
    authorized, so that the run's scrapes add no SubjectAccessReview to the adapter's."""
    return [
        f"--horizontal-pod-autoscaler-sync-period={storm.ms_flag(sc.sync_s)}",
        f"--kube-api-qps={KCM_QPS}",
        f"--kube-api-burst={KCM_BURST}",
        f"--secure-port={port}",
        f"--bind-address={LOOPBACK}",
        f"--cert-dir={cert_dir}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
    ]


# ----- one adapter, measured ---------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """CPU seconds so far of every process involved, Prometheus' counters, the
    controller's metrics and the machine's busy time."""

    at: float
    adapter: float
    apiserver: float
    etcd: float
    controller: float
    prometheus: float
    queries: float
    client: float
    machine: float
    scrape: Scrape


async def read_all(
    server: storm.Server,
    kcm: Process,
    prometheus: storm.PrometheusReadings,
    metrics: ControllerManagerMetrics,
) -> Reading:
    queries, prometheus_cpu = await prometheus.read()
    scrape = await metrics.read()
    return Reading(
        at=time.monotonic(),
        adapter=storm.cpu_seconds(server.process.pid),
        apiserver=sum(storm.cpu_seconds(pid) for pid in server.kube_pids),
        etcd=sum(storm.cpu_seconds(pid) for pid in server.store_pids),
        controller=storm.cpu_seconds(kcm.pid),
        prometheus=prometheus_cpu,
        queries=queries,
        client=storm.own_cpu_seconds(),
        machine=storm.machine_busy_seconds(),
        scrape=scrape,
    )


COMPUTATIONS = f"{HPA}metric_computation_total"
RECONCILIATIONS = f"{HPA}reconciliations_total"


async def warm_up(
    kube: Kube,
    metrics: ControllerManagerMetrics,
    services: list[fleet.Service],
    catalog: list[fleet.Metric],
    limit_s: float,
) -> tuple[float, bool]:
    """Until the controller has computed every HPA's metrics through this adapter (as
    many successful computations as HPAs x metrics since now) and every HPA is
    ScalingActive; the seconds it took, and whether it got there within `limit_s`."""
    started = time.monotonic()
    first = await metrics.read()
    want = len(services) * len(catalog)
    while time.monotonic() - started < limit_s:
        await asyncio.sleep(SAMPLE_S)
        now = await metrics.read()
        done = now.total(COMPUTATIONS, error="none") - first.total(COMPUTATIONS, error="none")
        if done >= want:
            seen = await asyncio.to_thread(census, kube, services, catalog)
            if seen.active == len(services):
                return time.monotonic() - started, True
    return time.monotonic() - started, False


def _ms_of(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


async def measure(
    ws: ControllerWorkspace,
    server: storm.Server,
    kcm: Process,
    api: RealKube,
    prometheus: storm.PrometheusReadings,
    metrics: ControllerManagerMetrics,
    services: list[fleet.Service],
) -> dict[str, Any]:
    """Warm-up, then the window of `syncs` sync periods."""
    sc = ws.scenario
    kube = api.plane.admin()
    warm_s, warmed = await warm_up(kube, metrics, services, ws.catalog, limit_s=4 * sc.sync_s + 120)
    # kube-apiserver's counters are read outside the CPU window (a scrape is work of its own)
    served_before = await asyncio.to_thread(api.served)
    before = await read_all(server, kcm, prometheus, metrics)
    depths: list[float] = []
    end = before.at + sc.syncs * sc.sync_s
    while time.monotonic() < end:
        depths.append((await metrics.read()).total("workqueue_depth", name=QUEUE))
        await asyncio.sleep(max(0.0, min(SAMPLE_S, end - time.monotonic())))
    await asyncio.sleep(storm.SETTLE_S)
    after = await read_all(server, kcm, prometheus, metrics)
    served_after = await asyncio.to_thread(api.served)
    seen = await asyncio.to_thread(census, kube, services, ws.catalog)

    window_s = after.at - before.at
    periods = window_s / sc.sync_s
    a, b = after.scrape, before.scrape

    def delta(name: str) -> float:
        return getattr(after, name) - getattr(before, name)

    def counted(metric: str, **match: str) -> float:
        return a.total(metric, **match) - b.total(metric, **match)

    def histogram(metric: str, /, **match: str) -> Histogram:
        return a.histogram(metric, **match).minus(b.histogram(metric, **match))

    reconcile = histogram(f"{HPA}reconciliation_duration_seconds")
    computing = histogram(f"{HPA}metric_computation_duration_seconds")
    queued = histogram("workqueue_queue_duration_seconds", name=QUEUE)
    ours = sum(
        delta(n) for n in ("adapter", "apiserver", "etcd", "controller", "prometheus", "client")
    )
    figures: dict[str, Any] = {
        "hpas": seen.hpas,
        "hpas_active": seen.active,
        "hpas_right_values": seen.right_values,
        "queries_per_sync": _round(delta("queries") / periods, 1),
        "prometheus_cpu_s": _round(delta("prometheus")),
        "adapter_cpu_s": _round(delta("adapter")),
        "rss_mb": _round(storm.rss_mb(server.process.pid), 1),
        "rss_end_mb": _round(storm.rss_mb(server.process.pid, "VmRSS"), 1),
        "kube_apiserver_cpu_s": _round(delta("apiserver")),
        "etcd_cpu_s": _round(delta("etcd")),
        "controller_cpu_s": _round(delta("controller")),
        # kube-apiserver's own count (API_COUNTS): the adapter's SubjectAccessReviews (the
        # controller's /metrics asks none) and pod lists (the controller's pods come by watch)
        **{
            f"{kind}_per_sync": _round((served_after[kind] - served_before[kind]) / periods, 1)
            for kind in API_COUNTS
        },
        "reconciliations_per_sync": _round(counted(RECONCILIATIONS) / periods, 1),
        "reconciliation_errors": a.errors(RECONCILIATIONS) - b.errors(RECONCILIATIONS),
        "reconcile_mean_ms": _ms_of(reconcile.mean()),
        "reconcile_p99_ms": _ms_of(reconcile.quantile(0.99)),
        "computations_per_sync": _round(counted(COMPUTATIONS) / periods, 1),
        "computation_errors": a.errors(COMPUTATIONS) - b.errors(COMPUTATIONS),
        "computation_mean_ms": _ms_of(computing.mean()),
        "computation_p99_ms": _ms_of(computing.quantile(0.99)),
        "computation_by_type": {
            kind: {
                "mean_ms": _ms_of(h.mean()),
                "p99_ms": _ms_of(h.quantile(0.99)),
                "count": h.count,
            }
            for kind in ("Pods", "Object")
            if (h := histogram(f"{HPA}metric_computation_duration_seconds", metric_type=kind)).count
        },
        "queue_depth_max": max(depths, default=None),
        "queue_depth_mean": _round(statistics.fmean(depths), 1) if depths else None,
        "queue_wait_mean_ms": _ms_of(queued.mean()),
        "queue_wait_p99_ms": _ms_of(queued.quantile(0.99)),
        "stale_sync_skips": counted(f"{HPA}stale_sync_skips_total"),
        # p99s past their histogram's highest bucket: the figure is that bound, a floor
        "floors": [
            name
            for name, h in (
                ("reconcile_p99_ms", reconcile),
                ("computation_p99_ms", computing),
                ("queue_wait_p99_ms", queued),
            )
            if h.beyond(0.99)
        ],
        # what the figures above rest on
        "window_s": _round(window_s, 1),
        "syncs": _round(periods, 2),
        "warm_up_s": _round(warm_s, 1),
        "warmed_up": warmed,
        "background_cores": _round(max(0.0, delta("machine") - ours) / window_s, 2),
        "problem": seen.first_problem,
    }
    return figures


# ----- the run -----------------------------------------------------------------------

# Figures that cost something, divided PA / Surge when both ran the same work (every
# HPA active, no error): the rest are counts or properties.
RATIOS = (
    "queries_per_sync",
    "prometheus_cpu_s",
    "adapter_cpu_s",
    "rss_mb",
    "kube_apiserver_cpu_s",
    "etcd_cpu_s",
    "reviews_per_sync",
    "controller_cpu_s",
    "reconcile_mean_ms",
    "reconcile_p99_ms",
    "computation_mean_ms",
    "computation_p99_ms",
    "queue_wait_mean_ms",
    "queue_wait_p99_ms",
)


def same_work(figures: dict[str, Any]) -> bool:
    return bool(
        figures["hpas_active"] == figures["hpas"]
        and not figures["reconciliation_errors"]
        and not figures["computation_errors"]
    )


def ratios(adapters: dict[str, dict[str, Any] | None]) -> dict[str, float | None]:
    """prometheus-adapter's figures over Surge's, where both did the same work."""
    surge, pa = adapters.get("surge"), adapters.get("prometheus-adapter")
    out: dict[str, float | None] = {}
    for name in RATIOS:
        mine = pa.get(name) if pa else None
        theirs = surge.get(name) if surge else None
        ok = (
            pa
            and surge
            and same_work(pa)
            and same_work(surge)
            and name not in pa["floors"] + surge["floors"]
            and mine is not None
            and theirs
        )
        out[name] = round(mine / theirs, 3) if ok else None  # type: ignore[operator]
    return out


async def start_controller(
    kube: RealKube, sc: storm.Scenario, cert_dir: Path
) -> tuple[Process, ControllerManagerMetrics]:
    """A fresh kube-controller-manager for each adapter, so that each starts alike: every
    HPA queued at once, then each due a sync period after it was handled."""
    port = free_port()
    kcm = kube.plane.start_controller_manager(
        controllers=("horizontal-pod-autoscaler-controller",),
        flags=controller_flags(sc, port, kube.kubeconfig, cert_dir),
    )
    metrics = ControllerManagerMetrics(port, kube.plane.pki)

    async def serving() -> bool:
        try:  # until its secure port answers
            await metrics.read()
        except ControllerError:
            return False
        return True

    await storm.wait_until("kube-controller-manager's /metrics", serving, None, 60)
    return kcm, metrics


@dataclass
class Options:
    scenario: storm.Scenario
    pa_build_timeout_s: float = 360.0
    workdir: Path | None = None
    progress: Callable[[str], None] = lambda _: None
    adapters: tuple[str, ...] = ADAPTERS  # measured in this order


async def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; every process it starts is stopped before it returns."""
    started, load_before = time.monotonic(), os.getloadavg()
    sc = options.scenario
    say = options.progress
    with contextlib.ExitStack() as stack:
        if options.workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="surge-hpa-")))
        else:
            root = options.workdir
            root.mkdir(parents=True, exist_ok=True)
        build = storm.AdapterBuild(root / "pa-build.log", options.pa_build_timeout_s)
        stack.callback(build.stop)
        services = fleet.fleet(sc.namespaces, sc.hpas, sc.pods)
        catalog = fleet.metrics(sc.metrics)
        say(f"backfilling {sc.hpas} Deployments x {sc.metrics} metrics into Prometheus")
        prometheus = stack.enter_context(
            storm.fleet_prometheus(root / "prometheus", services, catalog)
        )
        kube = RealKube(root / "kube")
        stack.callback(kube.stop)
        ws = ControllerWorkspace(root, sc, catalog, prometheus.url, pki=kube.plane.pki)
        ws.write(services)
        say(f"starting kube-apiserver; creating {sc.hpas} Deployments, their pods and HPAs")
        kube.start(ws.objects)
        filled = kube.filled
        assert filled is not None  # the real API is filled through its REST API
        admin = kube.plane.admin()
        readings = storm.PrometheusReadings(prometheus.url)
        adapters: dict[str, dict[str, Any] | None] = {}
        notes: dict[str, str] = {}
        for adapter in options.adapters:
            say(f"{adapter}: starting")
            server: storm.Server | None = None
            kcm: Process | None = None
            try:
                if adapter == "surge":
                    server = await storm.start_surge(ws, "optimized", kube)
                else:
                    server = await storm.start_prometheus_adapter(ws, build, kube)
                port = yarl.URL(server.url).port
                assert port is not None
                await asyncio.to_thread(point_apiservices, admin, port, kube.plane.pki.ca.cert)
                await storm.wait_until(
                    "the APIServices Available",
                    lambda: asyncio.to_thread(apiservices_available, admin),
                    server.process,
                    AVAILABLE_S,
                )
                kcm, kcm_metrics = await start_controller(kube, sc, root / f"kcm-{adapter}")
                say(f"{adapter}: the controller drives {sc.hpas} HPAs through it")
                adapters[adapter] = await measure(
                    ws, server, kcm, kube, readings, kcm_metrics, services
                )
            except (storm.ModeError, ControllerError, ApiError) as err:
                adapters[adapter] = None
                notes[adapter] = str(err)
                say(f"{adapter}: not measured: {str(err).splitlines()[0]}")
            finally:
                if kcm is not None:
                    kcm.stop()
                if server is not None:
                    server.stop()
        for adapter in ADAPTERS:
            if adapter not in options.adapters:
                adapters[adapter] = None
                notes[adapter] = "not asked for (--adapters)"
    return {
        "adapters": adapters,
        "ratios": ratios(adapters),
        "run": {
            "hpas": sc.hpas,
            "metrics": sc.metrics,
            "namespaces": sc.namespaces,
            "pods_per_deployment": sc.pods,
            "compression": sc.compression,
            "sync_s": round(sc.sync_s, 3),
            "syncs": sc.syncs,
            "order": list(options.adapters),
            "relist_s": sc.relist_s,
            "auth_cache_s": sc.auth_cache_s,
            "metrics_max_age": storm.METRICS_MAX_AGE,
            "surge_freshness_s": sc.freshness_s,
            "kcm_qps": KCM_QPS,
            "kcm_burst": KCM_BURST,
            "objects": filled.objects,
            "fill_s": round(filled.seconds, 1),
            "objects_per_s": round(filled.objects_per_s, 1),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "machine": storm.machine(),
            "duration_s": round(time.monotonic() - started, 1),
        },
        "notes": notes,
    }


# ----- output ------------------------------------------------------------------------

ROWS = (
    ("hpas_active", "HPAs ScalingActive True"),
    ("hpas_right_values", "HPAs showing the fleet's values"),
    ("queries_per_sync", "Prometheus queries per sync period"),
    ("prometheus_cpu_s", "Prometheus CPU s (window)"),
    ("adapter_cpu_s", "adapter CPU s (window)"),
    ("rss_mb", "adapter peak RSS (MB)"),
    ("rss_end_mb", "adapter RSS at the end (MB)"),
    ("kube_apiserver_cpu_s", "kube-apiserver CPU s (window)"),
    ("etcd_cpu_s", "etcd CPU s (window)"),
    ("reviews_per_sync", "SubjectAccessReviews per sync period"),
    ("pod_lists_per_sync", "pod lists per sync period"),
    ("controller_cpu_s", "kube-controller-manager CPU s (window)"),
    ("reconciliations_per_sync", "reconciliations per sync period"),
    ("reconciliation_errors", "reconciliation errors"),
    ("reconcile_mean_ms", "reconciliation mean (ms)"),
    ("reconcile_p99_ms", "reconciliation p99 (ms)"),
    ("computations_per_sync", "metric computations per sync period"),
    ("computation_errors", "metric computation errors"),
    ("computation_mean_ms", "metric computation mean (ms)"),
    ("computation_p99_ms", "metric computation p99 (ms)"),
    ("queue_depth_max", "work queue depth, max"),
    ("queue_depth_mean", "work queue depth, mean"),
    ("queue_wait_mean_ms", "work queue wait mean (ms)"),
    ("queue_wait_p99_ms", "work queue wait p99 (ms)"),
    ("window_s", "window (s)"),
    ("warm_up_s", "warm-up (s)"),
    ("background_cores", "other load (cores)"),
)


def _cell(figures: dict[str, Any] | None, key: str) -> str:
    if figures is None:
        return "n/a"
    return (">= " if key in figures["floors"] else "") + storm.cell(figures[key])


def render(result: dict[str, Any]) -> Iterator[Any]:
    """rich renderables: the run, then the adapters side by side with the ratio."""
    from rich.table import Table

    r = result["run"]
    yield (
        f"[bold]The real HPA controller[/bold]: {r['hpas']} HPAs x {r['metrics']} metrics "
        f"over {r['namespaces']} namespaces; kube-controller-manager (HPA controller only, "
        f"sync every {r['sync_s']:g}s, 5 workers, client {r['kcm_qps']}/s) through "
        f"kube-apiserver's aggregator; a window of {r['syncs']} sync periods per adapter, "
        f"{' then '.join(r['order'])}.\n"
        f"Machine: {r['machine']['nproc']} CPUs, {r['machine']['cpu']}; load "
        f"{' '.join(f'{x:g}' for x in r['load_before'])} at the start. {r['objects']} objects "
        f"created in {r['fill_s']:g}s ({r['objects_per_s']:g}/s); run took "
        f"{r['duration_s']:g}s.\nBoth adapters "
        f"relist series every {r['relist_s']:g}s, {r['metrics_max_age']} back; both "
        "authenticate the aggregator and authorize through kube-apiserver."
    )
    adapters = result["adapters"]
    table = Table(title="Per adapter (ratio: prometheus-adapter / Surge)")
    table.add_column("")
    for name in ADAPTERS:
        table.add_column(name, justify="right")
    table.add_column("ratio", justify="right")
    for key, title in ROWS:
        cells = [_cell(adapters.get(a), key) for a in ADAPTERS]
        ratio = result["ratios"].get(key)
        table.add_row(title, *cells, "-" if ratio is None else f"{ratio:.3g}x")
    yield table
    for name in ADAPTERS:
        figures = adapters.get(name)
        if figures is None:
            yield f"[yellow]{name}[/yellow]: not measured: {result['notes'].get(name, '')}"
        elif not same_work(figures) or not figures["warmed_up"]:
            yield f"[red]{name}[/red]: not every HPA active; first: {figures['problem']}"
