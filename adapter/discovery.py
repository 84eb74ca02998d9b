"""Series discovery: which metrics exist, for which resources, relisted on an interval.

As prometheus-adapter: each rule's seriesQuery is listed through /api/v1/series (rules
sharing a seriesQuery share the call), filtered and named by the rule, and registered
per (group-resource, namespaced, metric). A later series with the same key wins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from adapter.naming import MetricNamer
from adapter.prometheus import PrometheusClient
from adapter.resources import ResourceMapper
from adapter.rules import AdapterConfig
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


class SeriesRegistry:
    """The servable metrics; replaced whole at each relist, so readers never see a half."""

    def __init__(self) -> None:
        self.custom: dict[CustomMetricInfo, SeriesInfo] = {}
        self.external: dict[str, SeriesInfo] = {}
        self.listed_at: float | None = None
        self.failure: str = ""  # why the last listing failed, while none has succeeded

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
    ) -> None:
        self.config = config
        self.prometheus = prometheus
        self.mapper = mapper
        self.relist_interval_s = relist_interval_s
        self.max_age_s = max_age_s if max_age_s is not None else relist_interval_s
        self.clock = clock
        self.registry = SeriesRegistry()

    async def relist(self) -> None:
        """List every rule's series once (per distinct seriesQuery) and swap the registry."""
        try:
            await self._relist()
        except APIError as err:
            self.registry.failure = err.message
            raise

    async def _relist(self) -> None:
        mapper = self.mapper()
        custom = [MetricNamer(rule, mapper) for rule in self.config.rules]
        external = [MetricNamer(rule, mapper) for rule in self.config.external_rules]
        now = self.clock()
        queries = list(dict.fromkeys(n.rule.series_query for n in custom + external))
        listed = await asyncio.gather(
            *(self.prometheus.series([q], now - self.max_age_s, now) for q in queries)
        )
        by_query = dict(zip(queries, listed, strict=True))
        self.registry.replace(
            [(n, n.filter_series(by_query[n.rule.series_query])) for n in custom],
            [(n, n.filter_series(by_query[n.rule.series_query])) for n in external],
            now,
        )
        log.info(
            "listed series: %d custom and %d external metrics",
            len(self.registry.custom),
            len(self.registry.external),
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
