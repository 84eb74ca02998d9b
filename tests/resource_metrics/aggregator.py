"""A STAND-IN for kube-apiserver's aggregation layer, for `kubectl top` in tests.

`kubectl top pod` reads the metrics API and, for its checks, the core API, through one
server; in a cluster the aggregator routes /apis/metrics.k8s.io to the APIService's
backend (Surge) and everything else to kube-apiserver. No aggregator can run here, so
this small proxy does that routing faithfully for GET requests: /apis/metrics.k8s.io/...
goes to Surge over HTTPS (verified against Surge's certificate, as the aggregator does
with the APIService's caBundle), anything else to the Kubernetes API stand-in, and /apis
lists the stand-in's groups followed by the group Surge serves, as the aggregator merges
its APIServices into discovery.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from pathlib import Path
from typing import Any, Self

import aiohttp
from aiohttp import web

from tests.support import kubeconfig

_METRICS_PREFIX = "/apis/metrics.k8s.io"


class AggregatorStandin:
    """Serves on 127.0.0.1 from its own thread and event loop; a context manager."""

    def __init__(self, core_url: str, surge_url: str, surge_ca: Path) -> None:
        self.core_url = core_url.rstrip("/")
        self.surge_url = surge_url.rstrip("/")
        self._tls = ssl.create_default_context(cafile=str(surge_ca))
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _get(self, url: str, request: web.Request, accept: str) -> tuple[int, str, bytes]:
        assert self._session is not None
        tls = self._tls if url.startswith("https") else None
        async with self._session.get(
            url, params=request.query, headers={"Accept": accept}, ssl=tls
        ) as resp:
            return resp.status, resp.content_type, await resp.read()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method != "GET":
            return web.json_response({"kind": "Status", "code": 405}, status=405)
        accept = request.headers.get("Accept", "application/json")
        if request.path.rstrip("/") == "/apis":
            return await self._apis(request)
        upstream = self.surge_url if request.path.startswith(_METRICS_PREFIX) else self.core_url
        status, content_type, body = await self._get(upstream + request.path, request, accept)
        return web.Response(status=status, body=body, content_type=content_type)

    async def _apis(self, request: web.Request) -> web.Response:
        assert self._session is not None
        plain = "application/json"
        _, _, core = await self._get(self.core_url + "/apis", request, plain)
        status, _, group = await self._get(self.surge_url + _METRICS_PREFIX, request, plain)
        listing: dict[str, Any] = json.loads(core)
        if status == 200:
            served = json.loads(group)
            listing["groups"].append(
                {k: served[k] for k in ("name", "versions", "preferredVersion")}
            )
        return web.json_response(listing)

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        return kubeconfig.write_kubeconfig(path, self.url, namespace=namespace, name="aggregated")
