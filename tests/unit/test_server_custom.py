"""Custom metrics: by name, by selector, windows and metric selectors, root scope, namespaces."""

from __future__ import annotations

import json

import pytest

from apiservice.provider import (
    CustomMetricInfo,
    GroupResource,
)
from tests.unit.conftest import CM, CUSTOM_METRICS, Client, MemoryProvider, get, status_body

POD_REF = '{"kind":"Pod","namespace":"default","name":"web-1","apiVersion":"/v1"}'


async def test_by_name_v1beta1(client: Client, provider: MemoryProvider) -> None:
    status, body = await get(client, f"{CM}/v1beta1/namespaces/default/pods/web-1/http_requests")
    assert status == 200
    assert body == (
        '{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta1","metadata":{},'
        f'"items":[{{"describedObject":{POD_REF},"metricName":"http_requests",'
        '"timestamp":"2026-01-01T12:00:00Z","value":"1250m","selector":null}]}\n'
    )
    assert provider.calls == [("by_name", "default", "web-1", CUSTOM_METRICS[0], "")]


async def test_by_name_v1beta2(client: Client) -> None:
    status, body = await get(client, f"{CM}/v1beta2/namespaces/default/pods/web-1/http_requests")
    assert status == 200
    assert body == (
        '{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta2","metadata":{},'
        f'"items":[{{"describedObject":{POD_REF},'
        '"metric":{"name":"http_requests","selector":null},'
        '"timestamp":"2026-01-01T12:00:00Z","value":"1250m"}]}\n'
    )


SELECTOR_QUERY = {"metricLabelSelector": "verb in (GET,POST),code=200,path,!debug"}
SELECTOR_JSON = (
    '{"matchLabels":{"code":"200"},"matchExpressions":['
    '{"key":"debug","operator":"DoesNotExist"},'
    '{"key":"path","operator":"Exists"},'
    '{"key":"verb","operator":"In","values":["GET","POST"]}]}'
)


async def test_window_and_metric_selector_v1beta1(client: Client, provider: MemoryProvider) -> None:
    path = f"{CM}/v1beta1/namespaces/default/pods/web-1/latency"
    status, body = await get(client, path, params=SELECTOR_QUERY)
    assert status == 200
    item = (
        f'{{"describedObject":{POD_REF},"metricName":"latency",'
        f'"timestamp":"2026-01-01T12:00:00Z","window":60,"value":"1250m","selector":{SELECTOR_JSON}}}'
    )
    assert json.loads(body)["items"] == [json.loads(item)]
    assert item in body  # field order too
    assert provider.calls[0][-1] == "code=200,!debug,path,verb in (GET,POST)"


async def test_window_and_metric_selector_v1beta2(client: Client) -> None:
    path = f"{CM}/v1beta2/namespaces/default/pods/web-1/latency"
    status, body = await get(client, path, params=SELECTOR_QUERY)
    assert status == 200
    item = (
        f'{{"describedObject":{POD_REF},'
        f'"metric":{{"name":"latency","selector":{SELECTOR_JSON}}},'
        '"timestamp":"2026-01-01T12:00:00Z","windowSeconds":60,"value":"1250m"}'
    )
    assert body.endswith(f'"items":[{item}]}}\n')


async def test_by_selector_keeps_provider_order(client: Client, provider: MemoryProvider) -> None:
    path = f"{CM}/v1beta2/namespaces/prod/deployments/*/http_requests"
    status, body = await get(client, path, params={"labelSelector": "tier=web,app in (shop)"})
    assert status == 200
    names = [item["describedObject"]["name"] for item in json.loads(body)["items"]]
    assert names == ["web-b", "web-a"]
    reference = json.loads(body)["items"][0]["describedObject"]
    assert reference == {
        "kind": "Deployment",
        "namespace": "prod",
        "name": "web-b",
        "apiVersion": "apps/v1",
    }
    info = CustomMetricInfo(GroupResource("", "deployments"), True, "http_requests")
    assert provider.calls == [("by_selector", "prod", "app in (shop),tier=web", info, "")]


async def test_by_selector_without_label_selector_selects_everything(
    client: Client, provider: MemoryProvider
) -> None:
    assert (await client.get(f"{CM}/v1beta1/namespaces/prod/pods/*/http_requests")).status == 200
    assert provider.calls == [("by_selector", "prod", "", CUSTOM_METRICS[0], "")]


@pytest.mark.parametrize("resource_name", ["deployments.apps", "deployments"])
async def test_resource_is_passed_as_written(
    client: Client, provider: MemoryProvider, resource_name: str
) -> None:
    """As custom-metrics-apiserver: the provider gets the group-resource the path names and
    normalizes it itself (with the cluster's RESTMapper)."""
    path = f"{CM}/v1beta2/namespaces/prod/{resource_name}/shop/http_requests"
    status, body = await get(client, path)
    assert status == 200
    assert json.loads(body)["items"][0]["describedObject"]["kind"] == "Deployment"
    written = CustomMetricInfo(GroupResource.parse(resource_name), True, "http_requests")
    assert provider.calls == [("by_name", "prod", "shop", written, "")]


async def test_root_scoped(client: Client, provider: MemoryProvider) -> None:
    status, body = await get(client, f"{CM}/v1beta2/nodes/node-1/load")
    assert status == 200
    item = json.loads(body)["items"][0]
    assert item["describedObject"] == {"kind": "Node", "name": "node-1", "apiVersion": "/v1"}
    assert provider.calls == [("by_name", "", "node-1", CUSTOM_METRICS[3], "")]


async def test_metric_of_a_namespace(client: Client, provider: MemoryProvider) -> None:
    status, body = await get(client, f"{CM}/v1beta1/namespaces/prod/metrics/http_requests")
    assert status == 200
    reference = json.loads(body)["items"][0]["describedObject"]
    assert reference == {"kind": "Namespace", "name": "prod", "apiVersion": "/v1"}
    assert provider.calls == [("by_name", "", "prod", CUSTOM_METRICS[2], "")]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1beta2/namespaces/default/pods/web-1/nope", "nope for pods"),
        ("/v1beta2/namespaces/default/pods/*/nope", "nope for pods"),
        # registered for pods in namespaces only, asked root-scoped: the scope reaches the provider
        ("/v1beta1/pods/web-1/http_requests", "http_requests for pods"),
        ("/v1beta1/namespaces/default/nodes/node-1/load", "load for nodes"),
        ("/v1beta1/namespaces/prod/metrics/load", "load for namespaces"),
    ],
)
async def test_provider_not_found(client: Client, path: str, message: str) -> None:
    message = f"the server could not find the metric {message}"
    assert await get(client, CM + path) == (404, status_body(404, "NotFound", message))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"labelSelector": "x==a==b"}, "found '==', expected: ',' or 'end of string'"),
        (
            {"metricLabelSelector": "a in (b"},
            "unable to parse requirement: found '', expected: ',' or ')'",
        ),
        (  # list options are read first, as Kubernetes decodes them first
            {"labelSelector": "(", "metricLabelSelector": "a in (b"},
            "found '(', expected: !, identifier, or 'end of string'",
        ),
    ],
)
@pytest.mark.parametrize("name", ["web-1", "*"])
async def test_bad_selectors(
    client: Client, provider: MemoryProvider, params: dict[str, str], message: str, name: str
) -> None:
    path = f"{CM}/v1beta2/namespaces/default/pods/{name}/http_requests"
    assert await get(client, path, params=params) == (400, status_body(400, "BadRequest", message))
    assert provider.calls == []


async def test_metric_selector_without_a_label_selector_form(client: Client) -> None:
    """`!=` has no metav1.LabelSelector form; Kubernetes' conversion fails, as here."""
    path = f"{CM}/v1beta2/namespaces/default/pods/web-1/http_requests"
    status, body = await get(client, path, params={"metricLabelSelector": "code!=500"})
    message = '"!=" is not a valid label selector operator'
    assert (status, body) == (500, status_body(500, "", message))  # no reason: "Unknown"
