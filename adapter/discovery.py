"""Series discovery: which metrics exist, for which resources, relisted on an interval.

As prometheus-adapter: each rule's seriesQuery is listed through /api/v1/series (rules
sharing a seriesQuery share the call), filtered and named by the rule, and registered
per (group-resource, namespaced, metric). A later series with the same key wins.

Unlike prometheus-adapter, which refuses to start when one rule names a resource the
cluster does not serve, rules fail one at a time: a rule that cannot be used (its
resource is not served, its metricsQuery fails to render, Prometheus rejects its
seriesQuery) is skipped and reported at every relist until it works again, and every
other rule is served. The objects are refreshed before each relist, so a resource that
appears (a CRD installed, a Deployment added to an --objects file) is picked up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from adapter.config import AdapterConfig, DiscoveryRule
from adapter.go.fmt import GoStruct
from adapter.naming import CUSTOM_SAMPLE, EXTERNAL_SAMPLE, MetricNamer, RuleError, render_query
from adapter.prometheus import PrometheusClient, QueryRejected
from adapter.promql import QueryError
from adapter.resources import ResourceMapper
from apiservice.errors import APIError
from apiservice.provider import CustomMetricInfo, ExternalMetricInfo, GroupResource

log = logging.getLogger(__name__)

# Metrics of these resources are never namespaced, whatever labels the series carry.
_CLUSTER_SCOPED = (
    GroupResource("", "namespaces"),
    GroupResource("", "nodes"),
    GroupResource("", "persistentvolumes"),
)


@dataclass(frozen=True)
class SeriesInfo:
    """What a query needs: the Prometheus series name and the rule that named it."""

    series_name: str
    namer: MetricNamer


# Why a rule is skipped: the `reason` label of surge_broken_rules.
RESOURCE_NOT_SERVED = "resource_not_served"
TEMPLATE_FAILS = "template_fails"
SERIES_QUERY_REJECTED = "series_query_rejected"


@dataclass(frozen=True)
class BrokenRule:
    """A rule skipped at the last relist, and the metrics it would have named."""

    rule: DiscoveryRule
    reason: str
    message: str
    line: int  # of the field at fault, else of the rule
    metrics: frozenset[str] = frozenset()

    def describe(self) -> str:
        return f"rule {self.rule.where} (line {self.line}) is skipped: {self.message}"


class SeriesRegistry:
    """The servable metrics; replaced whole at each relist, so readers never see a half."""

    def __init__(self) -> None:
        self.custom: dict[CustomMetricInfo, SeriesInfo] = {}
        self.external: dict[str, SeriesInfo] = {}
        self.listed_at: float | None = None
        self.failure: str = ""  # why the last listing failed, while none has succeeded
        self.rules = 0  # custom and external rules in the config
        self.broken: tuple[BrokenRule, ...] = ()  # skipped at the last relist

    @property
    def all_broken(self) -> bool:
        """Every rule is skipped: the server has nothing it could serve."""
        return self.rules > 0 and len(self.broken) == self.rules

    def resources(self) -> set[GroupResource]:
        """The resources custom metrics are served for: those a request may select."""
        return {info.group_resource for info in self.custom}

    def broken_for(self, metric: str) -> BrokenRule | None:
        """The skipped rule that would have named `metric`, for the 404's message."""
        return next((b for b in self.broken if metric in b.metrics), None)

    def replace(
        self,
        custom: list[tuple[MetricNamer, list[dict[str, str]]]],
        external: list[tuple[MetricNamer, list[dict[str, str]]]],
        at: float,
    ) -> None:
        new_custom: dict[CustomMetricInfo, SeriesInfo] = {}
        for namer, series in custom:
            for labels in series:
                name = labels.get("__name__", "")
                try:
                    metric = namer.metric_name_for(name)
                    resources, namespaced = namer.resources_for_series(labels)
                except Exception as err:  # one bad series never spoils the listing
                    log.warning("unable to name series %s, skipping: %s", name, err)
                    continue
                for gr in resources:
                    scoped = namespaced and gr not in _CLUSTER_SCOPED
                    new_custom[CustomMetricInfo(gr, scoped, metric)] = SeriesInfo(name, namer)
        new_external: dict[str, SeriesInfo] = {}
        for namer, series in external:
            for labels in series:
                name = labels.get("__name__", "")
                try:
                    new_external[namer.metric_name_for(name)] = SeriesInfo(name, namer)
                except Exception as err:
                    log.warning("unable to name external series %s, skipping: %s", name, err)
        self.custom, self.external, self.listed_at = new_custom, new_external, at
        self.failure = ""

    def list_custom(self) -> list[CustomMetricInfo]:
        return list(self.custom)

    def list_external(self) -> list[ExternalMetricInfo]:
        return [ExternalMetricInfo(m) for m in self.external]


class SeriesDiscovery:
    """Keeps a SeriesRegistry current from Prometheus; failures keep the last listing."""

    def __init__(
        self,
        config: AdapterConfig,
        prometheus: PrometheusClient,
        mapper: Callable[[], ResourceMapper],
        *,
        relist_interval_s: float = 600.0,
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.time,
        refresh: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.prometheus = prometheus
        self.mapper = mapper
        self.relist_interval_s = relist_interval_s
        self.max_age_s = max_age_s if max_age_s is not None else relist_interval_s
        self.clock = clock
        self.refresh = refresh  # brings the objects' resources up to date before a relist
        self.registry = SeriesRegistry()
        self.registry.rules = len(config.rules) + len(config.external_rules)

    async def relist(self) -> None:
        """List every rule's series once (per distinct seriesQuery) and swap the registry."""
        try:
            await self._relist()
        except APIError as err:
            self.registry.failure = err.message
            raise

    async def _relist(self) -> None:
        if self.refresh is not None and self.registry.listed_at is not None:
            await self.refresh()
        mapper = self.mapper()
        custom = _namers(self.config.rules, mapper, CUSTOM_SAMPLE)
        external = _namers(self.config.external_rules, mapper, EXTERNAL_SAMPLE)
        now = self.clock()
        queries = list(dict.fromkeys(n.rule.series_query for n in custom + external))
        listed = await asyncio.gather(
            *(self.prometheus.series([q], now - self.max_age_s, now) for q in queries),
            return_exceptions=True,
        )
        by_query: dict[str, list[dict[str, str]]] = {}
        rejected: dict[str, str] = {}
        for query, answer in zip(queries, listed, strict=True):
            if isinstance(answer, QueryRejected):  # this rule's mistake: skip it alone
                rejected[query] = answer.message
            elif isinstance(answer, BaseException):  # Prometheus itself: keep the last list
                raise answer
            else:
                by_query[query] = answer

        broken: list[BrokenRule] = []

        def usable(named: list[_Named]) -> list[tuple[MetricNamer, list[dict[str, str]]]]:
            out = []
            for n in named:
                query = n.rule.series_query
                if query in rejected:
                    message = f"Prometheus rejects its seriesQuery: {rejected[query]}"
                    line = n.rule.line_of("seriesQuery")
                    broken.append(BrokenRule(n.rule, SERIES_QUERY_REJECTED, message, line))
                elif n.reason:
                    series = n.namer.filter_series(by_query[query])
                    names = _names(n.namer, series)
                    broken.append(BrokenRule(n.rule, n.reason, n.message, n.line, names))
                else:
                    out.append((n.namer, n.namer.filter_series(by_query[query])))
            return out

        self.registry.replace(usable(custom), usable(external), now)
        broken.sort(key=lambda b: b.rule.line)
        self.registry.broken = tuple(broken)
        for b in broken:
            log.error("%s (it is retried at every relist)", b.describe())
        log.info(
            "listed series: %d custom and %d external metrics%s",
            len(self.registry.custom),
            len(self.registry.external),
            f"; {len(broken)} of {self.registry.rules} rules broken" if broken else "",
        )

    RETRY_S = 10.0

    async def run(self) -> None:
        """Relist forever. A failed relist keeps the last listing and is retried soon (not
        a whole interval later), so a Prometheus that was down at start is picked up."""
        failed = self.registry.listed_at is None
        while True:
            await asyncio.sleep(
                min(self.RETRY_S, self.relist_interval_s) if failed else self.relist_interval_s
            )
            try:
                await self.relist()
                failed = False
            except asyncio.CancelledError:
                raise
            except Exception as err:
                failed = True
                log.error("series relist failed, keeping the last listing: %s", err)


@dataclass(frozen=True)
class _Named:
    """A rule's namer and, when the rule cannot be served, why (`reason`, `message`)."""

    rule: DiscoveryRule
    namer: MetricNamer
    reason: str = ""
    message: str = ""
    line: int = 0


def _namers(
    rules: Sequence[DiscoveryRule], mapper: ResourceMapper, sample: GoStruct
) -> list[_Named]:
    """Each rule's namer. A rule whose resources the cluster does not serve is named
    against no resources at all, so its series and the metrics it would give are known."""
    out: list[_Named] = []
    for rule in rules:
        try:
            namer = MetricNamer(rule, mapper)
        except RuleError as err:
            bare = DiscoveryRule(rule.series_query, rule.series_filters, name=rule.name)
            namer = MetricNamer(bare, ResourceMapper(()))
            line = rule.line_of(err.key)
            out.append(_Named(rule, namer, RESOURCE_NOT_SERVED, err.message, line))
            continue
        if rule.metrics_query.strip():  # an empty one is prometheus-adapter's 404, not a skip
            try:
                render_query(namer.query_template, sample)
            except QueryError as err:
                message = f"its metricsQuery fails to render: {err}"
                line = rule.line_of("metricsQuery")
                out.append(_Named(rule, namer, TEMPLATE_FAILS, message, line))
                continue
        out.append(_Named(rule, namer))
    return out


def _names(namer: MetricNamer, series: list[dict[str, str]]) -> frozenset[str]:
    names = set()
    for labels in series:
        try:
            names.add(namer.metric_name_for(labels.get("__name__", "")))
        except ValueError:
            continue
    return frozenset(names)


def broken_note(registry: SeriesRegistry) -> str:
    """What /readyz adds while rules are broken (counts only: it is served to anyone)."""
    if not registry.broken:
        return ""
    return (
        f"{len(registry.broken)} of {registry.rules} rules broken and skipped "
        "(see surge_broken_rules in /metrics and the log)"
    )


class BrokenRulesCollector(Collector):
    """`surge_broken_rules{rule,reason}`: 1 for each rule the last relist skipped."""

    def __init__(self, registry: SeriesRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "surge_broken_rules",
            "Rules skipped at the last relist, by rule (its index in the config) and reason: "
            "resource_not_served, template_fails, series_query_rejected. Every other rule "
            "is served; a broken rule is retried at every relist.",
            labels=["rule", "reason"],
        )
        for b in self.registry.broken:
            gauge.add_metric([b.rule.where, b.reason], 1.0)
        yield gauge
