"""Health and /metrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from tests.unit.conftest import CM, Client, Readiness, get


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
