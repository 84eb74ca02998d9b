"""Generated metrics and objects shaped like the seed's AI service (ai-platform/ai-service).

The demo and the integration tests need Prometheus series that look like what the seed's
HPAs read: `http_requests_waiting` (a gauge per pod), the LLM latency histogram
`ai_llm_response_time_seconds` and the counter `http_requests_total`, labelled as
kube-prometheus labels a ServiceMonitor target (namespace, pod, service, job, container,
instance). Two models produce them:

- `WorkdayModel` follows the seed's workday traffic table (QPS by time of day, spread over
  the pods) and its load test (waiting requests and p99 latency grow with each pod's load).
  Its noise is seeded and its daily shape repeats every day, so every value is a pure
  function of the time: the backfill (history) and the live exporter (present) agree, and
  counters never reset.
- `ConstantModel` gives fixed, known values per pod (gauges constant, counters at a
  constant rate), so a test's oracle and Surge agree whatever the exact query time.

Both are rendered as OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`
(history) and as Prometheus text exposition by `start_exporter` (live scrapes).
"""

from __future__ import annotations

import bisect
import hashlib
import math
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from aiohttp import web

NAMESPACE = "ai-platform"
DEPLOYMENT = "ai-service"
APP_LABELS = {"app": "ai-service"}
POD_TEMPLATE_HASH = "7d9f8b6c5d"
CONTAINER_PORT = 8080
# Upper bounds of the latency histogram's finite buckets, in seconds; "+Inf" follows.
LATENCY_BUCKETS: tuple[float, ...] = (0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60)

WAITING = "http_requests_waiting"
REQUESTS = "http_requests_total"
LATENCY = "ai_llm_response_time_seconds"

# Counters count from this instant: any time before it has no data.
COUNTER_ORIGIN = datetime(2020, 1, 1, tzinfo=UTC).timestamp()

_DAY = 86400.0
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the characters Kubernetes uses for suffixes


@dataclass(frozen=True)
class PodSample:
    """One pod's series at one instant; `buckets` are cumulative counts, one per bucket
    of LATENCY_BUCKETS followed by +Inf (which equals `count`)."""

    waiting: float
    requests: float
    buckets: tuple[float, ...]
    latency_sum: float
    count: float


class Model(Protocol):
    def sample(self, pods: Sequence[str], index: int, t: float) -> PodSample:
        """Pod `pods[index]` at unix time `t`."""
        ...


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from its arguments: seeded noise without state."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear through `points` (sorted by x), flat beyond both ends."""
    xs = [p[0] for p in points]
    i = bisect.bisect_right(xs, x)
    if i == 0:
        return points[0][1]
    if i == len(points):
        return points[-1][1]
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _lognormal_cdf(x: float, mu: float, sigma: float) -> float:
    return 0.5 * (1.0 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2.0))))


def pod_names(count: int, seed: str = "surge-demo") -> list[str]:
    """`count` pod names as a ReplicaSet names them (ai-service-7d9f8b6c5d-xxxxx), stable per
    seed and sorted as the API lists them."""
    names: set[str] = set()
    attempt = 0
    while len(names) < count:
        suffix = "".join(
            _NAME_ALPHABET[int(_unit(seed, attempt, k) * len(_NAME_ALPHABET))] for k in range(5)
        )
        names.add(f"{DEPLOYMENT}-{POD_TEMPLATE_HASH}-{suffix}")
        attempt += 1
    return sorted(names)


def pod_ip(pod: str) -> str:
    return f"10.244.{int(_unit('ip', pod, 0) * 250) + 1}.{int(_unit('ip', pod, 1) * 250) + 2}"


def series_labels(pod: str) -> dict[str, str]:
    """The target labels kube-prometheus gives a pod scraped through the ai-service Service.

    `deployment` is the pod's `app` label copied by relabeling, as seed-rules.yaml expects.
    """
    return {
        "namespace": NAMESPACE,
        "pod": pod,
        "deployment": DEPLOYMENT,
        "service": DEPLOYMENT,
        "job": DEPLOYMENT,
        "container": DEPLOYMENT,
        "instance": f"{pod_ip(pod)}:{CONTAINER_PORT}",
    }


@lru_cache(maxsize=16)
def _wobbles(seed: str) -> tuple[tuple[int, float], ...]:
    """Harmonics of the day (so the wobble repeats daily) with seeded phases."""
    return tuple((k, 2 * math.pi * _unit(seed, "qps", k)) for k in (5, 11, 23))


@lru_cache(maxsize=64)
def _weights(seed: str, pods: tuple[str, ...]) -> tuple[float, ...]:
    raw = [0.85 + 0.3 * _unit(seed, "weight", pod) for pod in pods]
    return tuple(w * len(pods) / sum(raw) for w in raw)


@dataclass(frozen=True)
class WorkdayModel:
    """The seed's traffic: QPS by time of day, each pod's share, its queue and latency.

    Times of day are read at `utc_offset_hours` (the seed is a service in UTC+8). A pod
    serving `pod_capacity_qps` runs at load 1.0; the seed's HPA targets (50 waiting, p99 5 s)
    are both reached near load 0.7, as the article's load test and HPA log suggest.
    """

    utc_offset_hours: float = 8.0
    pod_capacity_qps: float = 140.0
    seed: str = "surge-demo"
    # (hour of day, QPS of the whole Deployment), from the seed's workday table.
    qps_by_hour: tuple[tuple[float, float], ...] = (
        (0.0, 70),
        (3.0, 45),
        (5.5, 70),
        (6.0, 215),
        (8.75, 380),
        (9.25, 850),
        (12.0, 1120),
        (14.0, 950),
        (17.0, 1100),
        (18.0, 1150),
        (18.5, 1250),
        (20.0, 1320),
        (21.5, 1100),
        (22.5, 470),
        (23.5, 320),
        (24.0, 70),
    )
    # (load, p99 seconds), from the seed's load test (concurrency 5, 10, 20, 30).
    p99_by_load: tuple[tuple[float, float], ...] = (
        (0.0, 2.5),
        (0.3, 3.2),
        (0.7, 5.1),
        (1.0, 9.8),
        (1.5, 22.0),
        (3.0, 30.0),
    )
    # The load test's mean is about 0.45 x p99 at every concurrency: a lognormal with this
    # sigma has that ratio.
    latency_sigma: float = 0.373
    table_step_s: int = 60

    def time_of_day(self, t: float) -> float:
        """Hours since local midnight."""
        return ((t + self.utc_offset_hours * 3600) % _DAY) / 3600

    def qps(self, t: float) -> float:
        """The Deployment's QPS: the seed's curve times a smooth seeded wobble (at most 4.5%)
        that repeats daily, so that every day has the same total and counters stay
        closed-form."""
        hour = self.time_of_day(t)
        phase = 2 * math.pi * hour / 24
        wobble = sum(0.015 * math.sin(k * phase + shift) for k, shift in _wobbles(self.seed))
        return _interpolate(self.qps_by_hour, hour) * (1 + wobble)

    def weight(self, pods: Sequence[str], index: int) -> float:
        """The pod's share of traffic relative to an even split (load balancing is uneven)."""
        return _weights(self.seed, tuple(pods))[index]

    def pod_qps(self, pods: Sequence[str], index: int, t: float) -> float:
        return self.qps(t) * self.weight(pods, index) / len(pods)

    def waiting(self, load: float) -> float:
        """Queued requests: 50 at load 0.7, growing as load / (1 - load), capped near 1."""
        load = min(load, 0.97)
        return 50.0 * (load / (1 - load)) / (0.7 / 0.3)

    def latency_fractions(self, load: float) -> tuple[tuple[float, ...], float]:
        """Cumulative fraction of calls under each finite bucket bound, and the mean latency."""
        p99 = _interpolate(self.p99_by_load, load)
        mu = math.log(p99) - 2.326 * self.latency_sigma
        fractions = tuple(_lognormal_cdf(le, mu, self.latency_sigma) for le in LATENCY_BUCKETS)
        return fractions, math.exp(mu + self.latency_sigma**2 / 2)

    def sample(self, pods: Sequence[str], index: int, t: float) -> PodSample:
        if t < COUNTER_ORIGIN:
            raise ValueError(f"no data before {datetime.fromtimestamp(COUNTER_ORIGIN, UTC)}")
        table = _day_table(self, tuple(pods), index)
        rate = self.pod_qps(pods, index, t)
        load = rate / self.pod_capacity_qps
        jitter = 0.9 + 0.2 * _unit(self.seed, "waiting", pods[index], int(t // 15))
        *buckets, latency_sum, count = table.counters_at(t)
        # Real counters count whole requests (flooring keeps them monotonic).
        whole = math.floor(count)
        return PodSample(
            waiting=round(self.waiting(load) * jitter),
            requests=whole,
            buckets=(*(math.floor(b) for b in buckets), whole),
            latency_sum=math.floor(latency_sum * 1000) / 1000,
            count=whole,
        )


@dataclass(frozen=True)
class _DayTable:
    """Counter values over one (identical) day, so any instant's counter is closed-form.

    `rows[c]` holds, at the start of cell c, the cumulative [bucket..., sum, count] since
    local midnight; `rates[c]` their per-second increase during cell c; `day` the totals of
    a whole day.
    """

    model: WorkdayModel
    rows: tuple[tuple[float, ...], ...]
    rates: tuple[tuple[float, ...], ...]
    day: tuple[float, ...]

    def counters_at(self, t: float) -> tuple[float, ...]:
        m = self.model
        local = t + m.utc_offset_hours * 3600
        origin = COUNTER_ORIGIN + m.utc_offset_hours * 3600
        days = math.floor(local / _DAY) - math.floor(origin / _DAY)
        seconds = local % _DAY
        cell = min(int(seconds // m.table_step_s), len(self.rows) - 1)
        into = seconds - cell * m.table_step_s
        return tuple(
            days * d + r + rate * into
            for d, r, rate in zip(self.day, self.rows[cell], self.rates[cell], strict=True)
        )


@lru_cache(maxsize=64)
def _day_table(model: WorkdayModel, pods: tuple[str, ...], index: int) -> _DayTable:
    step = model.table_step_s
    cells = int(_DAY // step)
    midnight = -model.utc_offset_hours * 3600  # a local midnight, as a unix time
    rows: list[tuple[float, ...]] = []
    rates: list[tuple[float, ...]] = []
    running = [0.0] * (len(LATENCY_BUCKETS) + 2)
    for c in range(cells):
        rate = model.pod_qps(pods, index, midnight + (c + 0.5) * step)
        fractions, mean = model.latency_fractions(rate / model.pod_capacity_qps)
        cell_rates = (*(rate * f for f in fractions), rate * mean, rate)
        rows.append(tuple(running))
        rates.append(cell_rates)
        running = [v + r * step for v, r in zip(running, cell_rates, strict=True)]
    return _DayTable(model, tuple(rows), tuple(rates), tuple(running))


@dataclass(frozen=True)
class ConstantModel:
    """Known values for oracles: pod i (0-based, in the order given) has

    - `http_requests_waiting` = 10 * (i + 1), at every instant;
    - `http_requests_total` growing at (i + 1) per second;
    - `ai_llm_response_time_seconds` observed at (i + 1) per second, the cumulative
      fraction under each bucket bound given by `latency_fractions(i)`, mean latency
      `latency_mean(i)` seconds.
    """

    def waiting(self, index: int) -> float:
        return 10.0 * (index + 1)

    def request_rate(self, index: int) -> float:
        return float(index + 1)

    def latency_fractions(self, index: int) -> tuple[float, ...]:
        """A lognormal with median (i + 1) seconds, sigma 0.5: quantiles differ per pod and
        never fall on a bucket bound."""
        return tuple(_lognormal_cdf(le, math.log(index + 1), 0.5) for le in LATENCY_BUCKETS)

    def latency_mean(self, index: int) -> float:
        return (index + 1) * math.exp(0.5**2 / 2)

    def bucket_rates(self, index: int) -> list[tuple[float, float]]:
        """(le, per-second increase) of each bucket, +Inf last: what rate() gives."""
        rate = self.request_rate(index)
        finite = [
            (le, rate * f)
            for le, f in zip(LATENCY_BUCKETS, self.latency_fractions(index), strict=True)
        ]
        return [*finite, (math.inf, rate)]

    def sample(self, pods: Sequence[str], index: int, t: float) -> PodSample:
        elapsed = t - COUNTER_ORIGIN
        if elapsed < 0:
            raise ValueError(f"no data before {datetime.fromtimestamp(COUNTER_ORIGIN, UTC)}")
        count = self.request_rate(index) * elapsed
        return PodSample(
            waiting=self.waiting(index),
            requests=count,
            buckets=(*(count * f for f in self.latency_fractions(index)), count),
            latency_sum=count * self.latency_mean(index),
            count=count,
        )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format_labels(labels: dict[str, str]) -> str:
    """The inside of a series' braces: k="v",... with the text format's escapes."""
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


_HELP = {
    WAITING: "Requests queued in the pod, waiting for a worker.",
    REQUESTS: "HTTP requests served.",
    LATENCY: "Latency of the LLM call behind each request.",
}


def _families(
    model: Model, pods: Sequence[str], times: Sequence[float], openmetrics: bool
) -> Iterator[str]:
    """Text lines, one metric family after another and, within it, one series (pod) after
    another in time order: OpenMetrics forbids interleaving either."""
    labels = [_format_labels(series_labels(p)) for p in pods]
    stamps = [(f" {int(t)}" if t.is_integer() else f" {t!r}") if openmetrics else "" for t in times]
    # samples[i][k]: pod i at times[k]
    samples = [[model.sample(pods, i, t) for t in times] for i in range(len(pods))]

    yield f"# HELP {WAITING} {_HELP[WAITING]}"
    yield f"# TYPE {WAITING} gauge"
    for lbl, series in zip(labels, samples, strict=True):
        for ts, s in zip(stamps, series, strict=True):
            yield f"{WAITING}{{{lbl}}} {_format_value(s.waiting)}{ts}"

    family = REQUESTS.removesuffix("_total") if openmetrics else REQUESTS
    yield f"# HELP {family} {_HELP[REQUESTS]}"
    yield f"# TYPE {family} counter"
    for lbl, series in zip(labels, samples, strict=True):
        for ts, s in zip(stamps, series, strict=True):
            yield f"{REQUESTS}{{{lbl}}} {_format_value(s.requests)}{ts}"

    yield f"# HELP {LATENCY} {_HELP[LATENCY]}"
    yield f"# TYPE {LATENCY} histogram"
    bounds = [_le(le) for le in (*LATENCY_BUCKETS, math.inf)]
    for lbl, series in zip(labels, samples, strict=True):
        for ts, s in zip(stamps, series, strict=True):
            for le, v in zip(bounds, s.buckets, strict=True):
                yield f'{LATENCY}_bucket{{{lbl},le="{le}"}} {_format_value(v)}{ts}'
            yield f"{LATENCY}_sum{{{lbl}}} {_format_value(s.latency_sum)}{ts}"
            yield f"{LATENCY}_count{{{lbl}}} {_format_value(s.count)}{ts}"


def generate_openmetrics(
    start: datetime,
    end: datetime,
    step_s: int,
    pods: Sequence[str],
    model: Model | None = None,
) -> str:
    """OpenMetrics text with a sample every `step_s` seconds from `start` to `end`
    (inclusive, aligned to multiples of step_s), ready for promtool's backfill."""
    if step_s <= 0:
        raise ValueError("step_s must be positive")
    if end < start:
        raise ValueError("end is before start")
    if not pods:
        raise ValueError("no pods")
    first = math.ceil(start.timestamp() / step_s) * step_s
    times = [float(t) for t in range(int(first), int(end.timestamp()) + 1, step_s)]
    lines = _families(model or WorkdayModel(), pods, times, openmetrics=True)
    return "\n".join([*lines, "# EOF"]) + "\n"


def exposition(pods: Sequence[str], t: float, model: Model | None = None) -> str:
    """Prometheus text format (0.0.4) of every series at time `t`, as a scrape sees it."""
    return "\n".join(_families(model or WorkdayModel(), pods, [t], openmetrics=False)) + "\n"


async def start_exporter(
    host: str,
    port: int,
    pods: Sequence[str],
    clock: Callable[[], float] = time.time,
    model: Model | None = None,
) -> web.AppRunner:
    """Serve GET /metrics with the model's values at `clock()`. Port 0 binds a free port:
    read it from `runner.addresses[0][1]`. Stop it with `await runner.cleanup()`.
    Scrape it with honor_labels, so the exposed job/instance match the backfilled series."""
    chosen = model or WorkdayModel()
    names = list(pods)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            text=exposition(names, clock(), chosen),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def _uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "surge-demo/" + "/".join(parts)))


def _controller(kind: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "name": name,
        "uid": _uid(kind, NAMESPACE, name),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def demo_objects(
    pods: Sequence[str], created: str = "2026-01-05T01:00:00Z"
) -> list[dict[str, Any]]:
    """The Kubernetes objects of the seed's service: Namespace, Deployment, its ReplicaSet
    and Running, Ready Pods owned by it (for the object index and --objects)."""
    template_labels = {**APP_LABELS, "pod-template-hash": POD_TEMPLATE_HASH}
    replicaset = f"{DEPLOYMENT}-{POD_TEMPLATE_HASH}"
    container = {
        "name": DEPLOYMENT,
        "image": "registry.example.com/ai-platform/ai-service:1.0.0",
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "1", "memory": "2Gi"},
            "limits": {"cpu": "2", "memory": "4Gi"},
        },
    }
    replicas = len(pods)

    def meta(kind: str, name: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": NAMESPACE,
            "uid": _uid(kind, NAMESPACE, name),
            "creationTimestamp": created,
            "labels": dict(labels),
            **extra,
        }

    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "uid": _uid("Namespace", NAMESPACE),
            "creationTimestamp": created,
            "labels": {"kubernetes.io/metadata.name": NAMESPACE},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    counts = {
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("Deployment", DEPLOYMENT, APP_LABELS, generation=1),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(APP_LABELS)},
            "template": {
                "metadata": {"labels": dict(APP_LABELS)},
                "spec": {"containers": [container]},
            },
        },
        "status": {**counts, "updatedReplicas": replicas, "observedGeneration": 1},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("Service", DEPLOYMENT, APP_LABELS),
        "spec": {
            "selector": dict(APP_LABELS),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    rs_owner = _controller("Deployment", DEPLOYMENT)
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta(
            "ReplicaSet", replicaset, template_labels, ownerReferences=[rs_owner], generation=1
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(template_labels)},
            "template": {
                "metadata": {"labels": dict(template_labels)},
                "spec": {"containers": [container]},
            },
        },
        "status": {**counts, "fullyLabeledReplicas": replicas, "observedGeneration": 1},
    }
    pod_owner = _controller("ReplicaSet", replicaset)
    ready = [
        {"type": kind, "status": "True", "lastTransitionTime": created}
        for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
    ]
    pod_objects = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta("Pod", pod, template_labels, ownerReferences=[pod_owner]),
            "spec": {"containers": [container], "nodeName": f"node-{i % 3 + 1}"},
            "status": {
                "phase": "Running",
                "conditions": ready,
                "podIP": pod_ip(pod),
                "startTime": created,
                "containerStatuses": [
                    {
                        "name": DEPLOYMENT,
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "image": container["image"],
                        "imageID": "",
                        "state": {"running": {"startedAt": created}},
                    }
                ],
            },
        }
        for i, pod in enumerate(pods)
    ]
    return [namespace, service, deployment, replica_set, *pod_objects]


def write_objects_yaml(path: Path, pods: Sequence[str]) -> None:
    """Write demo_objects as a `kind: List`, the shape `kubectl get -o yaml` prints."""
    document = {"apiVersion": "v1", "kind": "List", "items": demo_objects(pods)}
    path.write_text(yaml.safe_dump(document, sort_keys=False))


# -- resource usage: cAdvisor and kubelet series, for metrics.k8s.io -------------------

CPU_SERIES = "container_cpu_usage_seconds_total"
MEMORY_SERIES = "container_memory_working_set_bytes"
NODE_CPU_SERIES = "node_cpu_usage_seconds_total"
NODE_MEMORY_SERIES = "node_memory_working_set_bytes"


@dataclass(frozen=True)
class ContainerUsage:
    """One container's constant usage: `cpu_cores` per second of CPU time, `memory_bytes`
    of working set; None leaves that series out."""

    namespace: str
    pod: str
    container: str
    node: str
    cpu_cores: float | None
    memory_bytes: float | None


@dataclass(frozen=True)
class NodeUsage:
    node: str
    cpu_cores: float
    memory_bytes: float


@dataclass(frozen=True)
class ResourceUsage:
    """Known usage, rendered as the kubelet exposes it (cAdvisor container series labelled
    namespace, pod, container, node; node series from /metrics/resource). Each pod also
    gets its pod-level cgroup series (`container=""`, the sum of its containers), which
    cAdvisor exports too and which resource rules must leave out."""

    containers: tuple[ContainerUsage, ...]
    nodes: tuple[NodeUsage, ...]


def demo_resource_usage(pods: Sequence[str]) -> ResourceUsage:
    """Usage for demo_objects' pods (on node-1..3, as their specs say) and those nodes."""
    containers = tuple(
        ContainerUsage(
            NAMESPACE,
            pod,
            DEPLOYMENT,
            f"node-{i % 3 + 1}",
            0.25 * (i + 1),
            float(256 * 2**20 * (i + 1)),
        )
        for i, pod in enumerate(pods)
    )
    nodes = tuple(
        NodeUsage(f"node-{n}", 1.5 + n, float(4 * 2**30 + n * 2**20)) for n in range(1, 4)
    )
    return ResourceUsage(containers, nodes)


def _resource_families(usage: ResourceUsage, times: Sequence[float]) -> Iterator[str]:
    def stamp(t: float) -> str:
        return f" {int(t)}" if t.is_integer() else f" {t!r}"

    pods: dict[tuple[str, str, str], list[ContainerUsage]] = {}
    for c in usage.containers:
        pods.setdefault((c.namespace, c.pod, c.node), []).append(c)
    series: list[tuple[dict[str, str], float | None, float | None]] = []  # labels, cores, bytes
    for (namespace, pod, node), containers in pods.items():
        for c in containers:
            labels = {"container": c.container, "namespace": namespace, "pod": pod, "node": node}
            series.append((labels, c.cpu_cores, c.memory_bytes))
        whole = {"container": "", "namespace": namespace, "pod": pod, "node": node}
        cores = [c.cpu_cores for c in containers if c.cpu_cores is not None]
        bytes_ = [c.memory_bytes for c in containers if c.memory_bytes is not None]
        series.append((whole, sum(cores) if cores else None, sum(bytes_) if bytes_ else None))
    kubelet = {"job": "kubelet", "metrics_path": "/metrics/cadvisor"}
    nodes = [({"node": n.node, "job": "kubelet"}, n.cpu_cores, n.memory_bytes) for n in usage.nodes]
    for name, rows, counter in (
        (CPU_SERIES, [({**lbl, **kubelet}, cores) for lbl, cores, _ in series], True),
        (MEMORY_SERIES, [({**lbl, **kubelet}, bytes_) for lbl, _, bytes_ in series], False),
        (NODE_CPU_SERIES, [(lbl, cores) for lbl, cores, _ in nodes], True),
        (NODE_MEMORY_SERIES, [(lbl, bytes_) for lbl, _, bytes_ in nodes], False),
    ):
        family = name.removesuffix("_total") if counter else name
        yield f"# TYPE {family} {'counter' if counter else 'gauge'}"
        for labels, value in rows:
            if value is None:
                continue
            text = _format_labels(labels)
            for t in times:
                sample = value * (t - COUNTER_ORIGIN) if counter else value
                yield f"{name}{{{text}}} {_format_value(sample)}{stamp(t)}"


def generate_resource_openmetrics(
    start: datetime, end: datetime, step_s: int, usage: ResourceUsage
) -> str:
    """OpenMetrics text of `usage` from `start` to `end` every `step_s` seconds, for
    `promtool tsdb create-blocks-from openmetrics`: CPU counters grow at exactly their
    rate, so rate() and irate() over them give `cpu_cores`."""
    first, last = float(math.floor(start.timestamp())), end.timestamp()
    times = [float(first + k * step_s) for k in range(int((last - first) // step_s) + 1)]
    return "\n".join([*_resource_families(usage, times), "# EOF"]) + "\n"
