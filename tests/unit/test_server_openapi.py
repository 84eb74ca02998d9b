"""The OpenAPI v2 and v3 documents."""

from __future__ import annotations

import json
from typing import Any

from apiservice.openapi import openapi_v2, openapi_v3_document
from tests.unit.conftest import Client, get


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
