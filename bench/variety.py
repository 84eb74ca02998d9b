"""Batched answers equal per-request answers on generated fleets, on a real Prometheus.

A fleet is drawn with hypothesis: several namespaces holding the same Deployment and pod
names, pods with one series or several (a `path` label), pods missing some series,
objects with no series at all, and counters (plain and histogram) that reset. It is
written into a running Prometheus by remote write, each fleet under namespaces of its
own, and every custom metric of the test configs (the seed's rules and tests' rich.yaml)
is asked for every namespace, by selector and by name, of the optimized engine and of
the naive one (prometheus-adapter's one query per request) at the same instant. The
answers, errors included, must be equal.

`python -m bench fuzz --target engine` runs it at full size; the suite runs a bounded
pass (tests/engine/test_equivalence_property.py).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import strategies as st

from adapter.discovery import SeriesDiscovery
from adapter.engine import NaiveEngine, OptimizedEngine
from adapter.objects import StaticObjects
from adapter.prometheus import PrometheusClient, PrometheusSettings
from adapter.provider import PrometheusProvider
from adapter.rules import load_config
from apiservice.errors import APIError
from apiservice.provider import CustomMetricInfo
from apiservice.selectors import EVERYTHING, parse_selector
from surge.demo.localprom import LocalPrometheus

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = (ROOT / "deploy/config/seed-rules.yaml", ROOT / "tests/adapter/configs/rich.yaml")
DEPLOYMENTS = ("ai-service", "api", "worker")  # the same names in every namespace
BUCKETS = ("0.5", "1", "5", "+Inf")
STEP_S = 15
SAMPLES = 41  # ten minutes: the rules' rate() windows are 2m and 5m


class EquivalenceFailure(AssertionError):
    """A request the batched engine answered differently from per-request queries."""


# -- the fleets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    name: str
    deployment: str
    paths: tuple[str, ...]  # one series per path ("" : no path label)
    waiting: int | None  # None: the pod has no such series
    rate: float | None  # requests per second of its counters
    reset_at: int | None  # the sample from which its counters restart at 0
    slow: tuple[float, ...] | None  # share of requests above each bucket bound


@dataclass(frozen=True)
class Namespace:
    name: str
    pods: tuple[Pod, ...]
    idle: tuple[str, ...]  # Deployments with objects but no pods and no series


@dataclass(frozen=True)
class Fleet:
    namespaces: tuple[Namespace, ...]


@st.composite
def _pod(draw: st.DrawFn, deployment: str, index: int) -> Pod:
    cuts = draw(st.lists(st.integers(0, 100), min_size=len(BUCKETS) - 1, max_size=3))
    slow = (*(c / 100 for c in sorted(cuts, reverse=True)), 0.0)
    return Pod(
        name=f"{deployment}-5d4f7c9b8-{index:05d}",
        deployment=deployment,
        paths=draw(st.sampled_from([("",), ("/a", "/b")])),
        waiting=draw(st.none() | st.integers(0, 900)),
        rate=draw(st.none() | st.integers(0, 400).map(lambda n: n / 4)),
        reset_at=draw(st.none() | st.integers(1, SAMPLES - 1)),
        slow=draw(st.none() | st.just(slow)),
    )


@st.composite
def _namespace(draw: st.DrawFn, name: str) -> Namespace:
    deployments = draw(st.lists(st.sampled_from(DEPLOYMENTS), min_size=1, max_size=3, unique=True))
    pods: list[Pod] = []
    for deployment in deployments:
        for index in range(draw(st.integers(1, 3))):
            pods.append(draw(_pod(deployment, index)))
    idle = tuple(d for d in DEPLOYMENTS if d not in deployments)
    return Namespace(name, tuple(pods), idle[: draw(st.integers(0, len(idle)))])


_FLEETS = itertools.count()


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    """2-4 namespaces, named apart from every other fleet's (fleets share a Prometheus)."""
    fleet = next(_FLEETS)
    count = draw(st.integers(2, 4))
    return Fleet(tuple(draw(_namespace(f"fleet{fleet}-ns{n}")) for n in range(count)))


def objects(fleet: Fleet) -> list[dict[str, Any]]:
    """The fleet's Namespaces, Deployments, Services and Pods (labelled app=<deployment>)."""

    def obj(kind: str, api: str, ns: str, name: str, app: str = "") -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "labels": {"app": app or name}}
        if ns:
            meta["namespace"] = ns
        return {"apiVersion": api, "kind": kind, "metadata": meta}

    out = []
    for ns in fleet.namespaces:
        out.append(obj("Namespace", "v1", "", ns.name))
        deployments = {p.deployment for p in ns.pods} | set(ns.idle)
        for name in sorted(deployments):
            out.append(obj("Deployment", "apps/v1", ns.name, name))
            out.append(obj("Service", "v1", ns.name, name))
        out.extend(obj("Pod", "v1", ns.name, p.name, p.deployment) for p in ns.pods)
    return out


def series(fleet: Fleet, end: float) -> Iterator[tuple[dict[str, str], list[tuple[float, float]]]]:
    """(labels, samples) of every series, the last sample at `end`."""
    times = [end - STEP_S * (SAMPLES - 1 - i) for i in range(SAMPLES)]
    for ns in fleet.namespaces:
        for n, pod in enumerate(ns.pods):
            base = {
                "namespace": ns.name,
                "pod": pod.name,
                "deployment": pod.deployment,
                "service": pod.deployment,
                "job": pod.deployment,
                "container": "app",
                "instance": f"10.1.{n}.1:8080",
            }
            for k, path in enumerate(pod.paths):
                labels = {**base, "path": path} if path else base
                if pod.waiting is not None:
                    value = float(pod.waiting + k)
                    yield (
                        {"__name__": "http_requests_waiting", **labels},
                        [(value, t) for t in times],
                    )
                if pod.rate is not None:
                    yield (
                        {"__name__": "http_requests_total", **labels},
                        _counter(pod, pod.rate, times),
                    )
            if pod.slow is not None and pod.rate is not None:
                for bound, share in zip(BUCKETS, pod.slow, strict=True):
                    done = pod.rate * (1 - share)
                    yield (
                        {"__name__": "ai_llm_response_time_seconds_bucket", "le": bound, **base},
                        _counter(pod, done, times),
                    )
                yield (
                    {"__name__": "ai_llm_response_time_seconds_count", **base},
                    _counter(pod, pod.rate, times),
                )
                yield (
                    {"__name__": "ai_llm_response_time_seconds_sum", **base},
                    _counter(pod, pod.rate * (0.2 + sum(pod.slow)), times),
                )


def _counter(pod: Pod, rate: float, times: list[float]) -> list[tuple[float, float]]:
    """A counter growing at `rate`; with `pod.reset_at`, one that had been counting for a
    while (7 steps before the first sample) and restarts from 0 there."""
    start = pod.reset_at if pod.reset_at is not None else 0
    return [(rate * STEP_S * (i - start if i >= start else i + 7), t) for i, t in enumerate(times)]


# -- remote write (Prometheus' protobuf WriteRequest, snappy-compressed) ---------------------


def _write_request_class() -> Any:
    """prometheus.WriteRequest built from its descriptor: labels and samples only."""
    T = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="surge_bench_remote_write.proto", package="surge_bench", syntax="proto3"
    )

    def message(name: str, *fields: tuple[str, int, int, str]) -> None:
        m = proto.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            field = m.field.add(name=field_name, number=number, type=kind)
            if type_name:  # messages are repeated here, scalars not
                field.type_name, field.label = type_name, T.LABEL_REPEATED
            else:
                field.label = T.LABEL_OPTIONAL

    message("Label", ("name", 1, T.TYPE_STRING, ""), ("value", 2, T.TYPE_STRING, ""))
    message("Sample", ("value", 1, T.TYPE_DOUBLE, ""), ("timestamp", 2, T.TYPE_INT64, ""))
    message(
        "TimeSeries",
        ("labels", 1, T.TYPE_MESSAGE, ".surge_bench.Label"),
        ("samples", 2, T.TYPE_MESSAGE, ".surge_bench.Sample"),
    )
    message("WriteRequest", ("timeseries", 1, T.TYPE_MESSAGE, ".surge_bench.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("surge_bench.WriteRequest"))


WriteRequest = _write_request_class()


def write_request(fleet: Fleet, end: float) -> bytes:
    request = WriteRequest()
    for labels, samples in series(fleet, end):
        ts = request.timeseries.add()
        for name in sorted(labels):
            ts.labels.add(name=name, value=labels[name])
        for value, t in samples:
            ts.samples.add(value=value, timestamp=int(t * 1000))
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


# -- the comparison ---------------------------------------------------------------------------


class FixedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _outcome(call: Any) -> Any:
    try:
        items = await call
    except APIError as err:
        return ("error", type(err).__name__, err.message)
    items = items if isinstance(items, list) else [items]
    return tuple(
        (
            i.described_object.namespace,
            i.described_object.name,
            str(i.value),
            i.timestamp.isoformat(),
        )
        for i in items
    )


def _what(outcome: Any) -> str:
    """What an outcome is: values, empty, or the class of its error."""
    if not outcome:
        return "empty"
    return str(outcome[1]) if outcome[0] == "error" else "values"


def _requests(
    provider: PrometheusProvider, info: CustomMetricInfo, fleet: Fleet
) -> Iterator[tuple[str, Any]]:
    """Every question an HPA could ask of `info` about the fleet's objects."""
    resource = info.group_resource.resource
    for ns in fleet.namespaces:
        if not info.namespaced:
            if resource == "namespaces":
                yield f"{ns.name}", provider.get_metric_by_name("", ns.name, info, EVERYTHING)
            continue
        yield f"{ns.name}/*", provider.get_metric_by_selector(ns.name, EVERYTHING, info, EVERYTHING)
        for app in DEPLOYMENTS[:2]:
            selector = parse_selector(f"app={app}")
            yield (
                f"{ns.name}/*?app={app}",
                provider.get_metric_by_selector(ns.name, selector, info, EVERYTHING),
            )
        names = sorted(
            {p.name for p in ns.pods}
            if resource == "pods"
            else {p.deployment for p in ns.pods} | set(ns.idle)
        )
        for name in names[:3]:
            yield f"{ns.name}/{name}", provider.get_metric_by_name(ns.name, name, info, EVERYTHING)


async def _post(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> None:
    async with session.post(url, **kwargs) as answer:
        if answer.status >= 300:
            raise RuntimeError(f"POST {url}: HTTP {answer.status} {await answer.text()}")


class Equivalence:
    """An empty real Prometheus, fed one fleet at a time (blocking: from sync tests)."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="surge-variety-")
        # the admin API deletes each fleet's series after its check: every fleet then
        # costs the same, however many came before
        self.prometheus = LocalPrometheus(
            Path(self._folder.name) / "tsdb", flags=["--web.enable-admin-api"]
        )
        self.prometheus.start()
        self.outcomes: Counter[str] = Counter()  # compared answers: "values" or the error

    def close(self) -> None:
        self.prometheus.stop()
        self._folder.cleanup()

    def check(self, fleet: Fleet) -> None:
        asyncio.run(self._check(fleet))

    async def _check(self, fleet: Fleet) -> None:
        now = math.floor(time.time())
        async with aiohttp.ClientSession() as session:
            await _post(
                session,
                f"{self.prometheus.url}/api/v1/write",
                data=write_request(fleet, now),
                headers={
                    "Content-Encoding": "snappy",
                    "Content-Type": "application/x-protobuf",
                    "X-Prometheus-Remote-Write-Version": "0.1.0",
                },
            )
            try:
                await self._compare(fleet, now)
            finally:
                names = "|".join(ns.name for ns in fleet.namespaces)
                await _post(
                    session,
                    f"{self.prometheus.url}/api/v1/admin/tsdb/delete_series",
                    params={"match[]": f'{{namespace=~"{names}"}}'},
                )

    async def _compare(self, fleet: Fleet, now: float) -> None:
        clock = FixedClock(now + 0.5)
        client = PrometheusClient(PrometheusSettings(self.prometheus.url, timeout_s=10.0))
        index = StaticObjects(objects(fleet))
        try:
            for config in CONFIGS:
                discovery = SeriesDiscovery(
                    load_config(config), client, lambda: index.mapper, max_age_s=3600, clock=clock
                )
                await discovery.relist()
                batched = PrometheusProvider(
                    discovery.registry, index, OptimizedEngine(client, clock=clock)
                )
                single = PrometheusProvider(discovery.registry, index, NaiveEngine(client, clock))
                for info in discovery.registry.list_custom():
                    pairs = zip(
                        _requests(batched, info, fleet), _requests(single, info, fleet), strict=True
                    )
                    for (what, a), (_, b) in pairs:
                        got, want = await _outcome(a), await _outcome(b)
                        self.outcomes[_what(got)] += 1
                        if got != want:
                            raise EquivalenceFailure(
                                f"{config.name}: {info.metric} of {info.group_resource} at {what}: "
                                f"batched {got} != per-request {want}"
                            )
        finally:
            await client.close()
