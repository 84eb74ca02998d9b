"""Limits on a real server over TLS: requests in flight (429), the request timeout (504),
body and header sizes, and clients that are slow to send a request or never send one."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import trustme

from apiservice.limits import TOO_MANY_REQUESTS, Limits
from apiservice.provider import CustomMetricInfo, MetricValue
from apiservice.selectors import Selector
from apiservice.server import APIServer, build_app
from bench.fuzz import FuzzProvider

METRIC = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods/web/http_requests"


class HeldProvider(FuzzProvider):
    """Holds every by-name question until released; counts those waiting."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0

    async def get_metric_by_name(
        self, namespace: str, name: str, info: CustomMetricInfo, metric_selector: Selector
    ) -> MetricValue:
        self.waiting += 1
        try:
            await self.release.wait()
        finally:
            self.waiting -= 1
        return await super().get_metric_by_name(namespace, name, info, metric_selector)


@pytest.fixture
async def provider() -> HeldProvider:
    return HeldProvider()


@pytest.fixture
async def serve(
    provider: HeldProvider, tmp_path: Path
) -> AsyncIterator[Callable[[Limits], Awaitable[tuple[int, ssl.SSLContext]]]]:
    servers: list[APIServer] = []
    ca = trustme.CA()

    async def start(limits: Limits) -> tuple[int, ssl.SSLContext]:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        app = build_app(provider, insecure_skip_auth=True, limits=limits)
        server = APIServer(app, "127.0.0.1", 0, context, shutdown_timeout=1)
        await server.start()
        servers.append(server)
        client = ssl.create_default_context()
        ca.configure_trust(client)
        return server.port, client

    yield start
    provider.release.set()
    for server in servers:
        await server.stop()


async def _until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_requests_beyond_the_limit_get_429_and_health_still_answers(
    serve: Callable[[Limits], Awaitable[tuple[int, ssl.SSLContext]]],
    provider: HeldProvider,
) -> None:
    port, tls = await serve(Limits(max_requests_inflight=2))
    base = f"https://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:

        async def get(path: str) -> tuple[int, str, str | None]:
            async with session.get(base + path, ssl=tls) as resp:
                return resp.status, await resp.text(), resp.headers.get("Retry-After")

        held = [asyncio.create_task(get(METRIC)) for _ in range(2)]
        await _until(lambda: provider.waiting == 2)
        assert await get("/apis") == (429, TOO_MANY_REQUESTS, "1")
        assert await get(METRIC) == (429, TOO_MANY_REQUESTS, "1")
        assert await get("/readyz") == (200, "ok", None)
        provider.release.set()
        for status, body, _ in await asyncio.gather(*held):
            assert status == 200 and json.loads(body)["items"][0]["value"] == "1500m"
        assert (await get("/apis"))[0] == 200


async def test_a_request_past_the_timeout_gets_504(
    serve: Callable[[Limits], Awaitable[tuple[int, ssl.SSLContext]]],
) -> None:
    port, tls = await serve(Limits(request_timeout_s=0.2))
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"https://127.0.0.1:{port}{METRIC}", ssl=tls) as resp,
    ):
        assert resp.status == 504
        assert await resp.json() == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Timeout: request did not complete within requested timeout - "
            "context deadline exceeded",
            "reason": "Timeout",
            "details": {},
            "code": 504,
        }


async def test_a_request_too_large_is_refused(
    serve: Callable[[Limits], Awaitable[tuple[int, ssl.SSLContext]]],
) -> None:
    port, tls = await serve(Limits(max_body_bytes=1024, max_header_field_bytes=2048))
    base = f"https://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/apis", data=b"x" * 4096, ssl=tls) as resp:
            assert resp.status == 413
            body = await resp.json()
            assert (body["reason"], body["message"]) == (
                "RequestEntityTooLarge",
                "Request entity too large: limit is 1024",
            )
        async with session.get(base + "/apis", headers={"X-Big": "b" * 4096}, ssl=tls) as resp:
            assert resp.status == 400


async def _open(
    port: int, tls: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=tls, server_hostname="127.0.0.1")


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes; bounded so a failure cannot hang."""
    return await asyncio.wait_for(reader.read(), timeout=30)


async def test_a_client_trickling_its_headers_is_cut_off(
    serve: Callable[[Limits], Awaitable[tuple[int, ssl.SSLContext]]],
) -> None:
    port, tls = await serve(Limits(idle_timeout_s=0.5))
    reader, writer = await _open(port, tls)
    writer.write(b"GET /apis HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:
        for i in range(1000):
            await asyncio.sleep(0.05)
            writer.write(f"X-Slow-{i}: y\r\n".encode())

    dripping = asyncio.create_task(trickle())
    try:
        assert await _closed_by_server(reader) == b""  # closed without an answer
    finally:
        dripping.cancel()
        writer.close()


async def test_an_idle_keepalive_connection_is_closed(
    serve: Callable[[Limits], Awaitable[tuple[int, ssl.SSLContext]]],
) -> None:
    port, tls = await serve(Limits(idle_timeout_s=0.5))
    reader, writer = await _open(port, tls)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await _closed_by_server(reader)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")
    writer.close()


async def test_a_connection_that_never_speaks_is_closed(
    serve: Callable[[Limits], Awaitable[tuple[int, ssl.SSLContext]]],
) -> None:
    port, tls = await serve(Limits(idle_timeout_s=0.5))
    reader, writer = await _open(port, tls)
    assert await _closed_by_server(reader) == b""
    writer.close()
