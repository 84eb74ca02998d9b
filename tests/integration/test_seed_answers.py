"""Surge's answers for the seed rules equal the PromQL prometheus-adapter would render,
run directly against the same real Prometheus (prometheus-api-client as the oracle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import Answer, milli, quantity_milli
from tests.support.oracle import ConstantData

NS = "ai-platform"
CUSTOM = "/apis/custom.metrics.k8s.io"


def _by(result: list[dict[str, Any]], label: str) -> dict[str, int]:
    return {r["metric"].get(label, ""): milli(r["value"][1]) for r in result}


def _close(got: dict[str, int], expected: dict[str, int]) -> bool:
    """Equal names, values within one milli-unit: rate() evaluated at two instants (Surge's
    and the oracle's) may round either way at the last digit."""
    return got.keys() == expected.keys() and all(abs(got[k] - expected[k]) <= 1 for k in got)


def _items(answer: Answer) -> dict[str, int]:
    assert answer.code == 0, answer.body
    return {i["describedObject"]["name"]: quantity_milli(i["value"]) for i in answer.body["items"]}


def test_waiting_per_pod_by_selector(
    surge_query: Callable[..., Answer],
    oracle: Callable[[str], list[dict[str, Any]]],
    prometheus_constant: ConstantData,
) -> None:
    pods = prometheus_constant.pods
    answer = surge_query(
        f"{CUSTOM}/v1beta2/namespaces/{NS}/pods/*/http_requests_waiting?labelSelector=app%3Dai-service"
    )
    expected = _by(
        oracle(f'sum(http_requests_waiting{{namespace="{NS}",pod=~"{"|".join(pods)}"}}) by (pod)'),
        "pod",
    )
    assert _items(answer) == expected
    # and the oracle itself agrees with the model the data was generated from
    assert expected == {p: milli(prometheus_constant.waiting(p)) for p in pods}
    body = answer.body
    assert body["kind"] == "MetricValueList"
    assert body["apiVersion"] == "custom.metrics.k8s.io/v1beta2"
    assert [i["describedObject"]["name"] for i in body["items"]] == sorted(pods)
    first = body["items"][0]
    assert first["describedObject"] == {
        "kind": "Pod",
        "namespace": NS,
        "name": sorted(pods)[0],
        "apiVersion": "/v1",
    }
    assert first["metric"]["name"] == "http_requests_waiting"


def test_waiting_of_one_pod_by_name_v1beta1(
    surge_query: Callable[..., Answer],
    oracle: Callable[[str], list[dict[str, Any]]],
    prometheus_constant: ConstantData,
) -> None:
    pod = prometheus_constant.pods[1]
    answer = surge_query(f"{CUSTOM}/v1beta1/namespaces/{NS}/pods/{pod}/http_requests_waiting")
    expected = _by(
        oracle(f'sum(http_requests_waiting{{namespace="{NS}",pod="{pod}"}}) by (pod)'), "pod"
    )
    assert _items(answer) == expected
    assert answer.body["apiVersion"] == "custom.metrics.k8s.io/v1beta1"
    assert answer.body["items"][0]["metricName"] == "http_requests_waiting"


def test_p99_latency_of_the_deployment(
    surge_query: Callable[..., Answer],
    oracle: Callable[[str], list[dict[str, Any]]],
    prometheus_constant: ConstantData,
) -> None:
    answer = surge_query(
        f"{CUSTOM}/v1beta2/namespaces/{NS}/deployments.apps/ai-service/ai_llm_response_time_p99_seconds"
    )
    expected = _by(
        oracle(
            "histogram_quantile(0.99, sum(rate(ai_llm_response_time_seconds_bucket"
            f'{{namespace="{NS}",deployment="ai-service"}}[5m])) by (le, deployment))'
        ),
        "deployment",
    )
    assert _close(_items(answer), expected)
    model = prometheus_constant.latency_quantile(0.99, prometheus_constant.pods)
    assert abs(expected["ai-service"] - model * 1000) <= 1
    described = answer.body["items"][0]["describedObject"]
    assert described == {
        "kind": "Deployment",
        "namespace": NS,
        "name": "ai-service",
        "apiVersion": "apps/v1",
    }
    # unqualified resource names resolve as kubectl's do
    again = surge_query(
        f"{CUSTOM}/v1beta2/namespaces/{NS}/deployments/ai-service/ai_llm_response_time_p99_seconds"
    )
    assert _close(_items(again), expected)


def test_per_second_counter_rule(
    surge_query: Callable[..., Answer],
    oracle: Callable[[str], list[dict[str, Any]]],
    prometheus_constant: ConstantData,
) -> None:
    pods = prometheus_constant.pods
    answer = surge_query(f"{CUSTOM}/v1beta2/namespaces/{NS}/pods/*/http_requests_per_second")
    expected = _by(
        oracle(
            f'sum(rate(http_requests_total{{namespace="{NS}",pod=~"{"|".join(pods)}"}}[2m]))'
            " by (pod)"
        ),
        "pod",
    )
    assert _close(_items(answer), expected)
    for pod in pods:
        assert abs(expected[pod] - prometheus_constant.request_rate(pod) * 1000) <= 1


def test_the_namespace_itself(
    surge_query: Callable[..., Answer], oracle: Callable[[str], list[dict[str, Any]]]
) -> None:
    answer = surge_query(f"{CUSTOM}/v1beta2/namespaces/{NS}/metrics/http_requests_waiting")
    expected = _by(
        oracle(f'sum(http_requests_waiting{{namespace="{NS}"}}) by (namespace)'), "namespace"
    )
    assert _items(answer) == expected
    assert answer.body["items"][0]["describedObject"] == {
        "kind": "Namespace",
        "name": NS,
        "apiVersion": "/v1",
    }


def test_external_metric(
    surge_query: Callable[..., Answer], oracle: Callable[[str], list[dict[str, Any]]]
) -> None:
    answer = surge_query(
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{NS}/ai_service_requests_waiting_total"
    )
    assert answer.code == 0, answer.body
    expected = oracle(f'sum(http_requests_waiting{{namespace="{NS}"}}) by (service)')
    assert answer.body["kind"] == "ExternalMetricValueList"
    assert [(i["metricLabels"], quantity_milli(i["value"])) for i in answer.body["items"]] == [
        (r["metric"], milli(r["value"][1])) for r in expected
    ]


def test_metric_label_selector_narrows_the_series(
    surge_query: Callable[..., Answer],
    oracle: Callable[[str], list[dict[str, Any]]],
    prometheus_constant: ConstantData,
) -> None:
    pods = prometheus_constant.pods
    answer = surge_query(
        f"{CUSTOM}/v1beta2/namespaces/{NS}/pods/*/http_requests_waiting"
        "?metricLabelSelector=container%20in%20(ai-service,sidecar)"
    )
    expected = _by(
        oracle(
            'sum(http_requests_waiting{container=~"ai-service|sidecar",'
            f'namespace="{NS}",pod=~"{"|".join(pods)}"}}) by (pod)'
        ),
        "pod",
    )
    assert _items(answer) == expected
    assert answer.body["items"][0]["metric"]["selector"] == {
        "matchExpressions": [
            {"key": "container", "operator": "In", "values": ["ai-service", "sidecar"]}
        ]
    }


def test_discovery_lists_the_seed_metrics(surge_query: Callable[..., Answer]) -> None:
    for version in ("v1beta1", "v1beta2"):
        answer = surge_query(f"{CUSTOM}/{version}")
        assert answer.code == 0
        names = {r["name"] for r in answer.body["resources"]}
        assert {
            "pods/http_requests_waiting",
            "namespaces/http_requests_waiting",
            "deployments.apps/ai_llm_response_time_p99_seconds",
            "namespaces/ai_llm_response_time_p99_seconds",
            "pods/http_requests_per_second",
            "deployments.apps/http_requests_per_second",
        } <= names
    external = surge_query("/apis/external.metrics.k8s.io/v1beta1")
    assert [r["name"] for r in external.body["resources"]] == ["ai_service_requests_waiting_total"]


@pytest.mark.parametrize(
    ("path", "promql", "label"),
    [
        (
            f"{CUSTOM}/v1beta2/namespaces/{NS}/services/ai-service/http_requests_waiting",
            f'sum(http_requests_waiting{{namespace="{NS}",service="ai-service"}}) by (service)',
            "service",
        ),
        (
            f"{CUSTOM}/v1beta2/namespaces/{NS}/deployments.apps/ai-service/http_requests_waiting_max",
            f'max by (service) (http_requests_waiting{{namespace="{NS}",service="ai-service"}})',
            "service",
        ),
        (
            f"{CUSTOM}/v1beta2/namespaces/{NS}/deployments.apps/ai-service/ai_llm_response_time_mean_seconds",
            "sum by (service) (rate(ai_llm_response_time_seconds_sum"
            f'{{namespace="{NS}",service="ai-service"}}[5m]))\n/\nsum by (service) '
            "(rate(ai_llm_response_time_seconds_count"
            f'{{namespace="{NS}",service="ai-service"}}[5m]))',
            "service",
        ),
        (
            f"{CUSTOM}/v1beta2/namespaces/{NS}/deployments.apps/ai-service/"
            "ai_llm_response_time_p99_seconds",
            "histogram_quantile(0.99, sum by (le, service) "
            "(rate(ai_llm_response_time_seconds_bucket"
            f'{{namespace="{NS}",service="ai-service"}}[5m])))',
            "service",
        ),
        (
            f"{CUSTOM}/v1beta2/namespaces/{NS}/metrics/http_requests_per_second",
            f'sum(rate(http_requests_total{{namespace="{NS}"}}[2m])) by (namespace)',
            "namespace",
        ),
    ],
)
def test_rich_config_by_name(
    surge_query: Callable[..., Answer],
    oracle: Callable[[str], list[dict[str, Any]]],
    path: str,
    promql: str,
    label: str,
) -> None:
    from tests.integration.conftest import RICH_RULES

    answer = surge_query(path, RICH_RULES)
    assert _close(_items(answer), _by(oracle(promql), label))


def test_rich_config_external_not_namespaced(
    surge_query: Callable[..., Answer], oracle: Callable[[str], list[dict[str, Any]]]
) -> None:
    from tests.integration.conftest import RICH_RULES

    answer = surge_query(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/elsewhere/ai_service_requests_per_second"
        "?labelSelector=service%3Dai-service",
        RICH_RULES,
    )
    assert answer.code == 0, answer.body
    expected = oracle('sum by (service) (rate(http_requests_total{service="ai-service"}[2m]))')
    got = [quantity_milli(i["value"]) for i in answer.body["items"]]
    assert len(got) == len(expected)
    assert all(abs(g - milli(r["value"][1])) <= 1 for g, r in zip(got, expected, strict=True))
