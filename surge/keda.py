"""The KEDA external scaler, wired from `surge serve`'s flags.

It serves gRPC next to the HTTPS API, on --scaler-port, with the same serving certificate
(re-read when the files change, as the HTTPS server does), over the same provider and
engine: KEDA's calls share the HPA's snapshots and refreshes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from adapter.engine import OptimizedEngine
from apiservice.scaler.server import ExternalScaler, ScalerServer, tls_credentials
from apiservice.scaler.streams import StreamHub
from surge.wiring import Backend, UsageError

log = logging.getLogger("surge.keda")


async def start_scaler(
    args: argparse.Namespace, b: Backend, cert: Path, key: Path
) -> ScalerServer | None:
    """The running scaler, or None when --scaler-port is 0 (the default)."""
    if not args.scaler_port:
        return None
    # The optimized engine pushes StreamIsActive on its refreshes; the naive one keeps
    # none, so streams are re-evaluated every --freshness instead.
    feed = b.engine if isinstance(b.engine, OptimizedEngine) else None
    scaler = ExternalScaler(
        b.provider,
        StreamHub(feed, tick_s=args.freshness),
        raw_query=b.provider.raw_query if args.scaler_allow_raw_query else None,
        registry=b.registry,
    )
    try:
        client_ca = Path(args.scaler_client_ca_file) if args.scaler_client_ca_file else None
        credentials = tls_credentials(cert, key, client_ca)
        server = ScalerServer(scaler, args.bind_address, args.scaler_port, credentials)
    except OSError as err:
        raise UsageError(str(err)) from None
    await server.start()
    raw = "allowed" if args.scaler_allow_raw_query else "refused"
    clients = "certificates required" if args.scaler_client_ca_file else "any client"
    log.info(
        "KEDA external scaler on %s:%d (gRPC over TLS, %s; raw PromQL %s)",
        args.bind_address,
        server.port,
        clients,
        raw,
    )
    return server
