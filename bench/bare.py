"""The bare handler: the fastest answer any Python server here can give, for comparison.

One aiohttp route answers every GET with the same precomputed MetricValueList over the
same TLS setup (surge.certs.server_context) and event loop (uvloop) as `surge serve`, with
no routing, parsing, authentication or metrics. `python -m bench storm` measures Surge
against it: what Surge loses to it is the cost of Surge's own work, not of aiohttp, TLS,
the event loop or the load generator.

    python -m bench.bare --port PORT --tls-cert-file CERT --tls-private-key-file KEY
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

import uvloop
from aiohttp import web

from surge.certs import server_context
from surge.demo.localprom import LOOPBACK

# A v1beta2 answer for a two-pod Pods metric, shaped as Surge and prometheus-adapter send it.
BODY = json.dumps(
    {
        "kind": "MetricValueList",
        "apiVersion": "custom.metrics.k8s.io/v1beta2",
        "metadata": {},
        "items": [
            {
                "describedObject": {
                    "kind": "Pod",
                    "namespace": "team-0000",
                    "name": f"svc-0000-7d9f8b6c5d-{p:05d}",
                    "apiVersion": "/v1",
                },
                "metric": {"name": "http_requests_waiting", "selector": None},
                "timestamp": "2025-01-01T00:00:00Z",
                "value": str(p),
            }
            for p in range(2)
        ],
    },
    separators=(",", ":"),
).encode()


async def _answer(_: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


async def serve(port: int, cert: Path, key: Path) -> None:
    """Serve on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", _answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, port, ssl_context=server_context(cert, key)).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-cert-file", type=Path, required=True)
    parser.add_argument("--tls-private-key-file", type=Path, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.tls_cert_file, args.tls_private_key_file))


if __name__ == "__main__":
    main()
