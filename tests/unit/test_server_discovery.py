"""Discovery: the API groups and resource lists, as custom-metrics-apiserver writes them."""

from __future__ import annotations

import pytest

from tests.unit.conftest import CM, EM, Client, get

# As custom-metrics-apiserver writes them: one version per group, the first by priority.
CUSTOM_GROUP_JSON = (
    '{"name":"custom.metrics.k8s.io","versions":['
    '{"groupVersion":"custom.metrics.k8s.io/v1beta1","version":"v1beta1"}],'
    '"preferredVersion":{"groupVersion":"custom.metrics.k8s.io/v1beta1","version":"v1beta1"}}'
)
EXTERNAL_GROUP_JSON = (
    '{"name":"external.metrics.k8s.io","versions":['
    '{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}],'
    '"preferredVersion":{"groupVersion":"external.metrics.k8s.io/v1beta1","version":"v1beta1"}}'
)


@pytest.mark.parametrize("path", ["/apis", "/apis/"])
async def test_api_group_list(client: Client, path: str) -> None:
    body = '{"kind":"APIGroupList","groups":[%s,%s]}\n'  # no apiVersion, as Kubernetes
    assert await get(client, path) == (200, body % (CUSTOM_GROUP_JSON, EXTERNAL_GROUP_JSON))


@pytest.mark.parametrize(
    ("path", "group"),
    [(CM, CUSTOM_GROUP_JSON), (CM + "/", CUSTOM_GROUP_JSON), (EM[:-8], EXTERNAL_GROUP_JSON)],
)
async def test_api_group(client: Client, path: str, group: str) -> None:
    expected = '{"kind":"APIGroup","apiVersion":"v1",' + group[1:] + "\n"
    response = await client.get(path)
    assert response.headers["Content-Type"] == "application/json"
    assert (response.status, await response.text()) == (200, expected)


def resource(name: str, namespaced: bool, kind: str) -> str:
    flag = "true" if namespaced else "false"
    return (
        f'{{"name":"{name}","singularName":"","namespaced":{flag},"kind":"{kind}","verbs":["get"]}}'
    )


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
async def test_custom_resource_list(client: Client, version: str) -> None:
    resources = ",".join(
        [
            resource("pods/http_requests", True, "MetricValueList"),
            resource("deployments.apps/http_requests", True, "MetricValueList"),
            resource("namespaces/http_requests", False, "MetricValueList"),
            resource("nodes/load", False, "MetricValueList"),
            resource("pods/latency", True, "MetricValueList"),
        ]
    )
    expected = (
        '{"kind":"APIResourceList","apiVersion":"v1",'
        f'"groupVersion":"custom.metrics.k8s.io/{version}","resources":[{resources}]}}\n'
    )
    assert await get(client, f"{CM}/{version}") == (200, expected)
    assert await get(client, f"{CM}/{version}/") == (200, expected)


async def test_external_resource_list(client: Client) -> None:
    resources = ",".join(
        [
            resource("queue_depth", True, "ExternalMetricValueList"),
            resource("lag", True, "ExternalMetricValueList"),
        ]
    )
    expected = (
        '{"kind":"APIResourceList","apiVersion":"v1",'
        f'"groupVersion":"external.metrics.k8s.io/v1beta1","resources":[{resources}]}}\n'
    )
    assert await get(client, EM) == (200, expected)
