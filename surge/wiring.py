"""Builds the backend (Prometheus, objects, series discovery, provider) from its options."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from adapter.config import AdapterConfig
from adapter.discovery import SeriesDiscovery
from adapter.engine import NaiveEngine, OptimizedEngine
from adapter.engine_protocol import Engine
from adapter.forecast.provider import ForecastProvider
from adapter.forecast.rules import ForecastConfig, load_forecast_config
from adapter.forecast.service import Forecaster, ForecastSettings
from adapter.objects import ClusterObjects, KubeAPI, ObjectIndex, StaticObjects
from adapter.prometheus import PrometheusClient, PrometheusSettings, url_problem
from adapter.provider import PrometheusProvider
from adapter.resources import ResourceMapper
from adapter.resources_provider import ResourceMetricsSource
from adapter.rules import ConfigError, load_config
from apiservice.errors import APIError
from apiservice.kube import KubeconfigError, load_client
from surge.options import BackendOptions, PrometheusOptions

log = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad flags or inputs: one line on stderr, exit 2."""


class CommandFailed(Exception):
    """The inputs were fine, the command failed (a service unreachable): one line, exit 1."""


_PROMETHEUS_FILES = (  # (option, flag)
    ("token_file", "--prometheus-token-file"),
    ("password_file", "--prometheus-password-file"),
    ("ca_file", "--prometheus-ca-file"),
    ("client_cert_file", "--prometheus-client-tls-cert-file"),
    ("client_key_file", "--prometheus-client-tls-key-file"),
)


def _check_prometheus_inputs(options: PrometheusOptions) -> None:
    if problem := url_problem(options.url):
        raise UsageError(problem)
    for field, flag in _PROMETHEUS_FILES:
        path = getattr(options, field)
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as err:
            raise UsageError(f"cannot read {flag} {path}: {err.strerror}") from None


def prometheus_client(options: PrometheusOptions) -> PrometheusClient:
    """The Prometheus client of the options, its files read once now to fail early."""
    _check_prometheus_inputs(options)
    client = PrometheusClient(prometheus_settings(options))
    try:
        client.check_tls()
    except (ssl.SSLError, OSError) as err:
        files = [options.ca_file, options.client_cert_file]
        named = ", ".join(f for f in files if f)
        raise UsageError(f"cannot load Prometheus' TLS files ({named}): {err}") from None
    return client


def prometheus_settings(options: PrometheusOptions) -> PrometheusSettings:
    headers: dict[str, str] = {}
    for item in options.headers or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--prometheus-header {item!r}: expected Name=Value")
        headers[key.strip()] = value.strip()
    password = None
    if options.password_file:
        with open(options.password_file) as f:
            password = f.read().strip()
    return PrometheusSettings(
        url=options.url,
        timeout_s=options.timeout_s,
        bearer_token_file=options.token_file,
        username=options.username,
        password=password,
        ca_file=options.ca_file,
        insecure_skip_verify=options.insecure_skip_tls_verify,
        client_cert_file=options.client_cert_file,
        client_key_file=options.client_key_file,
        headers=headers,
        verb=options.verb,
    )


def _first_problem(err: ConfigError, check: str) -> UsageError:
    """A rules file's first problem, and the command that lists them all."""
    first = err.problems[0] if err.problems else "invalid config"
    more = len(err.problems) - 1
    return UsageError(first + (f" (and {more} more: run `{check}`)" if more > 0 else ""))


def adapter_config(path: str) -> AdapterConfig:
    try:
        return load_config(path)
    except ConfigError as err:
        raise _first_problem(err, f"surge check {path}") from None


def forecast_config(path: str) -> ForecastConfig:
    """Surge's forecast rules (--forecast-config)."""
    try:
        return load_forecast_config(path)
    except ConfigError as err:
        raise _first_problem(err, f"surge check --forecast {path}") from None


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
    engine: Engine
    registry: CollectorRegistry
    resources: ResourceMetricsSource | None = None  # metrics.k8s.io, from resourceRules
    forecaster: Forecaster | None = None  # --forecast-config


_ENGINE_COUNTS = (  # (setting, flag): each at least 1
    ("max_concurrency", "--max-concurrent-queries"),
    ("max_series_per_query", "--max-series-per-query"),
    ("max_query_length", "--max-query-length"),
)


def _engine(
    options: BackendOptions, prometheus: PrometheusClient, registry: CollectorRegistry
) -> Engine:
    if options.engine == "naive":
        return NaiveEngine(prometheus)
    settings = options.engine_settings
    for field, flag in _ENGINE_COUNTS:
        if getattr(settings, field) < 1:
            raise UsageError(f"{flag} must be at least 1")
    if settings.max_staleness_s < settings.freshness_s:
        raise UsageError("--max-staleness must not be shorter than --freshness")
    return OptimizedEngine(prometheus, settings, registry=registry)


def _resource_metrics(
    config: AdapterConfig, objects: ObjectIndex, engine: Engine
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
    options: BackendOptions,
    prometheus: PrometheusClient,
    engine: Engine,
    registry: CollectorRegistry,
) -> Forecaster:
    assert options.forecast_config is not None
    config = forecast_config(options.forecast_config)
    if options.forecast_refit_interval_s <= 0:
        raise UsageError("--forecast-refit-interval must be above 0")
    settings = ForecastSettings(
        refit_interval_s=options.forecast_refit_interval_s,
        max_staleness_s=options.engine_settings.max_staleness_s,
    )
    return Forecaster(config, prometheus, engine, settings, registry=registry)


@contextlib.asynccontextmanager
async def backend(options: BackendOptions, *, watch: bool) -> AsyncIterator[Backend]:
    """Everything a provider needs, closed on exit. `watch` keeps an object index live."""
    # Zero would relist in a tight loop (as prometheus-adapter's wait.Until would), and a
    # negative max age asks Prometheus for series ending before they start.
    if options.relist_interval_s <= 0:
        raise UsageError("--metrics-relist-interval must be above 0")
    if options.max_age_s is not None and options.max_age_s < 0:
        raise UsageError("--metrics-max-age must not be negative (0: the relist interval)")
    registry = CollectorRegistry()
    config = adapter_config(options.config)
    prometheus = prometheus_client(options.prometheus)
    api: KubeAPI | None = None
    objects: ObjectIndex
    try:
        if options.objects:
            from adapter.objects import ObjectsFileError

            try:
                objects = StaticObjects.from_file(options.objects)
            except ObjectsFileError as err:
                raise UsageError(str(err)) from None
        else:
            api = await _kube_api(options.kubeconfig)
            objects = ClusterObjects(api, await discover(api), watch=watch)
        discovery = SeriesDiscovery(
            config,
            prometheus,
            lambda: objects.mapper,
            relist_interval_s=options.relist_interval_s,
            max_age_s=options.max_age_s,
            refresh=objects.refresh,
        )
        engine = _engine(options, prometheus, registry)
        inner = PrometheusProvider(discovery.registry, objects, engine)
        provider: PrometheusProvider | ForecastProvider = inner
        resources = _resource_metrics(config, objects, engine)
        forecaster = None
        if options.forecast_config:
            forecaster = _forecaster(options, prometheus, engine, registry)
            provider = ForecastProvider(inner, forecaster, objects)
        yield Backend(
            provider, discovery, objects, prometheus, engine, registry, resources, forecaster
        )
    finally:
        await prometheus.close()
        if api is not None:
            await api.client.close()
