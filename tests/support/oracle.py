"""Expected answers for the constant test data, computed without Prometheus or Surge.

The `prometheus_constant` fixture backfills `ConstantModel` series; these functions say
what a correct query over them returns, from the model's definition alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from surge.demo.data import NAMESPACE, ConstantModel
from surge.demo.localprom import LocalPrometheus


@dataclass(frozen=True)
class ConstantData:
    """A running Prometheus holding ConstantModel series for `pods` (in namespace
    ai-platform, service/job ai-service), current from 6 h ago to 3 h ahead."""

    prometheus: LocalPrometheus
    pods: tuple[str, ...]
    model: ConstantModel
    namespace: str = NAMESPACE

    @property
    def url(self) -> str:
        return self.prometheus.url

    def index(self, pod: str) -> int:
        return self.pods.index(pod)

    def waiting(self, pod: str) -> float:
        """http_requests_waiting of one pod."""
        return self.model.waiting(self.index(pod))

    def request_rate(self, pod: str) -> float:
        """rate(http_requests_total[w]) of one pod, for any window of two samples or more."""
        return self.model.request_rate(self.index(pod))

    def latency_quantile(self, q: float, pods: Sequence[str]) -> float:
        """histogram_quantile(q, sum by (le) (rate(ai_llm_response_time_seconds_bucket[w])))
        over `pods`."""
        summed: dict[float, float] = {}
        for pod in pods:
            for le, rate in self.model.bucket_rates(self.index(pod)):
                summed[le] = summed.get(le, 0.0) + rate
        return histogram_quantile(q, sorted(summed.items()))

    def mean_latency(self, pods: Sequence[str]) -> float:
        """sum(rate(_sum)) / sum(rate(_count)) over `pods`."""
        indexes = [self.index(p) for p in pods]
        total = sum(self.model.request_rate(i) * self.model.latency_mean(i) for i in indexes)
        return total / sum(self.model.request_rate(i) for i in indexes)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """PromQL's histogram_quantile over classic buckets [(upper bound, cumulative count)]
    sorted by bound: linear interpolation inside the bucket holding rank q * total, the
    lowest bucket starting at 0, and the highest finite bound when the rank lands in +Inf."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]) or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    index = next(i for i, (_, count) in enumerate(buckets) if count >= rank)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    upper, count = buckets[index]
    if index == 0 and upper <= 0:
        return upper
    lower, below = buckets[index - 1] if index > 0 else (0.0, 0.0)
    return lower + (upper - lower) * (rank - below) / (count - below)
