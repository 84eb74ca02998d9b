"""The seed service's metrics, as Prometheus would scrape them in a cluster, for exactly the
pods that exist (the fake kubelet's Running pods) and with the load each test sets.

Per pod of a namespace with a load: `http_requests_waiting` (kube-prometheus' target
labels, with `deployment` and `service`; or one gateway series per namespace when the load
says the queue is held in front of the service, as KEDA's scale-from-zero needs), the LLM
latency histogram `ai_llm_response_time_seconds`, and cAdvisor's
`container_cpu_usage_seconds_total` / `container_memory_working_set_bytes` (container and
pod-level series, job=kubelet); per Node: `node_cpu_usage_seconds_total` /
`node_memory_working_set_bytes`; per namespace whose load sets `gateway_pending`, the
gateway's `gateway_requests_pending` for the Deployment, there with or without pods (an
Object metric that brings a Deployment back from zero). The load is the service's whole:
the queue and the CPU are shared evenly by the Running pods, so scaling out lowers each
pod's share as it would in the service.

Counters are integrated between scrapes at the current rate, so `irate()` over them gives
the rate set. The p99 comes from the seed's histogram rule (histogram_quantile over a 5m
rate): every time the service's latency changes bucket, the exporter observes 10^4 times
as often as before, so the new latency outweighs the last five minutes within seconds
instead of five minutes: a compressed clock, like the HPA's windows.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.e2e.pki import LOOPBACK

LATENCY_BUCKETS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0)
# The seed's load test: LLM calls in flight per pod -> p99 latency (s); below 5 calls the
# latency falls towards a 1 s floor, past 30 it keeps climbing at the last slope.
P99_BY_CONCURRENCY = ((0.0, 0.9), (5.0, 3.2), (10.0, 5.1), (20.0, 9.8), (30.0, 22.0))
DOMINANCE = 1e4
NODE_BASE_CPU = 0.5  # cores the node itself uses besides its pods
NODE_BASE_MEMORY = 2 * 2**30


def p99_for(concurrency: float) -> float:
    points = P99_BY_CONCURRENCY
    for (c0, l0), (c1, l1) in itertools.pairwise(points):
        if concurrency <= c1:
            return l0 + (l1 - l0) * (max(concurrency, c0) - c0) / (c1 - c0)
    (c0, l0), (c1, l1) = points[-2], points[-1]
    return l1 + (l1 - l0) * (concurrency - c1) / (c1 - c0)


def bucket_index(latency: float) -> int:
    """Index of the first bucket whose bound holds `latency` (len = +Inf)."""
    return bisect.bisect_left(LATENCY_BUCKETS, latency)


@dataclass(frozen=True)
class Load:
    """The service's load: `waiting` requests queued and `cpu_cores` in use, summed over
    its pods; `memory_bytes` of working set in each pod; `llm_calls` in flight, summed
    (None: no latency histogram); `gateway_pending` requests the gateway in front of the
    Deployment holds (None: no gateway series)."""

    waiting: float
    cpu_cores: float
    memory_bytes: float
    llm_calls: float | None = None
    # The queue is held by a gateway in front of the service (one series without a pod
    # label, there with no pod running, as a broker's would be), not by the pods.
    queued_at_gateway: bool = False
    gateway_pending: float | None = None


@dataclass
class _Counters:
    """A pod's or node's counters and the time they were last advanced."""

    at: float
    cpu: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0


@dataclass
class _Calls:
    """A service's LLM calls: the bucket its latency is in, observations per second."""

    bucket: int | None = None
    rate: float = 1.0


class Exporter:
    """Serves /metrics on 127.0.0.1 from a thread; `running()` gives namespace ->
    {pod: node} of the pods to publish."""

    def __init__(
        self,
        running: Callable[[], dict[str, dict[str, str]]],
        nodes: tuple[str, ...],
        deployment: str = "ai-service",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._running = running
        self.nodes = nodes
        self.deployment = deployment
        self._clock = clock
        self._loads: dict[str, Load] = {}
        self._pods: dict[tuple[str, str], _Counters] = {}
        self._node_cpu: dict[str, _Counters] = {}
        self._calls: dict[str, _Calls] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def set_load(self, namespace: str, load: Load | None) -> None:
        with self._lock:
            if load is None:
                self._loads.pop(namespace, None)
            else:
                self._loads[namespace] = load

    @property
    def target(self) -> str:
        assert self._server is not None
        return f"{LOOPBACK}:{self._server.server_address[1]}"

    def render(self) -> str:
        with self._lock:
            return "\n".join(self._lines()) + "\n"

    def _lines(self) -> Iterator[str]:
        now = self._clock()
        running = self._running()
        waiting, latency, cpu, memory, pending = [], [], [], [], []
        node_cpu = dict.fromkeys(self.nodes, NODE_BASE_CPU)
        node_memory = dict.fromkeys(self.nodes, float(NODE_BASE_MEMORY))
        for namespace, load in sorted(self._loads.items()):
            if load.gateway_pending is not None:
                front = f'namespace="{namespace}",deployment="{self.deployment}",job="gateway"'
                pending.append(f"gateway_requests_pending{{{front}}} {load.gateway_pending}")
            pods = running.get(namespace, {})
            if load.queued_at_gateway:
                gateway = f'namespace="{namespace}",service="{self.deployment}",job="gateway"'
                waiting.append(f"http_requests_waiting{{{gateway}}} {load.waiting}")
            if not pods:
                continue
            share = 1.0 / len(pods)
            calls = self._calls.setdefault(namespace, _Calls())
            if load.llm_calls is not None:
                p99 = p99_for(load.llm_calls * share)
                if calls.bucket is not None and bucket_index(p99) != calls.bucket:
                    calls.rate *= DOMINANCE
                calls.bucket = bucket_index(p99)
            for pod, node in sorted(pods.items()):
                c = self._pods.setdefault((namespace, pod), _Counters(at=now))
                cores = load.cpu_cores * share
                c.cpu += cores * (now - c.at)
                target = (
                    f'namespace="{namespace}",pod="{pod}",deployment="{self.deployment}",'
                    f'service="{self.deployment}",job="{self.deployment}",'
                    f'container="{self.deployment}"'
                )
                if not load.queued_at_gateway:
                    waiting.append(f"http_requests_waiting{{{target}}} {load.waiting * share}")
                if load.llm_calls is not None:
                    latency.extend(self._observe(c, target, p99, calls.rate * share, now))
                c.at = now
                kubelet = f'namespace="{namespace}",pod="{pod}",node="{node}",job="kubelet"'
                for container in (self.deployment, ""):  # the container, then the pod cgroup
                    series = f'{{{kubelet},container="{container}"}}'
                    cpu.append(f"container_cpu_usage_seconds_total{series} {c.cpu}")
                    memory.append(f"container_memory_working_set_bytes{series} {load.memory_bytes}")
                if node in node_cpu:
                    node_cpu[node] += cores
                    node_memory[node] += load.memory_bytes
        yield "# TYPE http_requests_waiting gauge"
        yield from waiting
        yield "# TYPE gateway_requests_pending gauge"
        yield from pending
        yield "# TYPE ai_llm_response_time_seconds histogram"
        yield from latency
        yield "# TYPE container_cpu_usage_seconds_total counter"
        yield from cpu
        yield "# TYPE container_memory_working_set_bytes gauge"
        yield from memory
        yield "# TYPE node_cpu_usage_seconds_total counter"
        for node in self.nodes:
            n = self._node_cpu.setdefault(node, _Counters(at=now))
            n.cpu += node_cpu[node] * (now - n.at)
            n.at = now
            yield f'node_cpu_usage_seconds_total{{node="{node}",job="kubelet"}} {n.cpu}'
        yield "# TYPE node_memory_working_set_bytes gauge"
        for node in self.nodes:
            labels = f'node="{node}",job="kubelet"'
            yield f"node_memory_working_set_bytes{{{labels}}} {node_memory[node]}"

    @staticmethod
    def _observe(
        c: _Counters, target: str, latency: float, rate: float, now: float
    ) -> Iterator[str]:
        observed = rate * (now - c.at)
        for i in range(bucket_index(latency), len(c.buckets)):
            c.buckets[i] += observed
        c.latency_sum += observed * latency
        bounds = [*(f"{b:g}" for b in LATENCY_BUCKETS), "+Inf"]
        for bound, count in zip(bounds, c.buckets, strict=True):
            yield f'ai_llm_response_time_seconds_bucket{{{target},le="{bound}"}} {count}'
        yield f"ai_llm_response_time_seconds_sum{{{target}}} {c.latency_sum}"
        yield f"ai_llm_response_time_seconds_count{{{target}}} {c.buckets[-1]}"

    def start(self) -> None:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
