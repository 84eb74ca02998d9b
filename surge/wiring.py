"""Builds the backend (Prometheus, objects, series discovery, provider) from flags."""

from __future__ import annotations

import argparse
import contextlib
import logging
import ssl
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from adapter.config import AdapterConfig
from adapter.discovery import SeriesDiscovery
from adapter.engine import EngineSettings, NaiveEngine, OptimizedEngine
from adapter.forecast.provider import ForecastProvider
from adapter.forecast.service import Forecaster, ForecastSettings
from adapter.objects import ClusterObjects, KubeAPI, ObjectIndex, StaticObjects
from adapter.prometheus import PrometheusClient, PrometheusSettings
from adapter.provider import PrometheusProvider
from adapter.resources import ResourceMapper
from adapter.resources_provider import ResourceMetricsSource
from adapter.rules import load_config
from apiservice.errors import APIError
from apiservice.kube import KubeconfigError, load_client

log = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad flags or inputs: one line on stderr, exit 2."""


class CommandFailed(Exception):
    """The inputs were fine, the command failed (a service unreachable): one line, exit 1."""


_PROMETHEUS_FILES = (
    "prometheus_token_file",
    "prometheus_password_file",
    "prometheus_ca_file",
    "prometheus_client_tls_cert_file",
    "prometheus_client_tls_key_file",
)


def _check_prometheus_inputs(args: argparse.Namespace) -> None:
    url = urllib.parse.urlsplit(args.prometheus_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UsageError(
            f"--prometheus-url {args.prometheus_url!r}: expected http(s)://HOST[:PORT][/PATH]"
        )
    for flag in _PROMETHEUS_FILES:
        path = getattr(args, flag)
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as err:
            raise UsageError(
                f"cannot read --{flag.replace('_', '-')} {path}: {err.strerror}"
            ) from None


def prometheus_client(args: argparse.Namespace) -> PrometheusClient:
    """The Prometheus client of the flags, its files read once now to fail early."""
    _check_prometheus_inputs(args)
    client = PrometheusClient(prometheus_settings(args))
    try:
        client.check_tls()
    except (ssl.SSLError, OSError) as err:
        files = [args.prometheus_ca_file, args.prometheus_client_tls_cert_file]
        named = ", ".join(f for f in files if f)
        raise UsageError(f"cannot load Prometheus' TLS files ({named}): {err}") from None
    return client


def prometheus_settings(args: argparse.Namespace) -> PrometheusSettings:
    headers: dict[str, str] = {}
    for item in args.prometheus_header or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--prometheus-header {item!r}: expected Name=Value")
        headers[key.strip()] = value.strip()
    password = None
    if args.prometheus_password_file:
        with open(args.prometheus_password_file) as f:
            password = f.read().strip()
    return PrometheusSettings(
        url=args.prometheus_url,
        timeout_s=args.prometheus_timeout,
        bearer_token_file=args.prometheus_token_file,
        username=args.prometheus_username,
        password=password,
        ca_file=args.prometheus_ca_file,
        insecure_skip_verify=args.prometheus_insecure_skip_tls_verify,
        client_cert_file=args.prometheus_client_tls_cert_file,
        client_key_file=args.prometheus_client_tls_key_file,
        headers=headers,
        verb=args.prometheus_verb,
    )


def adapter_config(path: str) -> AdapterConfig:
    from adapter.rules import ConfigError

    try:
        return load_config(path)
    except ConfigError as err:
        first = str(err).splitlines()[0] if str(err) else "invalid config"
        more = len(str(err).splitlines()) - 1
        hint = f" (and {more} more: run `surge check {path}`)" if more else ""
        raise UsageError(first + hint) from None


async def api_client(kubeconfig: str | None, purpose: str) -> Any:
    """A kubernetes-asyncio ApiClient from `kubeconfig`, or in-cluster when None."""
    try:
        return await load_client(kubeconfig)
    except KubeconfigError as err:
        hint = (
            " (pass --kubeconfig, or --objects FILE to run without a cluster)"
            if purpose == "objects" and not kubeconfig
            else ""
        )
        raise UsageError(f"cannot load the {purpose} Kubernetes client: {err}{hint}") from None


async def discover(api: KubeAPI) -> ResourceMapper:
    """The cluster's resources; an API that cannot answer fails the command (exit 1)."""
    try:
        return await api.discover()
    except APIError as err:
        raise CommandFailed(f"cannot discover the cluster's resources: {err.message}") from None


async def _kube_api(kubeconfig: str | None) -> KubeAPI:
    return KubeAPI(await api_client(kubeconfig, "objects"))


@dataclass
class Backend:
    provider: PrometheusProvider | ForecastProvider
    discovery: SeriesDiscovery
    objects: ObjectIndex
    prometheus: PrometheusClient
    engine: NaiveEngine
    registry: CollectorRegistry
    resources: ResourceMetricsSource | None = None  # metrics.k8s.io, from resourceRules
    forecaster: Forecaster | None = None  # --forecast-config


def _engine(
    args: argparse.Namespace, prometheus: PrometheusClient, registry: CollectorRegistry
) -> NaiveEngine:
    if args.engine == "naive":
        return NaiveEngine(prometheus)
    for flag in ("max_concurrent_queries", "max_series_per_query", "max_query_length"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.max_staleness < args.freshness:
        raise UsageError("--max-staleness must not be shorter than --freshness")
    settings = EngineSettings(
        freshness_s=args.freshness,
        max_staleness_s=args.max_staleness,
        idle_after_s=args.refresh_idle_after,
        max_concurrency=args.max_concurrent_queries,
        max_series_per_query=args.max_series_per_query,
        max_query_length=args.max_query_length,
    )
    return OptimizedEngine(prometheus, settings, registry=registry)


def _resource_metrics(
    config: AdapterConfig, objects: ObjectIndex, engine: NaiveEngine
) -> ResourceMetricsSource | None:
    """metrics.k8s.io when the config has resourceRules, as prometheus-adapter serves it."""
    if config.resource_rules is None:
        return None
    from adapter.naming import RuleError

    try:
        return ResourceMetricsSource(config.resource_rules, objects, engine)
    except RuleError as err:
        raise UsageError(f"{config.source}: {err.message}") from None


def _forecaster(
    args: argparse.Namespace,
    prometheus: PrometheusClient,
    engine: NaiveEngine,
    registry: CollectorRegistry,
) -> Forecaster:
    from adapter.forecast.rules import load_forecast_config
    from adapter.rules import ConfigError

    try:
        config = load_forecast_config(args.forecast_config)
    except ConfigError as err:
        more = len(err.problems) - 1
        hint = (
            f" (and {more} more: run `surge check --forecast {args.forecast_config}`)"
            if more
            else ""
        )
        raise UsageError(err.problems[0] + hint) from None
    if args.forecast_refit_interval <= 0:
        raise UsageError("--forecast-refit-interval must be above 0")
    settings = ForecastSettings(
        refit_interval_s=args.forecast_refit_interval, max_staleness_s=args.max_staleness
    )
    return Forecaster(config, prometheus, engine, settings, registry=registry)


@contextlib.asynccontextmanager
async def backend(args: argparse.Namespace, *, watch: bool) -> AsyncIterator[Backend]:
    """Everything a provider needs, closed on exit. `watch` keeps an object index live."""
    registry = CollectorRegistry()
    config = adapter_config(args.config)
    prometheus = prometheus_client(args)
    api: KubeAPI | None = None
    objects: ObjectIndex
    try:
        if args.objects:
            from adapter.objects import ObjectsFileError

            try:
                objects = StaticObjects.from_file(args.objects)
            except ObjectsFileError as err:
                raise UsageError(str(err)) from None
        else:
            api = await _kube_api(args.kubeconfig)
            objects = ClusterObjects(api, await discover(api), watch=watch)
        discovery = SeriesDiscovery(
            config,
            prometheus,
            lambda: objects.mapper,
            relist_interval_s=args.metrics_relist_interval,
            max_age_s=args.metrics_max_age,
            refresh=objects.refresh,
        )
        engine = _engine(args, prometheus, registry)
        inner = PrometheusProvider(discovery.registry, objects, engine)
        provider: PrometheusProvider | ForecastProvider = inner
        resources = _resource_metrics(config, objects, engine)
        forecaster = None
        if args.forecast_config:
            forecaster = _forecaster(args, prometheus, engine, registry)
            provider = ForecastProvider(inner, forecaster, objects)
        yield Backend(
            provider, discovery, objects, prometheus, engine, registry, resources, forecaster
        )
    finally:
        await prometheus.close()
        if api is not None:
            await api.client.close()
