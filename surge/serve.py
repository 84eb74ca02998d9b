"""`surge serve`: the aggregated API server, wired and run until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from apiservice.server import build_app

from surge.certs import self_signed, server_context
from surge.wiring import UsageError, backend

log = logging.getLogger("surge.serve")


def _tls_pair(args: argparse.Namespace) -> tuple[Path, Path]:
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        raise UsageError("--tls-cert-file and --tls-private-key-file go together")
    if args.tls_cert_file:
        return Path(args.tls_cert_file), Path(args.tls_private_key_file)
    hosts = ["localhost", "127.0.0.1", "::1"]
    if args.bind_address not in ("0.0.0.0", "::", *hosts):
        hosts.append(args.bind_address)
    return self_signed(Path(args.cert_dir), hosts)


async def serve(args: argparse.Namespace, on_ready: Callable[[], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; `on_ready` runs once the port is open."""
    if not args.insecure_skip_auth:
        raise UsageError(
            "delegated authentication is not available yet; "
            "pass --insecure-skip-auth to serve without it (anyone reaching the port is trusted)"
        )
    log.warning(
        "AUTHENTICATION IS OFF (--insecure-skip-auth): every caller reaching port %d is trusted",
        args.secure_port,
    )
    cert, key = _tls_pair(args)
    try:
        ssl_context = server_context(cert, key)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot load the serving certificate {cert}: {err}") from None
    async with backend(args, watch=True) as b:
        try:
            await b.discovery.relist()
        except Exception as err:
            log.error("first series listing failed, retrying every relist interval: %s", err)
        relist = asyncio.create_task(b.discovery.run(), name="series-relist")
        await b.engine.start()
        app = build_app(
            b.provider,
            metrics_registry=b.registry,
            ready=lambda: b.discovery.registry.listed_at is not None and b.objects.ready(),
            insecure_skip_auth=True,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.bind_address, args.secure_port, ssl_context=ssl_context)
        await site.start()
        log.info("serving on https://%s:%d", args.bind_address, args.secure_port)
        if on_ready is not None:
            on_ready()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
        relist.cancel()
        await runner.cleanup()
        await b.engine.close()
        await b.objects.close()
    return 0
