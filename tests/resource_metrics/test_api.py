"""metrics.k8s.io over HTTP: routes, discovery, bodies and errors, from fixed answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer

from apiservice.errors import BadRequest
from apiservice.quantity import Format, Quantity
from apiservice.resource_metrics import (
    ContainerMetrics,
    FieldSelector,
    NodeMetrics,
    PodMetrics,
    Usage,
    node_not_found,
    pod_metrics_not_found,
)
from apiservice.routes import Discovery, ResourceMetrics, resolve
from apiservice.selectors import Selector
from apiservice.server import build_app

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
USAGE = Usage(Quantity.from_scaled(12_345_678, -9), Quantity.from_scaled(2048, 0, Format.BINARY_SI))
PODS = [
    PodMetrics("shop", "b", AT, "30s", (ContainerMetrics("c", USAGE),), {"app": "x"}),
    PodMetrics("batch", "a", AT, "30s", (ContainerMetrics("c", USAGE),)),
]
NODES = [NodeMetrics("n1", AT, "30s", USAGE, {"zone": "z"})]


class FixedResources:
    """A ResourceMetricsProvider with fixed answers, filtered as the real one filters."""

    async def list_pod_metrics(self, namespace: str, selector: Selector) -> list[PodMetrics]:
        return [
            p
            for p in PODS
            if (not namespace or p.namespace == namespace) and selector.matches(p.labels)
        ]

    async def get_pod_metrics(self, namespace: str, name: str) -> PodMetrics:
        for p in PODS:
            if (p.namespace, p.name) == (namespace, name):
                return p
        raise pod_metrics_not_found(namespace, name)

    async def list_node_metrics(self, selector: Selector) -> list[NodeMetrics]:
        return [n for n in NODES if selector.matches(n.labels)]

    async def get_node_metrics(self, name: str) -> NodeMetrics:
        raise node_not_found(name)


class NoCustomMetrics:
    def list_all_metrics(self) -> list[object]:
        return []

    def list_all_external_metrics(self) -> list[object]:
        return []


async def _client(resources: FixedResources | None) -> AsyncIterator[TestClient]:
    app = build_app(NoCustomMetrics(), insecure_skip_auth=True, resources=resources)  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async for c in _client(FixedResources()):
        yield c


@pytest.fixture
async def without() -> AsyncIterator[TestClient]:
    async for c in _client(None):
        yield c


def test_routes() -> None:
    v = "/apis/metrics.k8s.io/v1beta1"
    assert resolve("/apis/metrics.k8s.io") == Discovery("metrics.k8s.io")
    assert resolve(v) == Discovery("metrics.k8s.io", "v1beta1")
    assert resolve(f"{v}/pods") == ResourceMetrics("pods", "", None)
    assert resolve(f"{v}/nodes/") == ResourceMetrics("nodes", "", None)
    assert resolve(f"{v}/nodes/n1") == ResourceMetrics("nodes", "", "n1")
    assert resolve(f"{v}/namespaces/shop/pods") == ResourceMetrics("pods", "shop", None)
    assert resolve(f"{v}/namespaces/shop/pods/p") == ResourceMetrics("pods", "shop", "p")
    for path in (
        f"{v}/namespaces/shop",
        f"{v}/namespaces/shop/nodes",
        f"{v}/services",
        "/apis/metrics.k8s.io/v1",
    ):
        assert resolve(path) is None, path


def test_field_selector() -> None:
    selector = FieldSelector.parse("metadata.namespace=shop,metadata.name!=b")
    assert selector.matches("shop", "a") and not selector.matches("shop", "b")
    assert FieldSelector.parse("spec.nodeName=x").matches("shop", "a") is False
    assert FieldSelector.parse("spec.nodeName!=x").matches("shop", "a") is True
    with pytest.raises(BadRequest):
        FieldSelector.parse("metadata.name")


async def test_pod_list_body(client: TestClient) -> None:
    resp = await client.get("/apis/metrics.k8s.io/v1beta1/pods")
    assert resp.status == 200
    text = await resp.text()
    body = await resp.json()
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]] == [
        ("batch", "a"),
        ("shop", "b"),
    ]
    assert text.startswith(
        '{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},'
        '"items":[{"metadata":{"name":"a","namespace":"batch","creationTimestamp":"'
    )
    assert text.endswith(
        '"timestamp":"2026-01-02T03:04:05Z","window":"30s","containers":'
        '[{"name":"c","usage":{"cpu":"12345678n","memory":"2Ki"}}]}]}\n'
    )
    assert body["items"][1]["metadata"]["labels"] == {"app": "x"}
    selected = await (
        await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods?labelSelector=app%3Dx")
    ).json()
    assert [i["metadata"]["name"] for i in selected["items"]] == ["b"]
    bad = await client.get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a%3D%3D%3Db")
    assert bad.status == 400


async def test_single_objects_and_404s(client: TestClient) -> None:
    one = await (await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/b")).json()
    assert (one["kind"], one["apiVersion"]) == ("PodMetrics", "metrics.k8s.io/v1beta1")
    missing = await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/zz")
    assert missing.status == 404
    status = await missing.json()
    assert status["message"] == 'podmetrics.metrics.k8s.io "shop/zz" not found'
    assert status["details"] == {"name": "shop/zz", "group": "metrics.k8s.io", "kind": "podmetrics"}
    node = await client.get("/apis/metrics.k8s.io/v1beta1/nodes/n9")
    assert (node.status, (await node.json())["message"]) == (404, 'nodes "n9" not found')
    nodes = await (
        await client.get("/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Dz")
    ).json()
    assert nodes["kind"] == "NodeMetricsList"
    assert nodes["items"][0]["metadata"]["labels"] == {"zone": "z"}


async def test_discovery_lists_the_group_only_when_served(
    client: TestClient, without: TestClient
) -> None:
    groups = await (await client.get("/apis")).json()
    assert [g["name"] for g in groups["groups"]][-1] == "metrics.k8s.io"
    group = await (await client.get("/apis/metrics.k8s.io")).json()
    assert group["preferredVersion"] == {
        "groupVersion": "metrics.k8s.io/v1beta1",
        "version": "v1beta1",
    }
    groups = await (await without.get("/apis")).json()
    assert "metrics.k8s.io" not in [g["name"] for g in groups["groups"]]
    for path in (
        "/apis/metrics.k8s.io",
        "/apis/metrics.k8s.io/v1beta1",
        "/apis/metrics.k8s.io/v1beta1/pods",
    ):
        assert (await without.get(path)).status == 404, path
