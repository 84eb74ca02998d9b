"""The HTTP layer: routes, bodies byte for byte, errors as metav1.Status, health, metrics, TLS.

The provider here is a test double of the Provider protocol (in memory, recording its calls):
these tests are about routing and serialization, not about metrics. The bodies expected
below are written as Kubernetes writes them (field order, omitempty, trailing newline).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from apiservice.errors import (
    APIError,
    InternalError,
    NotFound,
    ServiceUnavailable,
    metric_not_found,
)
from apiservice.openapi import openapi_v2, openapi_v3_document
from apiservice.provider import (
    CustomMetricInfo,
    ExternalMetricInfo,
    ExternalMetricValue,
    GroupResource,
    MetricValue,
    ObjectReference,
)
from apiservice.quantity import Quantity
from apiservice.selectors import Selector, parse_selector
from apiservice.server import AUTH_REQUIRED, APIServer, build_app
from apiservice.types import (
    UnconvertibleSelector,
    encode,
    label_selector,
    metric_value_list,
    rfc3339,
)

NOON = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
PODS = GroupResource("", "pods")
DEPLOYMENTS = GroupResource("apps", "deployments")
NAMESPACES = GroupResource("", "namespaces")
NODES = GroupResource("", "nodes")
KINDS = {PODS: ("Pod", "/v1"), DEPLOYMENTS: ("Deployment", "apps/v1")}
KINDS |= {NAMESPACES: ("Namespace", "/v1"), NODES: ("Node", "/v1")}

CUSTOM_METRICS = [
    CustomMetricInfo(PODS, True, "http_requests"),
    CustomMetricInfo(DEPLOYMENTS, True, "http_requests"),
    CustomMetricInfo(NAMESPACES, False, "http_requests"),
    CustomMetricInfo(NODES, False, "load"),
    CustomMetricInfo(PODS, True, "latency"),
]
EXTERNAL_METRICS = [ExternalMetricInfo("queue_depth"), ExternalMetricInfo("lag")]


class MemoryProvider:
    """Test double of apiservice.provider.Provider: fixed metric lists, values made from the
    question asked (so a test sees what reached the provider), every call recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.failure: Exception | None = None

    @staticmethod
    def _registered(info: CustomMetricInfo) -> CustomMetricInfo:
        """What a real provider does with its RESTMapper and registry: normalize the
        group-resource, then answer 404 (prometheus-adapter's words) for what it lacks."""
        written = info.group_resource
        known = [gr for gr in KINDS if str(gr) == str(written) or gr.resource == str(written)]
        key = CustomMetricInfo(known[0], info.namespaced, info.metric) if known else info
        if key not in CUSTOM_METRICS:
            raise metric_not_found(info.metric, str(key.group_resource))
        return key

    def _value(
        self, namespace: str, name: str, info: CustomMetricInfo, metric_selector: Selector
    ) -> MetricValue:
        info = self._registered(info)
        kind, api_version = KINDS[info.group_resource]
        return MetricValue(
            described_object=ObjectReference(kind, namespace, name, api_version),
            metric=info.metric,
            timestamp=NOON,
            value=Quantity.from_milli(250 * len(name)),
            metric_selector=None if metric_selector.empty else metric_selector,
            window_seconds=60 if info.metric == "latency" else None,
        )

    async def get_metric_by_name(
        self, namespace: str, name: str, info: CustomMetricInfo, metric_selector: Selector
    ) -> MetricValue:
        self.calls.append(("by_name", namespace, name, info, str(metric_selector)))
        if self.failure is not None:
            raise self.failure
        return self._value(namespace, name, info, metric_selector)

    async def get_metric_by_selector(
        self, namespace: str, selector: Selector, info: CustomMetricInfo, metric_selector: Selector
    ) -> list[MetricValue]:
        self.calls.append(("by_selector", namespace, str(selector), info, str(metric_selector)))
        if self.failure is not None:
            raise self.failure
        self._registered(info)
        return [self._value(namespace, n, info, metric_selector) for n in ("web-b", "web-a")]

    def list_all_metrics(self) -> list[CustomMetricInfo]:
        return list(CUSTOM_METRICS)

    async def get_external_metric(
        self, namespace: str, metric_selector: Selector, info: ExternalMetricInfo
    ) -> list[ExternalMetricValue]:
        self.calls.append(("external", namespace, str(metric_selector), info))
        if self.failure is not None:
            raise self.failure
        return [
            ExternalMetricValue(
                metric=info.metric,
                timestamp=NOON,
                value=Quantity.from_milli(1500),
                metric_labels={"topic": "orders", "__name__": "kafka_lag", "b<a>&": "x"},
            ),
            ExternalMetricValue(
                metric=info.metric,
                timestamp=NOON + timedelta(seconds=5),
                value=Quantity.from_milli(42_000_000),
                window_seconds=30,
            ),
        ]

    def list_all_external_metrics(self) -> list[ExternalMetricInfo]:
        return list(EXTERNAL_METRICS)


class Readiness:
    def __init__(self) -> None:
        self.ready: bool | Exception = True

    def __call__(self) -> bool:
        if isinstance(self.ready, Exception):
            raise self.ready
        return self.ready


@pytest.fixture
def provider() -> MemoryProvider:
    return MemoryProvider()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
async def client(
    provider: MemoryProvider, registry: CollectorRegistry, readiness: Readiness
) -> AsyncIterator[TestClient[aiohttp.web.Request, aiohttp.web.Application]]:
    app = build_app(provider, metrics_registry=registry, ready=readiness, insecure_skip_auth=True)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]


async def get(client: Client, path: str, **kwargs: Any) -> tuple[int, str]:
    response = await client.get(path, **kwargs)
    return response.status, await response.text()


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> str:
    """A metav1.Status as Kubernetes writes it."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
    body |= {"status": "Failure", "message": message} | ({"reason": reason} if reason else {})
    if details is not None:
        body["details"] = details
    return json.dumps(body | {"code": code}, separators=(",", ":")) + "\n"


def internal_error(cause: str) -> str:
    """apierrors.NewInternalError's Status: the cause in the message and in details."""
    message = f"Internal error occurred: {cause}"
    return status_body(500, "InternalError", message, {"causes": [{"message": cause}]})


CM = "/apis/custom.metrics.k8s.io"
EM = "/apis/external.metrics.k8s.io/v1beta1"

# -- discovery ------------------------------------------------------------------------------

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


# -- custom metrics ---------------------------------------------------------------------------

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


# -- external metrics -------------------------------------------------------------------------


async def test_external(client: Client, provider: MemoryProvider) -> None:
    path = f"{EM}/namespaces/shop/queue_depth"
    status, body = await get(client, path, params={"labelSelector": "topic=orders"})
    assert status == 200
    assert body == (
        '{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1",'
        '"metadata":{},"items":['
        '{"metricName":"queue_depth","metricLabels":'
        '{"__name__":"kafka_lag","b\\u003ca\\u003e\\u0026":"x","topic":"orders"},'
        '"timestamp":"2026-01-01T12:00:00Z","value":"1500m"},'
        '{"metricName":"queue_depth","metricLabels":{},'
        '"timestamp":"2026-01-01T12:00:05Z","window":30,"value":"42k"}]}\n'
    )
    assert provider.calls == [
        ("external", "shop", "topic=orders", ExternalMetricInfo("queue_depth"))
    ]


async def test_external_bad_selector(client: Client, provider: MemoryProvider) -> None:
    path = f"{EM}/namespaces/shop/queue_depth"
    status, body = await get(client, path, params={"labelSelector": "topic="})
    assert status == 200  # "topic=" is valid: the empty value
    status, body = await get(client, path, params={"labelSelector": "topic in"})
    message = "unable to parse requirement: found '' expected: '('"
    assert (status, body) == (400, status_body(400, "BadRequest", message))


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api",
        "/apis/metrics.k8s.io",
        f"{CM}/v1beta3",
        f"{CM}/v1beta3/namespaces/default/pods/web-1/http_requests",
        f"{EM[:-8]}/v1beta2",
        f"{CM}/v1beta1/pods/web-1",
        f"{CM}/v1beta1/namespaces/default/pods/web-1/http_requests/extra",
        f"{CM}/v1beta1/namespaces//pods/web-1/http_requests",
        f"{EM}/queue_depth",
        f"{EM}/namespaces/shop/queue_depth/extra",
        "/openapi/v3/apis/custom.metrics.k8s.io/v1",
        "/healthz/extra",
    ],
)
async def test_unknown_path(client: Client, provider: MemoryProvider, path: str) -> None:
    message = "the server could not find the requested resource"
    assert await get(client, path) == (404, status_body(404, "NotFound", message, {}))
    assert provider.calls == []


async def test_too_short_namespaced_path(client: Client) -> None:
    path = f"{CM}/v1beta1/namespaces/default/http_requests"
    expected = (400, status_body(400, "BadRequest", "invalid request path"))
    assert await get(client, path) == expected


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD"])
@pytest.mark.parametrize(
    "path", ["/apis", f"{CM}/v1beta1/namespaces/default/pods/web-1/http_requests", "/healthz"]
)
async def test_method_not_allowed(
    client: Client, provider: MemoryProvider, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status == 405
    if method != "HEAD":
        message = "the server does not allow this method on the requested resource"
        assert await response.text() == status_body(405, "MethodNotAllowed", message, {})
    assert provider.calls == []


async def test_other_methods_on_unknown_paths_are_not_found(client: Client) -> None:
    assert (await client.post("/nowhere")).status == 404


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            ServiceUnavailable("prometheus did not answer in time"),
            status_body(503, "ServiceUnavailable", "prometheus did not answer in time"),
        ),
        (
            InternalError("unable to fetch metrics"),
            internal_error("unable to fetch metrics"),
        ),
        (
            NotFound("the server could not find the metric x for pods"),
            status_body(404, "NotFound", "the server could not find the metric x for pods"),
        ),
    ],
)
async def test_provider_errors_become_status(
    client: Client, provider: MemoryProvider, failure: APIError, expected: str
) -> None:
    provider.failure = failure
    answers = [
        await get(client, f"{CM}/v1beta2/namespaces/default/pods/web-1/http_requests"),
        await get(client, f"{CM}/v1beta2/namespaces/default/pods/*/http_requests"),
        await get(client, f"{EM}/namespaces/default/lag"),
    ]
    assert answers == [(failure.code, expected)] * 3


async def test_unexpected_errors_are_generic_500s_logged_here(
    client: Client, provider: MemoryProvider, caplog: pytest.LogCaptureFixture
) -> None:
    provider.failure = RuntimeError("password=hunter2 in /etc/secret")
    with caplog.at_level(logging.ERROR, logger="apiservice.server"):
        status, body = await get(
            client, f"{CM}/v1beta1/namespaces/default/pods/web-1/http_requests"
        )
    assert (status, body) == (500, internal_error("an unexpected error; see the server log"))
    assert "hunter2" not in body and "Traceback" not in body
    assert "hunter2" in caplog.text and "Traceback" in caplog.text


def test_auth_is_required_unless_skipped(provider: MemoryProvider) -> None:
    with pytest.raises(ValueError, match="--insecure-skip-auth") as caught:
        build_app(provider, insecure_skip_auth=False)
    assert str(caught.value) == AUTH_REQUIRED


# -- health and metrics -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
async def test_health(client: Client, path: str) -> None:
    response = await client.get(path)
    assert (response.status, await response.text()) == (200, "ok")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("failure", [False, RuntimeError("informers not synced")])
async def test_not_ready(client: Client, readiness: Readiness, failure: bool | Exception) -> None:
    readiness.ready = failure
    report = "[+]ping ok\n[-]provider failed: reason withheld\nreadyz check failed\n"
    assert await get(client, "/readyz") == (500, report)
    assert await get(client, "/livez") == (200, "ok")  # alive all the same
    assert await get(client, "/healthz") == (200, "ok")


async def test_request_metrics(client: Client, registry: CollectorRegistry) -> None:
    await client.get(f"{CM}/v1beta2/namespaces/default/pods/web-1/http_requests")
    await client.get(f"{CM}/v1beta2/namespaces/default/pods/web-1/http_requests")
    await client.get(f"{CM}/v1beta2/namespaces/default/pods/web-1/nope")
    await client.get("/apis")
    await client.get("/no/such/path")
    await client.delete("/apis")

    def requests(verb: str, route: str, code: str) -> float | None:
        labels = {"verb": verb, "route": route, "code": code}
        return registry.get_sample_value("surge_apiserver_requests_total", labels)

    assert requests("GET", "custom", "200") == 2
    assert requests("GET", "custom", "404") == 1
    assert requests("GET", "discovery", "200") == 1
    assert requests("GET", "unknown", "404") == 1
    assert requests("DELETE", "discovery", "405") == 1
    duration = registry.get_sample_value(
        "surge_apiserver_request_duration_seconds_count", {"verb": "GET", "route": "custom"}
    )
    assert duration == 3

    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    exposition = await response.text()
    assert 'surge_apiserver_requests_total{code="404",route="custom",verb="GET"} 1.0' in exposition
    assert "surge_apiserver_request_duration_seconds_bucket" in exposition


# -- OpenAPI ----------------------------------------------------------------------------------


def refs(document: Any) -> set[str]:
    """Every $ref in a document."""
    if isinstance(document, dict):
        found = {document["$ref"]} if "$ref" in document else set()
        return found.union(*(refs(value) for value in document.values()))
    if isinstance(document, list):
        return set().union(*(refs(value) for value in document))
    return set()


LIST_KINDS = [
    ("custom.metrics.k8s.io", "v1beta1", "MetricValueList", "custom_metrics"),
    ("custom.metrics.k8s.io", "v1beta2", "MetricValueList", "custom_metrics"),
    ("external.metrics.k8s.io", "v1beta1", "ExternalMetricValueList", "external_metrics"),
]


async def test_openapi_v2(client: Client) -> None:
    response = await client.get("/openapi/v2")
    assert response.status == 200
    spec = json.loads(await response.read())
    assert spec["swagger"] == "2.0"
    definitions = spec["definitions"]
    assert refs(spec) <= {f"#/definitions/{name}" for name in definitions}  # every $ref resolves
    for group, version, kind, package in LIST_KINDS:
        definition = definitions[f"io.k8s.metrics.pkg.apis.{package}.{version}.{kind}"]
        gvk = {"group": group, "kind": kind, "version": version}
        assert definition["x-kubernetes-group-version-kind"] == [gvk]
        operations = [
            p["get"] for path, p in spec["paths"].items() if f"/{group}/{version}/" in path
        ]
        assert sum(op.get("x-kubernetes-group-version-kind") == gvk for op in operations) >= 1
    custom = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/{resource}/{name}/{metric}"
    parameters = {p["name"]: p["in"] for p in spec["paths"][custom]["get"]["parameters"]}
    assert parameters == {
        "namespace": "path",
        "resource": "path",
        "name": "path",
        "metric": "path",
        "labelSelector": "query",
        "metricLabelSelector": "query",
    }
    item = definitions["io.k8s.metrics.pkg.apis.custom_metrics.v1beta1.MetricValue"]
    assert set(item["properties"]) == {
        "describedObject",
        "metricName",
        "timestamp",
        "window",
        "value",
        "selector",
    }


async def test_openapi_v2_refuses_protobuf_only_clients(client: Client) -> None:
    protobuf = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    response = await client.get("/openapi/v2", headers={"Accept": protobuf})
    assert response.status == 406
    assert json.loads(await response.text())["reason"] == "NotAcceptable"
    both = {"Accept": f"{protobuf}, application/json;q=0.9"}
    assert (await client.get("/openapi/v2", headers=both)).status == 200


async def test_openapi_v3(client: Client) -> None:
    status, body = await get(client, "/openapi/v3")
    assert status == 200
    paths = json.loads(body)["paths"]
    assert sorted(paths) == sorted(f"apis/{g}/{v}" for g, v, _, _ in LIST_KINDS)
    for group, version, kind, package in LIST_KINDS:
        url = paths[f"apis/{group}/{version}"]["serverRelativeURL"]
        document = await client.get(url)
        assert document.status == 200
        assert document.headers["Cache-Control"] == "public, immutable"
        digest = url.split("?hash=")[1]
        assert document.headers["ETag"] == f'"{digest}"'
        spec = json.loads(await document.read())
        assert spec["openapi"] == "3.0.0"
        schemas = spec["components"]["schemas"]
        assert refs(spec) <= {f"#/components/schemas/{name}" for name in schemas}
        assert f"io.k8s.metrics.pkg.apis.{package}.{version}.{kind}" in schemas
        assert all(path.startswith(f"/apis/{group}/{version}/") for path in spec["paths"])


async def test_openapi_v3_stale_hash_redirects(client: Client) -> None:
    path = "/openapi/v3/apis/custom.metrics.k8s.io/v1beta2"
    response = await client.get(path, params={"hash": "OLD"}, allow_redirects=False)
    assert response.status == 301
    document = openapi_v3_document("custom.metrics.k8s.io", "v1beta2")
    assert document is not None
    assert response.headers["Location"] == f"{path}?hash={document[1]}"
    plain = await client.get(path)
    assert plain.status == 200 and "Cache-Control" not in plain.headers


def test_openapi_documents_are_stable() -> None:
    assert openapi_v2() is openapi_v2()  # built once: the documents do not depend on metrics


# -- serializers ------------------------------------------------------------------------------


def expression(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator} | ({"values": list(values)} if values else {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b,c==d", {"matchLabels": {"a": "b", "c": "d"}}),
        ("x in (b,a)", {"matchExpressions": [expression("x", "In", "a", "b")]}),
        ("x notin ()", {"matchExpressions": [expression("x", "NotIn", "")]}),
        (
            "x,!y",
            {"matchExpressions": [expression("x", "Exists"), expression("y", "DoesNotExist")]},
        ),
        ("a=1,a=2", {"matchLabels": {"a": "2"}}),  # the later requirement wins, as in Go
    ],
)
def test_label_selector(text: str, expected: dict[str, Any]) -> None:
    assert label_selector(parse_selector(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a!=b", '"!=" is not a valid label selector operator'),
        ("a>1", '"gt" isn\'t supported in label selectors'),
        ("a<1", '"lt" isn\'t supported in label selectors'),
    ],
)
def test_label_selector_without_a_form(text: str, message: str) -> None:
    with pytest.raises(UnconvertibleSelector) as caught:
        label_selector(parse_selector(text))
    assert (caught.value.code, caught.value.reason, caught.value.message) == (500, "", message)


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=UTC), "2026-01-01T12:00:00Z"),
        (
            datetime(2026, 1, 1, 14, 30, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-01T12:30:05Z",
        ),
        (datetime(2026, 1, 1, 12, 0, 0), "2026-01-01T12:00:00Z"),  # naive: taken as UTC
    ],
)
def test_rfc3339(timestamp: datetime, text: str) -> None:
    assert rfc3339(timestamp) == text


def test_encode_escapes_as_go_does() -> None:
    text = {"k": "<a> & b \u2028\u2029 é \n\t\x01"}
    assert (
        encode(text)
        == '{"k":"\\u003ca\\u003e \\u0026 b \\u2028\\u2029 é \\n\\t\\u0001"}\n'.encode()
    )


def test_unknown_custom_version_is_refused() -> None:
    with pytest.raises(ValueError, match="v1beta3"):
        metric_value_list([], "v1beta3")


# -- a real server: TLS on loopback, kubectl as the client --------------------------------------


@pytest.fixture
async def tls_server(
    provider: MemoryProvider, tmp_path: Path
) -> AsyncIterator[tuple[APIServer, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server = APIServer(build_app(provider, insecure_skip_auth=True), "127.0.0.1", 0, context)
    await server.start()
    try:
        yield server, tmp_path
    finally:
        await server.stop()


async def test_serves_tls(tls_server: tuple[APIServer, Path]) -> None:
    server, directory = tls_server
    trust = ssl.create_default_context(cafile=str(directory / "ca.pem"))
    async with aiohttp.ClientSession() as session:
        url = f"https://127.0.0.1:{server.port}/healthz"
        async with session.get(url, ssl=trust) as response:
            assert (response.status, await response.text()) == (200, "ok")
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(url)  # the system trust store does not know this CA


async def kubectl(directory: Path, port: int, *args: str) -> tuple[int, str, str]:
    config = directory / "kubeconfig"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "surge",
                        "cluster": {
                            "server": f"https://127.0.0.1:{port}",
                            "certificate-authority": str(directory / "ca.pem"),
                        },
                    }
                ],
                # a token only so that kubectl does not prompt; this server does not check it
                "users": [{"name": "test", "user": {"token": "unused"}}],
                "contexts": [{"name": "surge", "context": {"cluster": "surge", "user": "test"}}],
                "current-context": "surge",
            }
        )
    )
    env = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(config), "HOME": str(directory)}
    process = await asyncio.create_subprocess_exec(
        "kubectl",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_kubectl_reads_answers_and_errors(tls_server: tuple[APIServer, Path]) -> None:
    server, directory = tls_server

    async def run(*args: str) -> tuple[int, str, str]:
        return await kubectl(directory, server.port, *args)

    code, out, _ = await run(
        "get", "--raw", f"{CM}/v1beta2/namespaces/default/pods/web-1/http_requests"
    )
    assert code == 0 and json.loads(out)["items"][0]["value"] == "1250m"
    code, _, err = await run("get", "--raw", f"{CM}/v1beta2/namespaces/default/pods/web-1/nope")
    assert code == 1
    assert (
        err == "Error from server (NotFound): the server could not find the metric nope for pods\n"
    )
    code, out, _ = await run("api-versions")  # from the group documents
    assert (code, out.split()) == (
        0,
        ["custom.metrics.k8s.io/v1beta1", "external.metrics.k8s.io/v1beta1"],
    )
    code, out, _ = await run("get", "--raw", "/openapi/v2")
    assert code == 0 and json.loads(out)["swagger"] == "2.0"
