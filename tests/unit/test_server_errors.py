"""Errors as metav1.Status: unknown paths, methods, provider errors, unexpected errors."""

from __future__ import annotations

import logging

import pytest

from apiservice.errors import (
    APIError,
    InternalError,
    NotFound,
    ServiceUnavailable,
)
from apiservice.server import AUTH_REQUIRED, build_app
from tests.unit.conftest import CM, EM, Client, MemoryProvider, get, internal_error, status_body


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
