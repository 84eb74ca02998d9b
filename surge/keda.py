"""The KEDA external scaler, wired from `surge serve`'s flags.

It serves gRPC next to the HTTPS API, on --scaler-port, with the same serving certificate
(re-read when the files change, as the HTTPS server does), over the same provider and
engine: KEDA's calls share the HPA's snapshots and refreshes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from apiservice.scaler.server import ExternalScaler, ScalerServer, tls_credentials
from apiservice.scaler.streams import StreamHub
from surge.options import ServeOptions
from surge.wiring import Backend, UsageError

log = logging.getLogger("surge.keda")


async def start_scaler(
    options: ServeOptions, b: Backend, cert: Path, key: Path
) -> ScalerServer | None:
    """The running scaler, or None when --scaler-port is 0 (the default)."""
    if not options.scaler.port:
        return None
    # An engine with snapshots pushes StreamIsActive on its refreshes; one without keeps
    # none, so streams are re-evaluated every --freshness instead.
    scaler = ExternalScaler(
        b.provider,
        StreamHub(b.engine.changes, tick_s=options.backend.engine_settings.freshness_s),
        raw_query=b.provider.raw_query if options.scaler.allow_raw_query else None,
        registry=b.registry,
    )
    try:
        client_ca = Path(options.scaler.client_ca_file) if options.scaler.client_ca_file else None
        credentials = tls_credentials(cert, key, client_ca)
        server = ScalerServer(
            scaler, options.serving.bind_address, options.scaler.port, credentials
        )
    except OSError as err:
        raise UsageError(str(err)) from None
    await server.start()
    raw = "allowed" if options.scaler.allow_raw_query else "refused"
    clients = "certificates required" if options.scaler.client_ca_file else "any client"
    log.info(
        "KEDA external scaler on %s:%d (gRPC over TLS, %s; raw PromQL %s)",
        options.serving.bind_address,
        server.port,
        clients,
        raw,
    )
    return server
