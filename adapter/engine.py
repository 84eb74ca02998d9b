"""The hot path between metric requests and Prometheus.

The HPA controller asks for every metric of every HPA every 15 s. Answering each request
with its own query (prometheus-adapter, and `--engine=naive` here) costs Prometheus one
query per request. The optimized engine instead:

- coalesces identical in-flight queries: waiters share one backend call;
- batches: a rule whose query keeps objects apart is asked once for every object of every
  namespace (adapter/batching.py) and each request is answered from that result;
- keeps each result as a snapshot with its evaluation time, served while younger than
  `freshness`; items carry the snapshot's own timestamp;
- refreshes recently asked snapshots in the background before they expire, so in steady
  state no request waits on Prometheus;
- on failure keeps the last snapshot and serves it while younger than `max_staleness`,
  then answers 503 so the HPA holds; a failing key is retried once per freshness period;
- tells subscribers (apiservice.changes) which snapshot was refreshed or failed, so a
  stream that must push on change is woken by the refresh it shares with everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from adapter.batching import NotWidenable, Widened, widen
from adapter.discovery import SeriesInfo
from adapter.prometheus import BackendError, PrometheusClient, QueryResult
from apiservice.changes import Listener, note_read
from apiservice.errors import APIError, ServiceUnavailable
from apiservice.provider import GroupResource
from apiservice.selectors import Selector

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class Answer:
    """A query result and the time it describes; items carry this timestamp."""

    result: QueryResult
    evaluated_at: float


@dataclass(frozen=True)
class CustomRequest:
    """One request's question: a rule's metric for some objects of one resource."""

    series: SeriesInfo
    gr: GroupResource
    namespace: str  # "" for cluster-scoped objects
    metric_selector: Selector
    names: tuple[str, ...]
    metric: str  # the API name, for metric labels


@dataclass(frozen=True)
class Values:
    """Values by object name (prometheus-adapter's MatchValuesToNames) and their time."""

    by_name: dict[str, float]
    evaluated_at: float


@dataclass
class EngineSettings:
    freshness_s: float = 10.0
    max_staleness_s: float = 120.0
    refresh_ahead: float = 0.7  # refresh a hot key once this share of freshness has passed
    idle_after_s: float = 60.0  # stop refreshing keys nobody asked for this long
    max_concurrency: int = 8
    max_series_per_query: int = 50_000
    max_query_length: int = 12_000  # below VictoriaMetrics' 16 KB default


class EngineMetrics:
    """What the engine exports on /metrics."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.queries = Counter(
            "surge_backend_queries", "Queries sent to Prometheus.", ["rule"], registry=reg
        )
        self.coalesced = Counter(
            "surge_coalesced_waiters",
            "Requests that waited on a query already in flight instead of sending their own.",
            registry=reg,
        )
        self.cache = Counter(
            "surge_cache_requests", "Snapshot lookups by result.", ["result"], registry=reg
        )
        self.stale = Counter(
            "surge_stale_answers",
            "Answers served from a snapshot older than the freshness "
            "bound because the backend failed.",
            ["rule"],
            registry=reg,
        )
        self.errors = Counter(
            "surge_backend_errors", "Failed backend queries by kind.", ["kind"], registry=reg
        )
        self.latency = Histogram(
            "surge_backend_query_duration_seconds",
            "Latency of queries to Prometheus.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=reg,
        )
        self.age = Gauge(
            "surge_snapshot_age_max_seconds",
            "Age of the oldest snapshot served from, per rule.",
            ["rule"],
            registry=reg,
        )
        self.fallback = Gauge(
            "surge_rule_per_request",
            "1 when a rule is answered with per-request queries instead of one batched query.",
            ["rule", "reason"],
            registry=reg,
        )
        self.hits, self.misses = self.cache.labels("hit"), self.cache.labels("miss")
        self._ages: dict[str, Any] = {}
        self.max_staleness = Gauge(
            "surge_max_staleness_seconds", "The configured max-staleness bound.", registry=reg
        )

    def age_of(self, rule: str) -> Any:
        """The snapshot-age gauge of a rule (children kept: labels() is not free)."""
        child = self._ages.get(rule)
        if child is None:
            child = self._ages[rule] = self.age.labels(rule)
        return child


@dataclass
class _Entry:
    """One cached query: its snapshot, the refresh in flight, and when it was last wanted."""

    query: str
    rule: str
    snapshot: Answer | None = None
    inflight: asyncio.Future[Answer] | None = None
    asked_at: float = 0.0
    failed_at: float | None = None
    error: APIError | None = None
    indexed: tuple[Answer, dict[tuple[str, str], float]] | None = field(default=None, repr=False)


class NaiveEngine:
    """One backend query per request, no cache: prometheus-adapter's behaviour."""

    def __init__(self, prometheus: PrometheusClient, clock: Clock = time.time) -> None:
        self.prometheus = prometheus
        self.clock = clock

    async def query(self, promql: str, rule: str = "") -> Answer:
        now = self.clock()
        return Answer(await self.prometheus.query(promql, at=now), now)

    async def custom(self, req: CustomRequest) -> Values:
        query = req.series.namer.query_for_series(
            req.series.series_name, req.gr, req.namespace, req.metric_selector, req.names
        )
        answer = await self.query(query, req.metric)
        return Values(_match_names(req, answer.result), answer.evaluated_at)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _vector(result: QueryResult) -> QueryResult:
    """Custom metrics need a vector; anything else is a backend error (500), as in PA."""
    if result.result_type != "vector":
        raise BackendError(f"expected a vector from Prometheus, got a {result.result_type}")
    return result


def _match_names(req: CustomRequest, result: QueryResult) -> dict[str, float]:
    """Sample values keyed by the resource label; the last sample for a name wins."""
    label = req.series.namer.label_for_resource(req.gr)
    return {s.labels.get(label, ""): s.value for s in _vector(result).samples}


class OptimizedEngine(NaiveEngine):
    """Coalesced, batched, cached and refreshed ahead; see the module docstring."""

    def __init__(
        self,
        prometheus: PrometheusClient,
        settings: EngineSettings | None = None,
        *,
        clock: Clock = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(prometheus, clock)
        self.settings = settings or EngineSettings()
        self.metrics = EngineMetrics(registry)
        self.metrics.max_staleness.set(self.settings.max_staleness_s)
        self._entries: dict[str, _Entry] = {}
        self._widened: dict[tuple[Any, ...], Widened | NotWidenable] = {}
        self._oversize: set[str] = set()
        self._backend = asyncio.Semaphore(self.settings.max_concurrency)
        self._refresher: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """apiservice.changes.ChangeFeed: `listener` gets the query of every snapshot
        refreshed or failed; keys are the queries answers read (`note_read`)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, query: str) -> None:
        keys = frozenset((query,))
        for listener in list(self._listeners):
            try:
                listener(keys)
            except Exception:
                log.exception("a snapshot listener failed")

    # -- the backend, bounded and counted --------------------------------------------

    async def _fetch(self, entry: _Entry) -> Answer:
        async with self._backend:
            now = self.clock()
            started = time.perf_counter()
            self.metrics.queries.labels(entry.rule).inc()
            try:
                result = await self.prometheus.query(entry.query, at=now)
            except APIError as err:
                self.metrics.errors.labels(type(err).__name__).inc()
                raise
            finally:
                self.metrics.latency.observe(time.perf_counter() - started)
        return Answer(result, now)

    async def _refresh(self, entry: _Entry) -> Answer:
        """Run the entry's query, or join the run already in flight."""
        if entry.inflight is not None:
            self.metrics.coalesced.inc()
            return await asyncio.shield(entry.inflight)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        entry.inflight = future
        try:
            answer = await self._fetch(entry)
        except APIError as err:
            entry.failed_at, entry.error = self.clock(), err
            future.set_exception(err)
            future.exception()  # retrieved: a failure nobody waits on is not an error
            raise
        else:
            entry.snapshot = answer
            entry.failed_at = entry.error = None
            future.set_result(answer)
            return answer
        finally:
            entry.inflight = None
            self._notify(entry.query)

    # -- snapshots --------------------------------------------------------------------

    def _entry(self, query: str, rule: str) -> _Entry:
        entry = self._entries.get(query)
        if entry is None:
            entry = self._entries[query] = _Entry(query, rule)
        entry.asked_at = self.clock()
        note_read(query)
        return entry

    async def _answer(self, entry: _Entry) -> Answer:
        """A fresh snapshot, else a refreshed one, else a stale one within the bound.

        After a failure, requests don't wait on the backend again until the refresher
        has retried it (at least once per freshness period): they get the stale
        snapshot, or the failure itself when there is none.
        """
        s = self.settings
        now = self.clock()
        snap = entry.snapshot
        if snap is not None and now - snap.evaluated_at < s.freshness_s:
            self.metrics.hits.inc()
            return self._served(entry, snap, now)
        self.metrics.misses.inc()
        if entry.error is not None and entry.inflight is None:
            failure = entry.error
        else:
            try:
                return self._served(entry, await self._refresh(entry), self.clock())
            except APIError as err:
                failure = err
        if snap is None:
            raise failure
        now = self.clock()
        age = now - snap.evaluated_at
        if age < s.max_staleness_s:
            self.metrics.stale.labels(entry.rule).inc()
            return self._served(entry, snap, now)
        raise ServiceUnavailable(
            f"unable to fetch metrics: the last good answer is {age:.0f}s old "
            f"(max staleness {s.max_staleness_s:g}s) and the backend fails: {failure.message}"
        )

    def _served(self, entry: _Entry, answer: Answer, now: float) -> Answer:
        self.metrics.age_of(entry.rule).set(max(0.0, now - answer.evaluated_at))
        return answer

    async def query(self, promql: str, rule: str = "") -> Answer:
        return await self._answer(self._entry(promql, rule))

    # -- custom metrics ---------------------------------------------------------------

    def _widen(self, req: CustomRequest, namespaced: bool) -> Widened | NotWidenable:
        key = (id(req.series.namer), req.series.series_name, req.gr, str(req.metric_selector))
        known = self._widened.get(key)
        if known is None:
            try:
                known = widen(
                    req.series.namer,
                    req.series.series_name,
                    req.gr,
                    req.metric_selector,
                    namespaced=namespaced,
                )
            except NotWidenable as err:
                log.info("metric %s of %s: per-request queries (%s)", req.metric, req.gr, err)
                self.metrics.fallback.labels(req.metric, "not-separable").set(1)
                known = err
            self._widened[key] = known
        return known

    async def custom(self, req: CustomRequest) -> Values:
        widened = self._widen(req, namespaced=bool(req.namespace))
        if isinstance(widened, Widened) and widened.query not in self._oversize:
            entry = self._entry(widened.query, req.metric)
            answer = await self._answer(entry)
            if len(answer.result.samples) <= self.settings.max_series_per_query:
                if entry.indexed is None or entry.indexed[0] is not answer:
                    entry.indexed = (answer, _index(answer.result, widened))
                index = entry.indexed[1]
                ns = req.namespace if widened.namespace_label else ""
                values = {n: index[(ns, n)] for n in req.names if (ns, n) in index}
                return Values(values, answer.evaluated_at)
            log.warning(
                "metric %s: %d series exceed --max-series-per-query=%d; per-request queries",
                req.metric,
                len(answer.result.samples),
                self.settings.max_series_per_query,
            )
            self.metrics.fallback.labels(req.metric, "too-many-series").set(1)
            self._oversize.add(widened.query)
            self._entries.pop(widened.query, None)
        chunks = _chunks(req, self.settings.max_query_length, split=isinstance(widened, Widened))
        answers = await asyncio.gather(*(self.query(q, req.metric) for q in chunks))
        values: dict[str, float] = {}
        for answer in answers:
            values.update(_match_names(req, answer.result))
        return Values(values, min(a.evaluated_at for a in answers))

    # -- refresh ahead ----------------------------------------------------------------

    def due(self, now: float) -> list[_Entry]:
        """Hot entries whose snapshot will expire soon, or whose last refresh failed."""
        s = self.settings
        out = []
        for query, entry in list(self._entries.items()):
            if now - entry.asked_at > max(s.idle_after_s, s.max_staleness_s):
                del self._entries[query]
                continue
            if now - entry.asked_at > s.idle_after_s or entry.inflight is not None:
                continue
            if entry.failed_at is not None:
                if now - entry.failed_at >= s.freshness_s / 2:
                    out.append(entry)  # retry a failing backend
            elif entry.snapshot is not None:
                if now - entry.snapshot.evaluated_at >= s.freshness_s * s.refresh_ahead:
                    out.append(entry)
        return out

    async def refresh_due(self) -> int:
        """Refresh every due entry once; failures are kept on the entries."""
        due = self.due(self.clock())
        results = await asyncio.gather(*(self._refresh(e) for e in due), return_exceptions=True)
        for entry, result in zip(due, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, APIError):
                log.error("refresh of %s failed: %r", entry.rule, result)
        return len(due)

    async def _refresh_loop(self) -> None:
        tick = max(0.05, self.settings.freshness_s * (1 - self.settings.refresh_ahead) / 2)
        while True:
            await asyncio.sleep(tick)
            try:
                await self.refresh_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("refresh-ahead round failed")

    async def start(self) -> None:
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop(), name="refresh-ahead")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None


def _index(result: QueryResult, widened: Widened) -> dict[tuple[str, str], float]:
    """(namespace, object) -> value; as prometheus-adapter, the last sample wins."""
    ns_label, res_label = widened.namespace_label, widened.resource_label
    return {
        (s.labels.get(ns_label, "") if ns_label else "", s.labels.get(res_label, "")): s.value
        for s in _vector(result).samples
    }


def _chunks(req: CustomRequest, limit: int, *, split: bool) -> list[str]:
    """Per-request queries: the names in as few queries as fit `limit` characters each.

    Only a separable query may be split (each object's value does not depend on the
    others); any other runs whole, however long, by POST.
    """

    def render(names: Sequence[str]) -> str:
        return req.series.namer.query_for_series(
            req.series.series_name, req.gr, req.namespace, req.metric_selector, names
        )

    whole = render(req.names)
    if not split or len(whole) <= limit or len(req.names) < 2:
        return [whole]
    half = len(req.names) // 2
    left = CustomRequest(**{**req.__dict__, "names": req.names[:half]})
    right = CustomRequest(**{**req.__dict__, "names": req.names[half:]})
    return _chunks(left, limit, split=True) + _chunks(right, limit, split=True)
