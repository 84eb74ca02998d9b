"""Forecast metrics beside the rules' metrics: a Provider answering forecast names first.

An Object forecast is served for its one object (GET by name, or the objects a selector
lists), an External one in its namespace (every namespace when the rule names none).
Everything else goes to the wrapped provider unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime

from adapter.forecast.rules import ForecastRule
from adapter.forecast.service import Forecaster
from adapter.objects import ObjectIndex
from adapter.provider import PrometheusProvider
from adapter.resources import APIResource, guess_plural
from apiservice.errors import metric_not_found
from apiservice.provider import (
    CustomMetricInfo,
    ExternalMetricInfo,
    ExternalMetricValue,
    MetricValue,
    ObjectReference,
)
from apiservice.quantity import Quantity
from apiservice.selectors import Selector


class ForecastProvider:
    """apiservice.provider.Provider: forecast rules, then the wrapped provider."""

    def __init__(
        self, inner: PrometheusProvider, forecaster: Forecaster, objects: ObjectIndex
    ) -> None:
        self.inner = inner
        self.forecaster = forecaster
        self.objects = objects
        self.raw_query = inner.raw_query  # KEDA's raw queries are not forecasts

    def _resource(self, rule: ForecastRule) -> APIResource:
        d = rule.described
        assert d is not None
        for res in self.objects.mapper.resources:
            if res.kind == d.kind and res.group == d.group:
                return res
        group, _, version = d.api_version.rpartition("/")
        plural = guess_plural(d.kind)
        return APIResource(group, version, plural, d.kind.lower(), d.kind, True)

    def _object_rules(self, info: CustomMetricInfo) -> list[tuple[ForecastRule, APIResource]]:
        res = self.objects.mapper.resource_for(info.group_resource)
        gr = res.group_resource if res else info.group_resource
        found = []
        for rule in self.forecaster.rules:
            if rule.name == info.metric and rule.described is not None:
                target = self._resource(rule)
                if target.group_resource == gr:
                    found.append((rule, target))
        return found

    async def _value(
        self, rule: ForecastRule, res: APIResource, metric_selector: Selector
    ) -> MetricValue:
        reading = await self.forecaster.read(rule)
        assert rule.described is not None
        return MetricValue(
            described_object=ObjectReference(
                res.kind, rule.namespace, rule.described.name, f"{res.group}/{res.version}"
            ),
            metric=rule.name,
            timestamp=datetime.fromtimestamp(reading.evaluated_at, UTC),
            value=Quantity.from_float_milli(reading.value),
            metric_selector=None if metric_selector.empty else metric_selector,
        )

    async def get_metric_by_name(
        self, namespace: str, name: str, info: CustomMetricInfo, metric_selector: Selector
    ) -> MetricValue:
        rules = self._object_rules(info)
        if not rules:
            return await self.inner.get_metric_by_name(namespace, name, info, metric_selector)
        for rule, res in rules:
            if rule.namespace == namespace and rule.described and rule.described.name == name:
                return await self._value(rule, res, metric_selector)
        raise metric_not_found(info.metric, str(rules[0][1].group_resource), name)

    async def get_metric_by_selector(
        self, namespace: str, selector: Selector, info: CustomMetricInfo, metric_selector: Selector
    ) -> list[MetricValue]:
        rules = self._object_rules(info)
        if not rules:
            return await self.inner.get_metric_by_selector(
                namespace, selector, info, metric_selector
            )
        res = rules[0][1]
        names = set(await self.objects.list_names(res, namespace, selector))
        chosen = [
            (r, x)
            for r, x in rules
            if r.namespace == namespace and r.described and r.described.name in names
        ]
        if not chosen:
            raise metric_not_found(info.metric, str(res.group_resource))
        return [await self._value(r, x, metric_selector) for r, x in chosen]

    def list_all_metrics(self) -> list[CustomMetricInfo]:
        served = {
            CustomMetricInfo(self._resource(r).group_resource, True, r.name)
            for r in self.forecaster.rules
            if r.described is not None
        }
        return self.inner.list_all_metrics() + sorted(served)

    async def get_external_metric(
        self, namespace: str, metric_selector: Selector, info: ExternalMetricInfo
    ) -> list[ExternalMetricValue]:
        rules = [
            r
            for r in self.forecaster.rules
            if r.described is None and r.name == info.metric and r.namespace in ("", namespace)
        ]
        if not rules:
            return await self.inner.get_external_metric(namespace, metric_selector, info)
        if not metric_selector.matches({}):
            return []  # a forecast has no labels: a selector asking for one matches nothing
        reading = await self.forecaster.read(rules[0])
        return [
            ExternalMetricValue(
                metric=info.metric,
                timestamp=datetime.fromtimestamp(reading.evaluated_at, UTC),
                value=Quantity.from_float_milli(reading.value),
            )
        ]

    def list_all_external_metrics(self) -> list[ExternalMetricInfo]:
        served = {ExternalMetricInfo(r.name) for r in self.forecaster.rules if r.described is None}
        return self.inner.list_all_external_metrics() + sorted(served)
