"""The HTTP layer's tests (test_server_*.py): a test double of the Provider protocol (in
memory, recording its calls), an aiohttp test client on the app, and the bodies and Status
documents as Kubernetes writes them (field order, omitempty, trailing newline).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from apiservice.errors import (
    metric_not_found,
)
from apiservice.provider import (
    CustomMetricInfo,
    ExternalMetricInfo,
    ExternalMetricValue,
    GroupResource,
    MetricValue,
    ObjectReference,
)
from apiservice.quantity import Quantity
from apiservice.selectors import Selector
from apiservice.server import build_app

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
