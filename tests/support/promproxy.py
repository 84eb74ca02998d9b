"""A recording proxy in front of a real Prometheus: counts queries, can fail or stall.

Not a stand-in: every answer it gives in `pass` mode is the real Prometheus' answer. It
lets tests count what reaches the backend and make the backend fail on cue: all of it
(`mode`), or only the queries `failing` picks, which get `failure`, by default the answer
Prometheus gives a query over its `--query.max-samples` (HTTP 422, word for word), or
that `stalling` picks, which are held `stall_s` before they are answered.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Literal

import aiohttp
from aiohttp import web

from surge.demo.localprom import free_port

Mode = Literal["pass", "refuse", "error", "stall"]

TOO_MANY_SAMPLES = (
    422,
    "execution",
    "query processing would load too many samples into memory in query execution",
)


class PrometheusProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode: Mode = "pass"
        self.stall_s = 30.0
        self.failing: Callable[[str], bool] = lambda query: False
        self.stalling: Callable[[str], bool] = lambda query: False  # held for stall_s
        self.failure: tuple[int, str, str] = TOO_MANY_SAMPLES  # status, errorType, error
        self.queries: Counter[str] = Counter()  # PromQL -> times it reached the proxy
        self.series_calls = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def total(self) -> int:
        return sum(self.queries.values())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else request.query
        self.requests.append((request.method, request.path, dict(request.headers)))
        query = str(form.get("query", ""))
        if request.path == "/api/v1/query":
            self.queries[query] += 1
            if self.failing(query):
                status, kind, error = self.failure
                return web.json_response(
                    {"status": "error", "errorType": kind, "error": error}, status=status
                )
        elif request.path == "/api/v1/series":
            self.series_calls += 1
        if self.mode == "refuse":
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError
        if self.mode == "error":
            return web.json_response(
                {"status": "error", "errorType": "internal", "error": "injected failure"},
                status=500,
            )
        if self.mode == "stall" or (request.path == "/api/v1/query" and self.stalling(query)):
            await asyncio.sleep(self.stall_s)
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.upstream + request.path,
            params=request.query,
            data=await request.post() if request.method == "POST" else None,
        ) as upstream:
            body = await upstream.read()
            return web.Response(body=body, status=upstream.status, content_type="application/json")

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> PrometheusProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
