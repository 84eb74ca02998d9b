"""The Provider: custom and external metric questions answered from Prometheus.

Answers follow prometheus-adapter's (see shared/reference/prometheus-adapter-semantics.md):
the same queries, the same 404s, values truncated to milli-units. Where PA would say
500 for a backend that cannot answer, Surge says 503 so the HPA holds its scale.
"""

from __future__ import annotations

import functools
import logging
import math
from datetime import UTC, datetime

from adapter.discovery import SeriesInfo, SeriesRegistry
from adapter.engine import CustomRequest, Values
from adapter.engine_protocol import Engine
from adapter.objects import ObjectIndex
from adapter.prometheus import BackendError
from adapter.promql import QueryError
from adapter.resources import APIResource
from apiservice.errors import (
    APIError,
    BadRequest,
    InternalError,
    NotFound,
    ServiceUnavailable,
    metric_not_found,
)
from apiservice.provider import (
    CustomMetricInfo,
    ExternalMetricInfo,
    ExternalMetricValue,
    MetricValue,
    ObjectReference,
)
from apiservice.quantity import Quantity
from apiservice.selectors import Selector

log = logging.getLogger(__name__)

_FETCH_FAILED = "unable to fetch metrics"
# Metrics whose series and resource are kept between requests (any more: forgotten).
_FOUND_KEPT = 1024
_Found = tuple[CustomMetricInfo, SeriesInfo, APIResource]


@functools.lru_cache(maxsize=512)  # a snapshot's items share one evaluation time
def _timestamp(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


class PrometheusProvider:
    def __init__(self, registry: SeriesRegistry, objects: ObjectIndex, engine: Engine):
        self.registry = registry
        self.objects = objects
        self.engine = engine
        self._found: dict[CustomMetricInfo, tuple[object, object, _Found]] = {}

    # -- custom metrics -------------------------------------------------------------

    def _listed(self) -> None:
        """Until series are listed once, no metric is known: say why, as a 503, rather
        than a 404 that reads as "this metric does not exist"."""
        if self.registry.listed_at is None:
            raise ServiceUnavailable(
                "unable to fetch metrics: the series list is not loaded yet"
                + (f" ({self.registry.failure})" if self.registry.failure else "")
            )

    def _not_found(self, metric: str, resource: str, name: str = "") -> NotFound:
        """prometheus-adapter's 404, and why when a broken rule would have named the metric."""
        err = metric_not_found(metric, resource, name)
        broken = self.registry.broken_for(metric)
        return err if broken is None else NotFound(f"{err.message}: {broken.describe()}")

    def _lookup(self, info: CustomMetricInfo) -> tuple[CustomMetricInfo, SeriesInfo, APIResource]:
        self._listed()
        served = self.registry.custom
        mapper = self.objects.mapper
        known = self._found.get(info)
        # kept while the series list and the resources are those it was found in
        if known is not None and known[0] is served and known[1] is mapper:
            return known[2]
        res = mapper.resource_for(info.group_resource)
        key = CustomMetricInfo(res.group_resource, info.namespaced, info.metric) if res else info
        series = served.get(key)
        if res is None or series is None:
            raise self._not_found(info.metric, str(info.group_resource))
        if len(self._found) >= _FOUND_KEPT:
            self._found.clear()
        self._found[info] = (served, mapper, (key, series, res))
        return key, series, res

    async def _values(
        self,
        key: CustomMetricInfo,
        series: SeriesInfo,
        namespace: str,
        metric_selector: Selector,
        names: list[str],
    ) -> Values:
        request = CustomRequest(
            series, key.group_resource, namespace, metric_selector, tuple(names), key.metric
        )
        try:
            return await self.engine.custom(request)
        except QueryError as err:  # PA: "not found" when the query cannot be built
            log.error(
                "unable to construct query for %s of %s: %s", key.metric, key.group_resource, err
            )
            raise metric_not_found(key.metric, str(key.group_resource)) from None
        except BackendError as err:
            log.error("unable to fetch metrics from prometheus: %s", err.message)
            raise InternalError(_FETCH_FAILED) from None

    def _value(
        self,
        res: APIResource,
        namespace: str,
        name: str,
        info: CustomMetricInfo,
        value: float,
        at: float,
        metric_selector: Selector,
    ) -> MetricValue:
        return MetricValue(
            # PA's helpers.ReferenceFor writes group + "/" + version: "/v1" for core kinds
            described_object=ObjectReference(
                res.kind, namespace, name, f"{res.group}/{res.version}"
            ),
            metric=info.metric,
            timestamp=_timestamp(at),
            value=Quantity.from_float_milli(0.0 if math.isnan(value) else value),
            metric_selector=None if metric_selector.empty else metric_selector,
        )

    async def get_metric_by_name(
        self, namespace: str, name: str, info: CustomMetricInfo, metric_selector: Selector
    ) -> MetricValue:
        key, series, res = self._lookup(info)
        values = await self._values(key, series, namespace, metric_selector, [name])
        if name not in values.by_name:
            raise metric_not_found(info.metric, str(key.group_resource), name)
        return self._value(
            res, namespace, name, key, values.by_name[name], values.evaluated_at, metric_selector
        )

    async def get_metric_by_selector(
        self, namespace: str, selector: Selector, info: CustomMetricInfo, metric_selector: Selector
    ) -> list[MetricValue]:
        # As PA: list the objects first (an unknown resource fails there, with a 500),
        # then look the metric up.
        res = self.objects.mapper.resource_for(info.group_resource)
        try:
            if res is None:
                raise NotFound(f"the server doesn't serve {info.group_resource}")
            names = await self.objects.list_names(res, namespace, selector)
        except APIError as err:
            log.error("unable to list matching %s: %s", info.group_resource, err.message)
            raise InternalError("unable to list matching resources") from None
        key, series, res = self._lookup(info)
        if not names:
            raise metric_not_found(info.metric, str(key.group_resource))
        values = await self._values(key, series, namespace, metric_selector, names)
        return [
            self._value(res, namespace, n, key, v, values.evaluated_at, metric_selector)
            for n in names
            if (v := values.by_name.get(n)) is not None
        ]

    def list_all_metrics(self) -> list[CustomMetricInfo]:
        return self.registry.list_custom()

    # -- external metrics -----------------------------------------------------------

    async def get_external_metric(
        self, namespace: str, metric_selector: Selector, info: ExternalMetricInfo
    ) -> list[ExternalMetricValue]:
        self._listed()
        series = self.registry.external.get(info.metric)
        if series is None:  # PA names the namespaces resource only for "default"
            raise self._not_found(info.metric, "namespaces" if namespace == "default" else "")
        try:
            query = series.namer.query_for_external(series.series_name, namespace, metric_selector)
            answer = await self.engine.query(query, info.metric)
        except (QueryError, BackendError) as err:
            log.error("unable to fetch external metric %s: %s", info.metric, err)
            raise InternalError(_FETCH_FAILED) from None
        result = answer.result
        if result.result_type not in ("vector", "scalar"):
            raise InternalError(_FETCH_FAILED)
        return [
            ExternalMetricValue(
                metric=info.metric,
                timestamp=_timestamp(s.timestamp),
                value=Quantity.from_float_milli(s.value),
                metric_labels=dict(s.labels),
            )
            for s in result.samples
        ]

    def list_all_external_metrics(self) -> list[ExternalMetricInfo]:
        return self.registry.list_external()

    # -- raw PromQL (KEDA triggers with `query`, when the server allows it) ----------

    async def raw_query(self, promql: str) -> list[float]:
        """The sample values of an instant query, through the engine's snapshots like
        every other answer. A query Prometheus refuses is the caller's mistake (400)."""
        try:
            answer = await self.engine.query(promql, "raw-query")
        except BackendError as err:
            raise BadRequest(f"query: {err.message}") from None
        result = answer.result
        if result.result_type not in ("vector", "scalar"):
            raise BadRequest(f"query: expected a vector or a scalar, got a {result.result_type}")
        return [0.0 if math.isnan(s.value) else s.value for s in result.samples]
