"""A stand-in for the seed's ai-service, to watch Surge and the HPAs work without the real one.

It serves, on /actuator/prometheus (the seed's Spring Boot path) and /metrics, the series the
seed's HPAs read: `http_requests_waiting` (gauge), `http_requests_total` (counter) and the
LLM latency histogram `ai_llm_response_time_seconds`. One number drives them: the total
queue, the requests waiting across all replicas, read from QUEUE_FILE (a ConfigMap key, so
`kubectl patch configmap` changes the load). Each replica reports its share, the queue over
the ready replicas it counts in PEERS_HOST's DNS records (a headless Service), and its LLM
latency grows with its share as in the seed's load test (p99 5 s at 50 waiting). An HPA
targeting 50 waiting per pod therefore settles at ceil(queue / 50) replicas.

Standard library only: it runs on a plain python:3.11-slim image.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from statistics import NormalDist

# Upper bounds of the latency histogram's finite buckets, in seconds.
BUCKETS = (0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60)
# (requests waiting in one pod, p99 LLM latency in seconds), after the seed's load test.
P99_BY_WAITING = ((0.0, 2.5), (20.0, 3.2), (50.0, 5.0), (120.0, 9.8), (300.0, 22.0), (1e3, 30.0))
# The load test's mean is about 0.45 x p99 at every concurrency: a lognormal of this sigma.
SIGMA = 0.373
CALLS_PER_SECOND = 5.0


def p99_seconds(waiting: float) -> float:
    """The p99 latency of a pod with this many requests waiting (linear between points)."""
    points = P99_BY_WAITING
    if waiting <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if waiting <= x1:
            return y0 + (y1 - y0) * (waiting - x0) / (x1 - x0)
    return points[-1][1]


def bucket_fractions(waiting: float) -> list[float]:
    """Share of calls at or under each bucket bound, for a pod with `waiting` requests."""
    mu = math.log(p99_seconds(waiting)) - NormalDist().inv_cdf(0.99) * SIGMA
    return [NormalDist(mu, SIGMA).cdf(math.log(le)) for le in BUCKETS]


class Pod:
    """This replica's counters, advanced by `tick` from the queue and the replica count."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting = 0.0
        self.calls = 0.0
        self.latency_sum = 0.0
        self.buckets = [0.0] * len(BUCKETS)

    def tick(self, queue: float, replicas: int, seconds: float) -> None:
        waiting = queue / max(replicas, 1)
        calls = CALLS_PER_SECOND * seconds
        mean = p99_seconds(waiting) * math.exp(SIGMA**2 / 2 - NormalDist().inv_cdf(0.99) * SIGMA)
        with self.lock:
            self.waiting = waiting
            self.calls += calls
            self.latency_sum += calls * mean
            for i, fraction in enumerate(bucket_fractions(waiting)):
                self.buckets[i] += calls * fraction

    def exposition(self) -> str:
        with self.lock:
            count = math.floor(self.calls)
            lines = [
                "# HELP http_requests_waiting Requests queued in this pod.",
                "# TYPE http_requests_waiting gauge",
                f"http_requests_waiting {round(self.waiting)}",
                "# HELP http_requests_total Requests served.",
                "# TYPE http_requests_total counter",
                f"http_requests_total {count}",
                "# HELP ai_llm_response_time_seconds Latency of LLM calls.",
                "# TYPE ai_llm_response_time_seconds histogram",
            ]
            for le, value in zip(BUCKETS, self.buckets, strict=True):
                lines.append(
                    f'ai_llm_response_time_seconds_bucket{{le="{le}"}} {math.floor(value)}'
                )
            lines += [
                f'ai_llm_response_time_seconds_bucket{{le="+Inf"}} {count}',
                f"ai_llm_response_time_seconds_sum {self.latency_sum:.3f}",
                f"ai_llm_response_time_seconds_count {count}",
            ]
        return "\n".join(lines) + "\n"


def read_queue(path: str) -> float:
    """The total queue from the file; 0 when it is missing or not a number."""
    try:
        with open(path) as f:
            return max(0.0, float(f.read().strip() or 0))
    except (OSError, ValueError):
        return 0.0


def count_replicas(host: str) -> int:
    """Ready replicas: the addresses a headless Service's name resolves to (1 if none)."""
    if not host:
        return 1
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return 1
    return max(1, len({info[4][0] for info in infos}))


def run_ticks(pod: Pod, queue_file: str, peers_host: str, stop: threading.Event) -> None:
    last = time.monotonic()
    while not stop.wait(1.0):
        now = time.monotonic()
        pod.tick(read_queue(queue_file), count_replicas(peers_host), now - last)
        last = now


def make_server(pod: Pod, port: int, host: str = "") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in ("/metrics", "/actuator/prometheus"):
                body, kind = pod.exposition().encode(), "text/plain; version=0.0.4"
            elif self.path == "/healthz":
                body, kind = b"ok\n", "text/plain"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every 15 s would drown the log

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    pod = Pod()
    stop = threading.Event()
    queue_file = os.environ.get("QUEUE_FILE", "/etc/load/queue")
    peers = os.environ.get("PEERS_HOST", "")
    threading.Thread(target=run_ticks, args=(pod, queue_file, peers, stop), daemon=True).start()
    server = make_server(pod, int(os.environ.get("PORT", "8080")))
    print(f"ai-service stand-in on :{server.server_port}, queue from {queue_file}", flush=True)

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(0)  # as PID 1, a signal without a handler would be ignored

    signal.signal(signal.SIGTERM, exit_now)
    try:
        server.serve_forever()
    finally:
        stop.set()
        server.server_close()


if __name__ == "__main__":
    main()
