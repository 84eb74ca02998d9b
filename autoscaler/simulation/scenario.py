"""The seed-workday scenario: the seed's traffic over a day, and what one pod makes of it.

Both halves come from the seed's two tables (shared/seeds/README.md), and the constants of
the capacity model are computed from those tables here (`calibrate`), not typed in, so
docs/simulate.md's derivation and the code cannot drift apart:

- the workday table (QPS, pods and CPU per period) gives the traffic curve and the CPU a
  pod burns per QPS;
- the one-pod load test (concurrency, mean and p99 latency, QPS) gives the LLM path: how
  many calls a pod has in flight for a given call rate, their p99, and the most it serves.

The tables disagree in places; where they do, the choice made is named where it is made.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

MIB = 2**20
GIB = 2**30
DAY_S = 86400.0
# The metrics the seed's rules serve, by what of a pod's state each one reads
# (autoscaler.simulation.capacity.QUANTITIES): a capacity file may name its own.
SEED_METRIC_NAMES = {
    "http_requests_waiting": "waiting",
    "http_requests_per_second": "qps",
    "ai_llm_response_time_p99_seconds": "p99Seconds",
    "ai_service_requests_waiting_total": "waitingTotal",
}


@dataclass(frozen=True)
class TrafficPeriod:
    """One row of the seed's workday table (its "HPA log of a typical workday")."""

    start_hour: float
    end_hour: float
    qps: tuple[float, float]
    pods: tuple[int, int]
    cpu_percent: tuple[float, float]

    @property
    def label(self) -> str:
        return f"{_clock(self.start_hour)}-{_clock(self.end_hour)}"

    @property
    def qps_per_pod(self) -> float:
        """Mid QPS over mid pods: the load one pod carried in this period."""
        return sum(self.qps) / sum(self.pods)

    @property
    def cpu_mid(self) -> float:
        return sum(self.cpu_percent) / 2


SEED_WORKDAY_TABLE: tuple[TrafficPeriod, ...] = (
    TrafficPeriod(0, 6, (40, 80), (2, 2), (15, 15)),
    TrafficPeriod(6, 9, (200, 400), (3, 4), (45, 45)),
    TrafficPeriod(9, 18, (800, 1200), (8, 12), (65, 72)),
    TrafficPeriod(18, 22, (1000, 1400), (10, 14), (70, 78)),
    TrafficPeriod(22, 24, (300, 500), (4, 5), (40, 40)),
)


@dataclass(frozen=True)
class LoadTestRow:
    """One row of the seed's load test of one pod (2 CPU, 4 GiB), every call to the LLM."""

    concurrency: int
    success: float
    mean_s: float
    p99_s: float
    qps: float


SEED_LOAD_TEST: tuple[LoadTestRow, ...] = (
    LoadTestRow(5, 1.0, 1.82, 3.2, 2.7),
    LoadTestRow(10, 1.0, 2.34, 5.1, 4.3),
    LoadTestRow(20, 0.993, 4.18, 9.8, 4.8),
    LoadTestRow(30, 0.971, 8.92, 22.0, 3.4),
)

# The traffic curve in local time (hour, QPS). Inside each period of the table it stays in
# the table's QPS range, averages about the middle of it, and follows a workday's shape
# (night trough, lunch and evening peaks); the steps between periods are 20-minute ramps
# centred on the table's boundaries. It wraps at midnight: the last ramp ends at 00:06.
SEED_WORKDAY_QPS: tuple[tuple[float, float], ...] = (
    (0.1, 76),
    (1.5, 60),
    (3.5, 42),
    (5.0, 52),
    (5.83, 78),
    (6.17, 205),
    (7.5, 300),
    (8.83, 390),
    (9.17, 810),
    (10.5, 960),
    (11.5, 1120),
    (12.5, 1030),
    (13.5, 940),
    (15.0, 1000),
    (16.5, 1080),
    (17.83, 1120),
    (18.17, 1170),
    (19.0, 1240),
    (20.0, 1310),
    (21.0, 1200),
    (21.83, 1040),
    (22.17, 480),
    (23.0, 420),
    (23.9, 310),
)
# Harmonics of the day (cycles per day, phase): a smooth, repeatable wobble over the curve.
_WOBBLE = ((7, 0.3), (13, 1.7), (29, 4.1))


def _clock(hour: float) -> str:
    return f"{int(hour):02d}:{round((hour % 1) * 60):02d}"


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear through `points` (sorted by x), continued linearly past the ends."""
    xs = [p[0] for p in points]
    i = min(max(bisect.bisect_right(xs, x), 1), len(points) - 1)
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class Traffic:
    """QPS of the whole Deployment at a unix time, from a daily curve in local time."""

    points: tuple[tuple[float, float], ...] = SEED_WORKDAY_QPS
    utc_offset_hours: float = 8.0  # the seed's service runs in China (UTC+8)
    wobble: float = 0.03  # the largest relative swing of the wobble
    scale: float = 1.0  # a multiplier, to ask "what if traffic grew by half?"

    def local_hour(self, t: float) -> float:
        return ((t + self.utc_offset_hours * 3600) % DAY_S) / 3600

    def qps(self, t: float) -> float:
        hour = self.local_hour(t)
        first, last = self.points[0], self.points[-1]
        # Wrap: the segment from the last point to the first crosses midnight.
        cyclic = ((last[0] - 24, last[1]), *self.points, (first[0] + 24, first[1]))
        base = _interpolate(cyclic, hour)
        phase = 2 * math.pi * hour / 24
        swing = sum(math.sin(k * phase + shift) for k, shift in _WOBBLE) / len(_WOBBLE)
        return max(base * (1 + self.wobble * swing) * self.scale, 0.0)


@dataclass(frozen=True)
class PodLoad:
    """One ready pod's state under the load it gets (traffic is split evenly)."""

    qps: float
    cpu_percent: float  # of the CPU request, as the HPA's Utilization reads it
    memory_bytes: float
    waiting: float  # requests in the pod not answered yet (http_requests_waiting)
    llm_concurrency: float  # LLM calls in flight
    p99_seconds: float  # p99 latency of the LLM calls, queueing included


@dataclass(frozen=True)
class Capacity:
    """What one pod does with the QPS it gets; built by `calibrate` from the seed's tables.

    CPU: `cpu_percent = reference_percent * (qps / reference_qps) ** cpu_exponent`, capped at
    the CPU limit. LLM: a share of requests calls the LLM; the load test, read through
    Little's law (concurrency = rate x mean latency), turns their rate into calls in flight,
    whose p99 the load test gives too; past the pod's best throughput the excess queues.
    Waiting requests are all requests in the pod (Little's law again): the LLM calls in
    flight, the other requests times their time in the pod, and the queue.
    """

    reference_qps: float
    cpu_exponent: float
    llm_share: float
    web_seconds: float
    reference_percent: float = 70.0
    load_test: tuple[LoadTestRow, ...] = SEED_LOAD_TEST
    cpu_request_milli: int = 500  # the seed's Deployment: requests cpu 500m, memory 1Gi
    cpu_limit_milli: int = 2000
    memory_request_bytes: int = GIB
    memory_base_bytes: float = 480 * MIB  # the JVM and the model, held whatever the load
    memory_per_request_bytes: float = 1 * MIB
    startup_cpu_percent: float = 150.0  # a JVM starting burns CPU before it is ready

    metric_names = SEED_METRIC_NAMES
    ready_delay_s = 40.0  # the seed's readiness probe: 30 s initial delay + 10 s period

    @property
    def queued_share(self) -> float:
        """Only the LLM calls queue past the pod's capacity."""
        return self.llm_share

    @property
    def queue_throughput(self) -> float:
        return self.llm_capacity

    def cpu_percent(self, qps: float) -> float:
        if qps <= 0:
            return 0.0
        percent = self.reference_percent * (qps / self.reference_qps) ** self.cpu_exponent
        return min(percent, 100.0 * self.cpu_limit_milli / self.cpu_request_milli)

    def _mean_latency(self, concurrency: float) -> float:
        """The load test's mean latency at a concurrency; flat below its first row."""
        rows = self.load_test
        if concurrency <= rows[0].concurrency:
            return rows[0].mean_s
        return _interpolate([(r.concurrency, r.mean_s) for r in rows], concurrency)

    def llm_throughput(self, concurrency: float) -> float:
        """Calls per second completed at a concurrency: concurrency / mean latency."""
        return concurrency / self._mean_latency(concurrency)

    @property
    def peak_concurrency(self) -> float:
        """Where throughput peaks: a row of the table, as latency is piecewise linear."""
        return max(self.load_test, key=lambda r: r.concurrency / r.mean_s).concurrency

    @property
    def llm_capacity(self) -> float:
        """The most LLM calls per second one pod completes."""
        return self.llm_throughput(self.peak_concurrency)

    def llm_concurrency(self, rate: float) -> float:
        """Calls in flight for a call rate below capacity (the rising side of the curve).

        Mean latency is linear in concurrency on each segment of the load test (m = a + b c),
        so the throughput c / (a + b c) = rate inverts exactly: c = rate a / (1 - rate b)."""
        if rate <= 0:
            return 0.0
        if rate >= self.llm_capacity:
            return self.peak_concurrency
        rows = self.load_test
        if rate <= self.llm_throughput(rows[0].concurrency):
            return rate * rows[0].mean_s
        for low, high in itertools.pairwise(rows):
            if rate <= self.llm_throughput(high.concurrency):
                b = (high.mean_s - low.mean_s) / (high.concurrency - low.concurrency)
                a = low.mean_s - b * low.concurrency
                return rate * a / (1 - rate * b)
        return self.peak_concurrency

    def p99(self, concurrency: float) -> float:
        """The load test's p99 latency at a concurrency; flat below its first row."""
        rows = self.load_test
        if concurrency <= rows[0].concurrency:
            return rows[0].p99_s
        return _interpolate([(r.concurrency, r.p99_s) for r in rows], concurrency)

    def pod_load(self, qps: float, queued: float = 0.0) -> PodLoad:
        """A ready pod at `qps`, with `queued` LLM calls waiting for a slot."""
        rate = self.llm_share * qps
        if queued > 0:
            concurrency = self.peak_concurrency
            p99 = self.p99(concurrency) + queued / self.llm_capacity
        else:
            concurrency = self.llm_concurrency(rate)
            p99 = self.p99(concurrency)
        waiting = concurrency + (1 - self.llm_share) * qps * self.web_seconds + queued
        return PodLoad(
            qps=qps,
            cpu_percent=self.cpu_percent(qps),
            memory_bytes=self.memory_base_bytes + self.memory_per_request_bytes * waiting,
            waiting=waiting,
            llm_concurrency=concurrency,
            p99_seconds=p99,
        )

    def startup_load(self) -> PodLoad:
        """A pod that is not ready: no traffic, and the CPU of a JVM starting."""
        return PodLoad(0.0, self.startup_cpu_percent, self.memory_base_bytes, 0.0, 0.0, 0.0)


def fit_cpu_curve(rows: Sequence[TrafficPeriod], reference_percent: float) -> tuple[float, float]:
    """Least squares of log(CPU) on log(QPS per pod): (QPS at the reference CPU, exponent)."""
    xs = [math.log(r.qps_per_pod) for r in rows]
    ys = [math.log(r.cpu_mid) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    exponent = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    scale = math.exp(my - exponent * mx)  # cpu = scale * qps ** exponent
    return (reference_percent / scale) ** (1 / exponent), exponent


def calibrate(
    table: Sequence[TrafficPeriod] = SEED_WORKDAY_TABLE,
    load_test: tuple[LoadTestRow, ...] = SEED_LOAD_TEST,
    cpu_target: float = 70.0,
    waiting_target: float = 50.0,
    latency_target_s: float = 5.0,
    tolerance: float = 0.1,
) -> Capacity:
    """The capacity model from the seed's tables and its HPAs' targets.

    1. CPU: fitted on the rows where the HPA held CPU at its target (within the tolerance:
       the two daytime rows, about 70% at 100 QPS per pod) and on the lightest row (night,
       15% at 30) for the low end. The morning and late-evening rows (40-45% CPU at 70-100
       QPS per pod) fit no curve together with the daytime rows, and a 70% target would
       have scaled a steady 45% down.
    2. LLM share: the seed's targets describe one operating point, the load where CPU is at
       its 70% target; there the LLM calls run at the concurrency whose p99 is the latency
       target (5 s: concurrency about 10, the low end of the load test's best 10-15).
    3. Time in the pod of the other requests: so that waiting requests reach their target
       (50) at that same load.
    """
    lowest = min(table, key=lambda r: r.qps_per_pod)
    holding = [r for r in table if abs(r.cpu_mid / cpu_target - 1) <= tolerance]
    fitted = [lowest, *(r for r in holding if r is not lowest)]
    reference_qps, exponent = fit_cpu_curve(fitted, cpu_target)
    shape = Capacity(reference_qps, exponent, 0.0, 0.0, cpu_target, load_test)
    low, high = 0.0, shape.peak_concurrency
    for _ in range(50):
        mid = (low + high) / 2
        if shape.p99(mid) < latency_target_s:
            low = mid
        else:
            high = mid
    concurrency = (low + high) / 2
    share = shape.llm_throughput(concurrency) / reference_qps
    web_seconds = (waiting_target - concurrency) / ((1 - share) * reference_qps)
    return Capacity(reference_qps, exponent, share, web_seconds, cpu_target, load_test)


class CapacityModel(Protocol):
    """What the simulator asks of a capacity model."""

    cpu_request_milli: int
    memory_request_bytes: int
    ready_delay_s: float

    @property
    def metric_names(self) -> Mapping[str, str]:
        """HPA metric name -> the quantity (of capacity.QUANTITIES) that answers it."""
        ...

    @property
    def queued_share(self) -> float:
        """The share of requests that join the backlog past the pods' throughput."""
        ...

    @property
    def queue_throughput(self) -> float:
        """What one pod drains of the backlog per second."""
        ...

    def pod_load(self, qps: float, queued: float = 0.0) -> PodLoad: ...

    def startup_load(self) -> PodLoad: ...


@dataclass
class Service:
    """The Deployment's ready pods sharing the traffic, with the LLM queue it builds up.

    Calls beyond what the ready pods complete wait in a queue (a fluid model: the excess
    rate accumulates) that drains when the rate falls or pods are added; while it is not
    empty, pods run their LLM calls at the load test's peak and each queued call adds its
    wait to the latency.
    """

    capacity: CapacityModel
    queued: float = 0.0  # LLM calls (or, for a capacity file, requests) waiting, all pods

    def step(self, qps: float, ready_pods: int, seconds: float) -> PodLoad:
        """Advance `seconds` at `qps` over `ready_pods`; the load of each ready pod."""
        cap = self.capacity
        if ready_pods <= 0:
            self.queued += cap.queued_share * qps * seconds
            return PodLoad(0.0, 0.0, cap.startup_load().memory_bytes, 0.0, 0.0, math.inf)
        excess = (cap.queued_share * qps - cap.queue_throughput * ready_pods) * seconds
        self.queued = max(self.queued + excess, 0.0)
        return cap.pod_load(qps / ready_pods, self.queued / ready_pods)
