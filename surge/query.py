"""`surge query PATH`: the body the server would return for one API path, without a server.

The same application answers, in process, over a private Unix socket: there is no second
code path that could drift from the server's.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import aiohttp
from aiohttp import web

from apiservice.errors import APIError
from apiservice.server import build_app
from surge.options import QueryOptions
from surge.wiring import backend

log = logging.getLogger("surge.query")


async def _ask(app: web.Application, path: str) -> tuple[int, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    with tempfile.TemporaryDirectory(prefix="surge-query-") as tmp:
        sock = str(Path(tmp) / "api.sock")
        await web.UnixSite(runner, sock).start()
        try:
            async with (
                aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock)) as session,
                session.get("http://surge" + path) as resp,
            ):
                return resp.status, await resp.text()
        finally:
            await runner.cleanup()


async def query(options: QueryOptions) -> int:
    path = options.path if options.path.startswith("/") else "/" + options.path
    async with backend(options.backend, watch=False) as b:
        try:
            await b.discovery.relist()
        except APIError as err:  # answered below as the server answers without a list
            log.error("listing series failed: %s", err.message)
        if b.forecaster is not None:
            await b.forecaster.refresh()  # one round: the server would have had its first
        app = build_app(
            b.provider, ready=lambda: True, insecure_skip_auth=True, resources=b.resources
        )
        code, body = await _ask(app, path)
    sys.stdout.write(body if body.endswith("\n") else body + "\n")
    return 0 if 200 <= code < 300 else 1
