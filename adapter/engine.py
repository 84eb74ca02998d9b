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
  state no request waits on Prometheus; an idle snapshot is kept while it may be served;
- on failure keeps the last snapshot and serves it while younger than `max_staleness`,
  then answers 503 so the HPA holds; a failing key is retried once per freshness period;
- asks a failed batch in parts (its namespaces' shares, then the requests' own queries),
  so one namespace's failure stays that namespace's; a failure of the whole backend
  (unreachable, throttled, unavailable) is not split: one probe at a time reaches it;
- tells subscribers (apiservice.changes) which snapshot was refreshed or failed, so a
  stream that must push on change is woken by the refresh it shares with everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from adapter.batching import NotWidenable, Widened, widen
from adapter.discovery import SeriesInfo
from adapter.prometheus import BackendError, BackendUnavailable, PrometheusClient, QueryResult
from apiservice.changes import ChangeFeed, Listener, note_read
from apiservice.errors import APIError, ServiceUnavailable
from apiservice.provider import GroupResource
from apiservice.selectors import Selector

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Failures that are the whole backend's: asking for less would only add load.
WHOLE_BACKEND = frozenset({"unreachable", "throttled", "unavailable"})
# Parts of a batch asked before one answers, when its failure may be the backend's.
PROBES = 2


class NotAsked(BackendUnavailable):
    """A query not sent: the backend fails as a whole, or the probes of a split say so."""

    kind = "not-asked"

    def __init__(self, message: str) -> None:
        super().__init__(message, self.kind)


def _kind(err: APIError) -> str:
    """Whose failure it is (adapter.prometheus' kinds); other errors are the query's."""
    return err.kind if isinstance(err, BackendError | BackendUnavailable) else "query"


class _Dated(Protocol):
    @property
    def evaluated_at(self) -> float: ...


D = TypeVar("D", bound=_Dated)


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


@dataclass(frozen=True)
class EngineSettings:
    """The optimized engine's tuning, carried as is by `surge serve`'s options: its engine
    flags (surge.flags) set all but refresh_ahead and split_backoff_max_s."""

    freshness_s: float = 10.0
    max_staleness_s: float = 120.0
    refresh_ahead: float = 0.7  # refresh a hot key once this share of freshness has passed
    idle_after_s: float = 60.0  # stop refreshing keys nobody asked for this long
    max_concurrency: int = 8
    max_series_per_query: int = 50_000
    max_query_length: int = 12_000  # below VictoriaMetrics' 16 KB default
    split_backoff_max_s: float = 300.0  # a split batch is retried at most this far apart


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
            "1 when a rule is not answered by one batched query: per-request queries "
            "(not-separable), or by namespace, then per request (too-many-series).",
            ["rule", "reason"],
            registry=reg,
        )
        self.splits = Counter(
            "surge_batch_splits",
            "Batched queries that failed and were asked in parts (namespaces, then "
            "requests) instead, by the kind of failure.",
            ["rule", "into", "reason"],
            registry=reg,
        )
        self.not_split = Counter(
            "surge_batch_not_split",
            "Batched queries that failed and were not split: the failure was the whole "
            "backend's (unreachable, throttled, unavailable) or its parts failed too.",
            ["rule", "reason"],
            registry=reg,
        )
        self.skipped = Counter(
            "surge_backend_queries_skipped",
            "Queries not sent: the backend fails as a whole (outage) or the probes of a "
            "split batch failed too (parts-fail-too).",
            ["reason"],
            registry=reg,
        )
        self.outage = Gauge(
            "surge_backend_outage",
            "1 while the backend fails as a whole: one probe query at a time reaches it.",
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
class _Split:
    """A batch whose query failed in a way asking for less may avoid: its parts are asked
    instead until a retry of the batch succeeds.

    A query error (too many samples, bad data) is the batch's own, so every part is asked.
    A timeout or a 5xx may be the whole backend's: until one part answers, at most PROBES
    parts are asked, and a part that fails like the batch is not split further.
    """

    reason: str
    proven: bool = False  # a part answered: the failure is the batch's, not the backend's
    failed: int = 0  # parts that failed like the batch before any answered
    probing: int = 0  # parts in flight

    def admits(self) -> bool:
        return self.reason == "query" or self.proven or self.failed + self.probing < PROBES


@dataclass
class _Outage:
    """The backend failed as a whole: until a probe succeeds, one query at a time, at most
    once per half freshness period, reaches it; all others fail at once (stale or 503)."""

    error: APIError
    at: float
    probing: bool = False


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
    failures: int = 0  # in a row
    parts: str = ""  # a batch: what it is split into when it fails
    parent: _Entry | None = field(default=None, repr=False)  # the batch this is a part of
    split: _Split | None = None
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

    @property
    def changes(self) -> ChangeFeed | None:
        """No snapshots, so no refreshes to announce: KEDA's streams poll instead."""
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
        sleep: Sleep = asyncio.sleep,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(prometheus, clock)
        self.sleep = sleep  # the refresh loop's, injected with the clock in tests
        self.settings = settings or EngineSettings()
        self.metrics = EngineMetrics(registry)
        self.metrics.max_staleness.set(self.settings.max_staleness_s)
        self._entries: dict[str, _Entry] = {}
        self._widened: dict[tuple[Any, ...], Widened | NotWidenable] = {}
        self._oversize: set[str] = set()
        self._outage: _Outage | None = None
        self._backend = asyncio.Semaphore(self.settings.max_concurrency)
        self._refresher: asyncio.Task[None] | None = None
        self._listeners: list[Listener] = []

    @property
    def changes(self) -> ChangeFeed | None:
        return self

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

    def _admit(self, entry: _Entry, split: _Split | None) -> None:
        """Raise NotAsked when the query must not reach the backend now."""
        outage = self._outage
        if outage is not None and (
            outage.probing or self.clock() - outage.at < self.settings.freshness_s / 2
        ):
            self.metrics.skipped.labels("outage").inc()
            raise NotAsked(f"not asked while the backend fails: {outage.error.message}")
        if split is not None and not split.admits():
            assert entry.parent is not None and entry.parent.error is not None
            self.metrics.skipped.labels("parts-fail-too").inc()
            raise NotAsked(
                f"not asked: the batched query and {split.failed} of its parts failed: "
                f"{entry.parent.error.message}"
            )

    async def _fetch(self, entry: _Entry) -> Answer:
        split = entry.parent.split if entry.parent is not None else None
        self._admit(entry, split)
        outage = self._outage  # admitted during an outage: this query is its probe
        if outage is not None:
            outage.probing = True
        if split is not None:
            split.probing += 1
        try:
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
        finally:
            if outage is not None:
                outage.probing = False
            if split is not None:
                split.probing -= 1
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
            self._failed(entry, err)
            future.set_exception(err)
            future.exception()  # retrieved: a failure nobody waits on is not an error
            raise
        else:
            self._succeeded(entry, answer)
            future.set_result(answer)
            return answer
        finally:
            entry.inflight = None
            self._notify(entry.query)

    def _succeeded(self, entry: _Entry, answer: Answer) -> None:
        entry.snapshot = answer
        entry.failed_at = entry.error = entry.split = None
        entry.failures = 0
        if self._outage is not None:
            log.info("the backend answers again")
            self._outage = None
            self.metrics.outage.set(0)
        if entry.parent is not None and entry.parent.split is not None:
            entry.parent.split.proven = True

    def _failed(self, entry: _Entry, err: APIError) -> None:
        """Keep the failure on the entry; decide whether a batch is split (see _Split)."""
        now = self.clock()
        entry.failed_at, entry.error = now, err
        kind = _kind(err)
        if kind == NotAsked.kind:
            entry.split = None
            return
        entry.failures += 1
        if kind in WHOLE_BACKEND:
            if self._outage is None:
                log.warning("the backend fails as a whole (%s): %s", kind, err.message)
            self._outage = _Outage(err, now)
            self.metrics.outage.set(1)
        parent = entry.parent.split if entry.parent is not None else None
        like_parent = (
            parent is not None
            and parent.reason != "query"
            and not parent.proven
            and kind != "query"
        )
        if parent is not None and like_parent:
            parent.failed += 1
        if not entry.parts:
            return
        if kind in WHOLE_BACKEND or like_parent:
            entry.split = None
            reason = "parts-fail-too" if like_parent else kind
            self.metrics.not_split.labels(entry.rule, reason).inc()
        else:
            if entry.split is None:
                log.warning(
                    "metric %s: the batched query failed (%s), asking by %s: %s",
                    entry.rule,
                    kind,
                    entry.parts,
                    err.message,
                )
            entry.split = _Split(kind)
            self.metrics.splits.labels(entry.rule, entry.parts, kind).inc()

    # -- snapshots --------------------------------------------------------------------

    def _entry(
        self, query: str, rule: str, parent: _Entry | None = None, parts: str = ""
    ) -> _Entry:
        entry = self._entries.get(query)
        if entry is None:
            entry = self._entries[query] = _Entry(query, rule)
        entry.parent, entry.parts = parent, parts
        entry.asked_at = self.clock()
        note_read(query)
        return entry

    async def _fresh(self, entry: _Entry) -> Answer:
        """The entry's snapshot while fresh, else a refreshed one; raises the failure.

        After a failure, requests don't wait on the backend again until the refresher
        has retried it (at least once per freshness period): they get the failure at once.
        """
        snap = entry.snapshot
        if snap is not None and self.clock() - snap.evaluated_at < self.settings.freshness_s:
            self.metrics.hits.inc()
            return snap
        self.metrics.misses.inc()
        if entry.error is not None and entry.inflight is None:
            raise entry.error.with_traceback(None)
        return await self._refresh(entry)

    def _stale(self, rule: str, candidates: Sequence[D | None], failure: APIError) -> D:
        """The newest of the older answers while younger than max staleness, else 503;
        the failure itself when there is none."""
        known = [c for c in candidates if c is not None]
        if not known:
            raise failure
        newest = max(known, key=lambda c: c.evaluated_at)
        age = self.clock() - newest.evaluated_at
        bound = self.settings.max_staleness_s
        if age < bound:
            self.metrics.stale.labels(rule).inc()
            return self._served(rule, newest)
        raise ServiceUnavailable(
            f"unable to fetch metrics: the last good answer is {age:.0f}s old "
            f"(max staleness {bound:g}s) and the backend fails: {failure.message}"
        )

    def _served(self, rule: str, answer: D) -> D:
        self.metrics.age_of(rule).set(max(0.0, self.clock() - answer.evaluated_at))
        return answer

    async def query(self, promql: str, rule: str = "") -> Answer:
        entry = self._entry(promql, rule)
        try:
            return self._served(rule, await self._fresh(entry))
        except APIError as err:
            return self._stale(rule, [entry.snapshot], err)

    # -- custom metrics ---------------------------------------------------------------

    def _widen(self, req: CustomRequest, within: str = "") -> Widened | NotWidenable:
        key = (id(req.series.namer), req.series.series_name, req.gr, req.metric_selector)
        known = self._widened.get((*key, within))
        if known is None:
            try:
                known = widen(
                    req.series.namer,
                    req.series.series_name,
                    req.gr,
                    req.metric_selector,
                    namespaced=bool(req.namespace),
                    within=within,
                )
            except NotWidenable as err:
                log.info("metric %s of %s: per-request queries (%s)", req.metric, req.gr, err)
                self.metrics.fallback.labels(req.metric, "not-separable").set(1)
                known = err
            self._widened[(*key, within)] = known
        return known

    async def custom(self, req: CustomRequest) -> Values:
        """From the rule's batched query; when that fails in a way asking for less may
        avoid, from its namespace's part, then from per-request queries (see _Split)."""
        widened = self._widen(req)
        if not isinstance(widened, Widened):
            return await self._per_request(req, [], None, split=False)
        batches = [widened]
        if widened.namespace_label and req.namespace:
            part = self._widen(req, within=req.namespace)
            if isinstance(part, Widened):
                batches.append(part)
        parent: _Entry | None = None
        tried: list[tuple[_Entry, Widened]] = []
        for level, batch in enumerate(batches):
            if batch.query in self._oversize:
                continue
            parts = "namespaces" if level < len(batches) - 1 else "requests"
            entry = self._entry(batch.query, req.metric, parent, parts)
            tried.append((entry, batch))
            try:
                answer = await self._fresh(entry)
            except APIError as err:
                if entry.split is None:  # the whole backend's failure: asking for less won't do
                    return self._stale(req.metric, self._older(req, tried), err)
                parent = entry
                continue
            if len(answer.result.samples) <= self.settings.max_series_per_query:
                return self._served(req.metric, _from_batch(req, entry, batch, answer))
            self._too_many(req, batch, len(answer.result.samples))
            parent = None
        return await self._per_request(req, tried, parent, split=True)

    def _too_many(self, req: CustomRequest, batch: Widened, series: int) -> None:
        log.warning(
            "metric %s: %d series exceed --max-series-per-query=%d; asking for less",
            req.metric,
            series,
            self.settings.max_series_per_query,
        )
        self.metrics.fallback.labels(req.metric, "too-many-series").set(1)
        self._oversize.add(batch.query)
        self._entries.pop(batch.query, None)

    def _older(
        self, req: CustomRequest, tried: Sequence[tuple[_Entry, Widened]]
    ) -> list[Values | None]:
        """What the batches' last snapshots say for this request."""
        return [
            _from_batch(req, entry, batch, entry.snapshot)
            for entry, batch in tried
            if entry.snapshot is not None
        ]

    async def _per_request(
        self,
        req: CustomRequest,
        tried: Sequence[tuple[_Entry, Widened]],
        parent: _Entry | None,
        *,
        split: bool,
    ) -> Values:
        """The request's own queries; an answer assembled from several is as old as the
        oldest of them."""
        chunks = _chunks(req, self.settings.max_query_length, split=split)
        entries = [self._entry(q, req.metric, parent) for q in chunks]
        results = await asyncio.gather(*(self._fresh(e) for e in entries), return_exceptions=True)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is None:
            return self._served(req.metric, _merged(req, results))  # type: ignore[arg-type]
        if not isinstance(failure, APIError):
            raise failure
        olds = [
            r if isinstance(r, Answer) else e.snapshot
            for r, e in zip(results, entries, strict=True)
        ]
        own = None if any(a is None for a in olds) else _merged(req, olds)  # type: ignore[arg-type]
        return self._stale(req.metric, [own, *self._older(req, tried)], failure)

    # -- refresh ahead ----------------------------------------------------------------

    def _retry_after(self, entry: _Entry) -> float:
        """A failing query is retried every half freshness period; a batch whose parts
        answer while it fails backs off (it is this query that fails, not the backend)."""
        base = self.settings.freshness_s / 2
        split = entry.split
        if split is None or not (split.proven or split.reason == "query"):
            return base
        return min(base * 2 ** (entry.failures - 1), self.settings.split_backoff_max_s)

    def due(self, now: float) -> list[_Entry]:
        """Hot entries whose snapshot will expire soon, or whose last refresh failed.
        Parts of a batch are refreshed only while the batch is split.

        An entry nobody asked for in `idle_after` is no longer refreshed, but kept while
        its snapshot may still be served: an outage after a quiet spell is answered from
        it (within max staleness) as one during steady asking is. Then it is dropped.
        """
        s = self.settings
        out = []
        for query, entry in list(self._entries.items()):
            if now - entry.asked_at > s.idle_after_s:
                snap = entry.snapshot
                servable = snap is not None and now - snap.evaluated_at < s.max_staleness_s
                if not servable and entry.inflight is None:
                    del self._entries[query]
                continue
            if entry.inflight is not None:
                continue
            if entry.parent is not None and entry.parent.split is None:
                continue
            if entry.failed_at is not None:
                if now - entry.failed_at >= self._retry_after(entry):
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

    @property
    def refresh_tick_s(self) -> float:
        """How often the refresh-ahead loop looks for due entries: twice within the margin
        refresh-ahead leaves, so a hot key is refreshed before its snapshot expires."""
        return max(0.05, self.settings.freshness_s * (1 - self.settings.refresh_ahead) / 2)

    async def _refresh_loop(self) -> None:
        while True:
            await self.sleep(self.refresh_tick_s)
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


def _from_batch(req: CustomRequest, entry: _Entry, batch: Widened, answer: Answer) -> Values:
    """The request's values out of a batch's answer (indexed once per answer)."""
    if entry.indexed is None or entry.indexed[0] is not answer:
        entry.indexed = (answer, _index(answer.result, batch))
    index = entry.indexed[1]
    ns = req.namespace if batch.namespace_label else ""
    return Values({n: index[(ns, n)] for n in req.names if (ns, n) in index}, answer.evaluated_at)


def _merged(req: CustomRequest, answers: Sequence[Answer]) -> Values:
    values: dict[str, float] = {}
    for answer in answers:
        values.update(_match_names(req, answer.result))
    return Values(values, min(a.evaluated_at for a in answers))


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
