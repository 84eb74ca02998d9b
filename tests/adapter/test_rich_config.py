"""configs/rich.yaml against a real Prometheus holding the demo's series.

Discovery as PA does it (list each seriesQuery, filter, name, map labels to resources),
then every metric's rendered query runs on Prometheus and is compared with the oracle.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from adapter.naming import MetricNamer
from adapter.resources import BUILTIN, ResourceMapper
from adapter.rules import load_config
from apiservice.provider import GroupResource
from apiservice.selectors import parse_selector
from tests.support.oracle import ConstantData

RICH = Path(__file__).parent / "configs" / "rich.yaml"
MAPPER = ResourceMapper(BUILTIN)
EVERYTHING = parse_selector("")
PODS = GroupResource("", "pods")
NAMESPACES = GroupResource("", "namespaces")
SERVICES = GroupResource("", "services")
DEPLOYMENTS = GroupResource("apps", "deployments")
JOBS = GroupResource("batch", "jobs")
_CLUSTER_SCOPED = (NAMESPACES, GroupResource("", "nodes"), GroupResource("", "persistentvolumes"))
Registry = dict[tuple[GroupResource, bool, str], tuple[MetricNamer, str]]


def _get(url: str, path: str, params: list[tuple[str, str]]) -> Any:
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params)}", timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]


def _query(url: str, promql: str) -> list[tuple[dict[str, str], float]]:
    data = _get(url, "/api/v1/query", [("query", promql)])
    assert data["resultType"] == "vector", promql
    return [(s["metric"], float(s["value"][1])) for s in data["result"]]


def _discover(url: str, namers: list[MetricNamer]) -> Registry:
    now = time.time()
    entries: Registry = {}
    for namer in namers:
        params = [
            ("match[]", namer.rule.series_query),
            ("start", str(now - 600)),
            ("end", str(now)),
        ]
        for series in namer.filter_series(_get(url, "/api/v1/series", params)):
            name = series["__name__"]
            resources, namespaced = namer.resources_for_series(series)
            for gr in resources:
                scoped = namespaced and gr not in _CLUSTER_SCOPED
                entries[(gr, scoped, namer.metric_name_for(name))] = (namer, name)
    return entries


@pytest.fixture(scope="module")
def registry(prometheus_constant: ConstantData) -> Registry:
    config = load_config(str(RICH))
    return _discover(prometheus_constant.url, [MetricNamer(r, MAPPER) for r in config.rules])


def test_discovery_lists_each_metric_for_each_resource(registry: Registry) -> None:
    expected = {
        (PODS, True, "http_requests_waiting"),
        (SERVICES, True, "http_requests_waiting"),
        (NAMESPACES, False, "http_requests_waiting"),
        (DEPLOYMENTS, True, "http_requests_waiting_max"),
        (NAMESPACES, False, "http_requests_waiting_max"),
        (PODS, True, "http_requests_per_second"),
        (SERVICES, True, "http_requests_per_second"),
        (NAMESPACES, False, "http_requests_per_second"),
        (DEPLOYMENTS, True, "http_requests_per_second"),
        (JOBS, True, "http_requests_per_second"),  # the `job` label names batch/v1 jobs
        (PODS, True, "ai_llm_response_time_p99_seconds"),
        (DEPLOYMENTS, True, "ai_llm_response_time_p99_seconds"),
        (NAMESPACES, False, "ai_llm_response_time_p99_seconds"),
        (DEPLOYMENTS, True, "ai_llm_response_time_mean_seconds"),
        (NAMESPACES, False, "ai_llm_response_time_mean_seconds"),
    }
    assert set(registry) == expected


def _values(
    data: ConstantData, registry: Registry, key: tuple[GroupResource, bool, str], names: list[str]
) -> dict[str, float]:
    """What PA answers: the query for `names`, each sample matched by its resource label."""
    namer, series = registry[key]
    gr = key[0]
    namespace = data.namespace if key[1] else ""
    query = namer.query_for_series(series, gr, namespace, EVERYTHING, names)
    label = namer.label_for_resource(gr)
    return {labels[label]: value for labels, value in _query(data.url, query)}


def test_pod_gauges(prometheus_constant: ConstantData, registry: Registry) -> None:
    data = prometheus_constant
    got = _values(data, registry, (PODS, True, "http_requests_waiting"), list(data.pods))
    assert got == {pod: data.waiting(pod) for pod in data.pods}


def test_one_pod_by_name(prometheus_constant: ConstantData, registry: Registry) -> None:
    data = prometheus_constant
    pod = data.pods[1]
    got = _values(data, registry, (PODS, True, "http_requests_waiting"), [pod])
    assert got == {pod: data.waiting(pod)}


def test_namespace_itself(prometheus_constant: ConstantData, registry: Registry) -> None:
    data = prometheus_constant
    got = _values(data, registry, (NAMESPACES, False, "http_requests_waiting"), [data.namespace])
    assert got == {data.namespace: pytest.approx(sum(data.waiting(p) for p in data.pods))}


def test_group_by_slice_rule(prometheus_constant: ConstantData, registry: Registry) -> None:
    data = prometheus_constant
    got = _values(data, registry, (DEPLOYMENTS, True, "http_requests_waiting_max"), ["ai-service"])
    assert got == {"ai-service": max(data.waiting(p) for p in data.pods)}


def test_counter_rates(prometheus_constant: ConstantData, registry: Registry) -> None:
    data = prometheus_constant
    got = _values(data, registry, (PODS, True, "http_requests_per_second"), list(data.pods))
    assert got == {pod: pytest.approx(data.request_rate(pod)) for pod in data.pods}
    total = sum(data.request_rate(p) for p in data.pods)
    for resource in (SERVICES, DEPLOYMENTS, JOBS):
        got = _values(data, registry, (resource, True, "http_requests_per_second"), ["ai-service"])
        assert got == {"ai-service": pytest.approx(total)}


def test_histogram_p99(prometheus_constant: ConstantData, registry: Registry) -> None:
    data = prometheus_constant
    key = (DEPLOYMENTS, True, "ai_llm_response_time_p99_seconds")
    got = _values(data, registry, key, ["ai-service"])
    assert got == {"ai-service": pytest.approx(data.latency_quantile(0.99, data.pods))}
    got = _values(data, registry, (PODS, True, "ai_llm_response_time_p99_seconds"), list(data.pods))
    assert got == {p: pytest.approx(data.latency_quantile(0.99, [p])) for p in data.pods}


def test_mean_latency(prometheus_constant: ConstantData, registry: Registry) -> None:
    data = prometheus_constant
    key = (DEPLOYMENTS, True, "ai_llm_response_time_mean_seconds")
    got = _values(data, registry, key, ["ai-service"])
    assert got == {"ai-service": pytest.approx(data.mean_latency(data.pods))}


def test_external_rules(prometheus_constant: ConstantData) -> None:
    data = prometheus_constant
    config = load_config(str(RICH))
    waiting, rate = (MetricNamer(r, MAPPER) for r in config.external_rules)
    assert waiting.metric_name_for("http_requests_waiting") == "ai_service_requests_waiting"
    assert rate.metric_name_for("http_requests_total") == "ai_service_requests_per_second"
    selector = parse_selector("service=ai-service")

    query = waiting.query_for_external("http_requests_waiting", data.namespace, selector)
    assert query == (
        'sum by (service) (http_requests_waiting{service="ai-service",namespace="ai-platform"})'
    )
    ((labels, value),) = _query(data.url, query)
    assert labels == {"service": "ai-service"}
    assert value == pytest.approx(sum(data.waiting(p) for p in data.pods))
    other = waiting.query_for_external("http_requests_waiting", "elsewhere", selector)
    assert _query(data.url, other) == []

    # namespaced: false, so the HPA's namespace does not narrow the query
    query = rate.query_for_external("http_requests_total", "elsewhere", selector)
    assert query == 'sum by (service) (rate(http_requests_total{service="ai-service"}[2m]))'
    ((labels, value),) = _query(data.url, query)
    assert value == pytest.approx(sum(data.request_rate(p) for p in data.pods))
