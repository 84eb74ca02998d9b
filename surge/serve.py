"""`surge serve`: the aggregated API server, wired and run until SIGTERM.

Shutdown, in order: /readyz fails at once; after --shutdown-delay-duration the port
closes (new connections are refused), idle keep-alive connections close, requests in
flight finish; the process exits 0 within --shutdown-grace-period whatever clients do.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Gauge

from adapter.discovery import BrokenRulesCollector, broken_note
from apiservice.auth import (
    AccessReviewer,
    Authenticator,
    DelegatedAuth,
    FrontProxyConfig,
    KubeCalls,
    ReviewError,
    TokenReviewer,
    TrustSource,
    follow_configmap,
    load_certificates,
    read_configmap,
)
from apiservice.limits import Limits
from apiservice.server import APIServer, build_app
from apiservice.tls import ServingTLS, TLSConfigError, TLSOptions, min_version, openssl_ciphers
from surge.certs import self_signed
from surge.keda import start_scaler
from surge.options import AuthOptions, LimitOptions, ServeOptions, ServingOptions
from surge.wiring import CommandFailed, UsageError, api_client, backend

log = logging.getLogger("surge.serve")


def _tls_pair(serving: ServingOptions) -> tuple[Path, Path]:
    if bool(serving.tls_cert_file) != bool(serving.tls_private_key_file):
        raise UsageError("--tls-cert-file and --tls-private-key-file go together")
    if serving.tls_cert_file:
        return Path(serving.tls_cert_file), Path(serving.tls_private_key_file)
    hosts = ["localhost", "127.0.0.1", "::1"]
    if serving.bind_address not in ("0.0.0.0", "::", *hosts):
        hosts.append(serving.bind_address)
    try:
        return self_signed(Path(serving.cert_dir), hosts)
    except OSError as err:
        raise UsageError(f"--cert-dir {serving.cert_dir}: {err.strerror}") from None


def _tls_settings(serving: ServingOptions) -> tuple[ssl.TLSVersion, str | None]:
    """The version floor and ciphers, checked before anything is loaded or generated."""
    try:
        version = min_version(serving.tls_min_version)
    except TLSConfigError as err:
        raise UsageError(f"--tls-min-version: {err}") from None
    try:
        return version, openssl_ciphers(serving.tls_cipher_suites)
    except TLSConfigError as err:
        raise UsageError(f"--tls-cipher-suites: {err}") from None


def _tls_options(serving: ServingOptions) -> TLSOptions:
    cert, key = _tls_pair(serving)
    version, ciphers = _tls_settings(serving)
    return TLSOptions(
        cert, key, version, ciphers, request_client_certs=not serving.insecure_skip_auth
    )


def _limits(limits: LimitOptions) -> Limits:
    if limits.max_requests_inflight < 0:
        raise UsageError("--max-requests-inflight must not be negative")
    if limits.request_timeout_s <= 0:
        raise UsageError("--request-timeout must be above 0")
    if limits.shutdown_delay_s >= limits.shutdown_grace_period_s:
        raise UsageError("--shutdown-delay-duration must be shorter than --shutdown-grace-period")
    return Limits(
        max_requests_inflight=limits.max_requests_inflight,
        request_timeout_s=limits.request_timeout_s,
        idle_timeout_s=limits.idle_connection_timeout_s,
    )


def _read_cas(path: str, flag: str) -> tuple[Any, ...]:
    try:
        return load_certificates(Path(path).read_bytes(), f"{flag} {path}")
    except OSError as err:
        raise UsageError(f"cannot read {flag} {path}: {err.strerror}") from None
    except ValueError as err:
        raise UsageError(str(err)) from None


@dataclass
class _Delegation:
    auth: DelegatedAuth
    trust: TrustSource
    follow: Callable[[], Coroutine[Any, Any, None]] | None  # keeps the trust on the ConfigMap


async def _delegation(options: AuthOptions, stack: contextlib.AsyncExitStack) -> _Delegation:
    client_cas = (
        _read_cas(options.client_ca_file, "--client-ca-file") if options.client_ca_file else None
    )
    front_proxy = None
    if options.requestheader_client_ca_file:
        front_proxy = FrontProxyConfig(
            _read_cas(options.requestheader_client_ca_file, "--requestheader-client-ca-file"),
            frozenset(options.requestheader_allowed_names),
            options.requestheader_username_headers,
            options.requestheader_group_headers,
            options.requestheader_extra_headers_prefix,
        )
    hint = "; or pass --insecure-skip-auth to serve without authentication (demo only)"
    try:
        authn = KubeCalls(await api_client(options.authentication_kubeconfig, "authentication"))
        stack.push_async_callback(authn.close)
        authz = KubeCalls(await api_client(options.authorization_kubeconfig, "authorization"))
        stack.push_async_callback(authz.close)
    except UsageError as err:
        raise UsageError(f"{err}{hint}") from None
    trust = TrustSource(client_cas, front_proxy)
    follow = None
    if trust.needs_configmap and not options.authentication_skip_lookup:
        try:
            await read_configmap(authn, trust)
        except ReviewError as err:  # the inputs are fine, the cluster did not answer: exit 1
            raise CommandFailed(
                f"{err}; pass --client-ca-file and --requestheader-client-ca-file, "
                f"or --authentication-skip-lookup{hint}"
            ) from None
        follow = functools.partial(follow_configmap, authn, trust)
    if not trust.current.client_cas and trust.current.front_proxy is None and follow is None:
        log.warning("no client CA and no front-proxy CA: only bearer tokens can authenticate")
    auth = DelegatedAuth(
        Authenticator(trust, TokenReviewer(authn, options.token_cache_ttl_s)),
        AccessReviewer(
            authz,
            options.authorized_cache_ttl_s,
            options.unauthorized_cache_ttl_s,
            broad=options.broad_reviews,
        ),
        options.always_allow_paths,
    )
    return _Delegation(auth, trust, follow)


async def serve(options: ServeOptions, on_ready: Callable[[], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; `on_ready` runs once the port is open."""
    serving, shutdown = options.serving, options.limits
    limits = _limits(options.limits)
    _tls_settings(serving)
    async with contextlib.AsyncExitStack() as stack:
        tasks: list[asyncio.Task[None]] = []
        # The input files before authentication: a missing rules file is named as one.
        b = await stack.enter_async_context(backend(options.backend, watch=True))
        if serving.insecure_skip_auth:
            log.warning(
                "AUTHENTICATION IS OFF (--insecure-skip-auth): every caller reaching port %d "
                "is trusted with every metric; never run this way in a cluster",
                serving.secure_port,
            )
            auth, tls = None, _serving_tls(_tls_options(serving))
        else:
            delegation = await _delegation(options.auth, stack)
            auth, trust = delegation.auth, delegation.trust
            tls = _serving_tls(_tls_options(serving), trust.current.pem())
            trust.on_change = lambda current: tls.set_client_cas(current.pem())
            if delegation.follow is not None:
                tasks.append(asyncio.create_task(delegation.follow(), name="auth-configmap"))
        try:
            await b.discovery.relist()
        except Exception as err:
            log.error("first series listing failed, retrying every relist interval: %s", err)
        # Index the metrics' objects now: ready once they are listed, not at the first
        # request (which would wait for the list of every pod of the cluster).
        b.objects.prime(b.discovery.registry.resources())
        tasks.append(asyncio.create_task(b.discovery.run(), name="series-relist"))
        tasks.append(asyncio.create_task(tls.watch(), name="serving-cert-reload"))
        await b.engine.start()
        if b.forecaster is not None:
            await b.forecaster.start()
        stopping = asyncio.Event()
        Gauge(
            "surge_object_index_live",
            "1 while every object index is kept current by its watch; 0 while Surge answers "
            "from the last index because the Kubernetes API is unreachable.",
            registry=b.registry,
        ).set_function(lambda: float(b.objects.live()))
        series = b.discovery.registry
        b.registry.register(BrokenRulesCollector(series))
        app = build_app(
            b.provider,
            metrics_registry=b.registry,
            # Some rules broken: ready, and /readyz says so. All broken: nothing to serve.
            ready=lambda: (
                not stopping.is_set()
                and series.listed_at is not None
                and not series.all_broken
                and b.objects.ready()
            ),
            ready_note=lambda: broken_note(series),
            insecure_skip_auth=auth is None,
            auth=auth,
            limits=limits,
            resources=b.resources,
        )
        grace = shutdown.shutdown_grace_period_s
        drain = grace - shutdown.shutdown_delay_s
        # aiohttp waits up to its timeout for handlers, then as long again for cancelled
        # ones: half the drain each, less a margin for closing the backend.
        server = APIServer(
            app,
            serving.bind_address,
            serving.secure_port,
            tls.context,
            shutdown_timeout=max((drain - 1.0) / 2, 0.1),
        )
        try:
            await server.start()
        except OSError as err:
            raise UsageError(
                f"cannot listen on {serving.bind_address}:{serving.secure_port}: {err.strerror}"
            ) from None
        log.info("serving on https://%s:%d", serving.bind_address, serving.secure_port)
        scaler = await start_scaler(options, b, *_tls_pair(serving))
        if on_ready is not None:
            on_ready()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        log.info("shutting down: /readyz fails from now on")
        if shutdown.shutdown_delay_s > 0:
            await asyncio.sleep(shutdown.shutdown_delay_s)
        log.info("closing the port; finishing the requests in flight")
        if scaler is not None:
            await scaler.stop(grace_s=max(drain - 1.0, 0.1) / 2)
        try:
            async with asyncio.timeout(max(drain - 0.5, 0.1)):
                await server.stop()
        except TimeoutError:
            log.warning("requests still running at the end of the grace period were cut")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if b.forecaster is not None:
            await b.forecaster.close()
        await b.engine.close()
        await b.objects.close()
        log.info("stopped")
    return 0


def _serving_tls(options: TLSOptions, client_ca_pem: bytes = b"") -> ServingTLS:
    try:
        return ServingTLS(options, client_ca_pem)
    except TLSConfigError as err:
        raise UsageError(str(err)) from None
