"""What each command was asked to do, as frozen typed values built once from its flags.

The defaults here are the flags' defaults (surge.flags declares the flags with them and
prints them in --help), so a caller that builds options in code, as the demo does for
`serve`, gets exactly what the command line would give. Where a library type has a default
of its own (EngineSettings, Limits, PrometheusSettings, FrontProxyConfig, ForecastSettings),
it is that one.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from typing import Literal, TypeVar

from adapter.engine import EngineSettings
from adapter.forecast.service import ForecastSettings
from adapter.prometheus import PrometheusSettings
from apiservice.auth import HEALTH_PATHS, FrontProxyConfig
from apiservice.limits import Limits
from autoscaler.core.hpa import Options as HPAOptions
from autoscaler.core.versions import DEFAULT_VERSION
from autoscaler.simulation.command import SimulateOptions

Verb = Literal["GET", "POST", "auto"]
_O = TypeVar("_O", "SimulateOptions", "CapacityOptions", "TuneOptions")


@dataclass(frozen=True)
class PrometheusOptions:
    url: str
    timeout_s: float = PrometheusSettings.timeout_s
    token_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    insecure_skip_tls_verify: bool = False
    headers: tuple[str, ...] = ()  # NAME=VALUE as given; checked when the client is built
    verb: Verb = "auto"


@dataclass(frozen=True)
class BackendOptions:
    """Rules, Prometheus, the engine and where objects come from: serve's and query's."""

    config: str
    prometheus: PrometheusOptions
    engine: Literal["optimized", "naive"] = "optimized"
    engine_settings: EngineSettings = field(default_factory=EngineSettings)  # optimized's
    relist_interval_s: float = 600.0
    max_age_s: float | None = None  # None: the relist interval
    kubeconfig: str | None = None  # None, without objects: in-cluster
    objects: str | None = None
    forecast_config: str | None = None  # Surge's forecast rules, a file of their own
    forecast_refit_interval_s: float = ForecastSettings.refit_interval_s


@dataclass(frozen=True)
class ServingOptions:
    bind_address: str = "0.0.0.0"
    secure_port: int = 6443
    tls_cert_file: str | None = None
    tls_private_key_file: str | None = None
    cert_dir: str = "apiserver.local.config/certificates"
    tls_min_version: str = "VersionTLS12"
    tls_cipher_suites: tuple[str, ...] = ()
    insecure_skip_auth: bool = False


@dataclass(frozen=True)
class AuthOptions:
    """Delegated authentication and authorization, as Kubernetes' extension servers take it."""

    authentication_kubeconfig: str | None = None
    authorization_kubeconfig: str | None = None
    authentication_skip_lookup: bool = False
    client_ca_file: str | None = None
    requestheader_client_ca_file: str | None = None
    requestheader_allowed_names: tuple[str, ...] = ()
    requestheader_username_headers: tuple[str, ...] = FrontProxyConfig.username_headers
    requestheader_group_headers: tuple[str, ...] = FrontProxyConfig.group_headers
    requestheader_extra_headers_prefix: tuple[str, ...] = FrontProxyConfig.extra_prefixes
    token_cache_ttl_s: float = 10.0
    authorized_cache_ttl_s: float = 10.0
    unauthorized_cache_ttl_s: float = 10.0
    broad_reviews: bool = True
    always_allow_paths: tuple[str, ...] = HEALTH_PATHS


@dataclass(frozen=True)
class LimitOptions:
    max_requests_inflight: int = Limits.max_requests_inflight
    request_timeout_s: float = Limits.request_timeout_s
    idle_connection_timeout_s: float = Limits.idle_timeout_s
    shutdown_delay_s: float = 0.0
    shutdown_grace_period_s: float = 20.0


@dataclass(frozen=True)
class ScalerOptions:
    """KEDA's external scaler over gRPC; port 0 leaves it off."""

    port: int = 0
    client_ca_file: str | None = None  # None: any client may connect
    allow_raw_query: bool = False


@dataclass(frozen=True)
class ServeOptions:
    backend: BackendOptions
    serving: ServingOptions = field(default_factory=ServingOptions)
    auth: AuthOptions = field(default_factory=AuthOptions)
    limits: LimitOptions = field(default_factory=LimitOptions)
    scaler: ScalerOptions = field(default_factory=ScalerOptions)


@dataclass(frozen=True)
class QueryOptions:
    backend: BackendOptions
    path: str


@dataclass(frozen=True)
class CheckOptions:
    file: str
    forecast: bool = False  # the file holds forecast rules (--forecast-config)
    kubeconfig: str | None = None  # also check the resources rules name, on the cluster
    objects: str | None = None  # ... or in an objects file


@dataclass(frozen=True)
class DemoOptions:
    port: int = 6443
    prometheus_port: int = 0  # 0: a free port
    workdir: str | None = None  # None: a temporary directory, removed on exit


@dataclass(frozen=True)
class CapacityOptions:
    """`surge capacity export|fit`, named as the flags are; durations in seconds."""

    capacity_command: Literal["export", "fit"]
    timeline: str | None = None
    prometheus_url: str | None = None
    query: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    step: float = 60.0
    cpu_request: float = 0.5
    memory_request: int = 2**30
    ready_delay: float = 40.0
    out: str = "capacity.yaml"


@dataclass(frozen=True)
class TuneOptions:
    """`surge tune`, named as the flags are; durations in seconds. None: the run works the
    value out (the capacity model's ready delay, the scenario's zone, the seed's price)."""

    scenario: str | None = None
    traffic: str | None = None
    prometheus_url: str | None = None
    query: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    step: float = 60.0
    days: float = 1.0
    traffic_scale: float = 1.0
    utc_offset: float | None = None
    hpa: str | None = None
    hpa_name: str | None = None
    capacity: str = "seed"
    ready_delay: float | None = None
    kubernetes_version: str = DEFAULT_VERSION
    slo_latency: float = 5.0
    slo_attainment: float = 0.99
    keep: str = ""  # comma-separated: what not to change
    holdout_days: float = 0.0
    forecast: bool = False  # the search may add a forecast metric (surge.yaml's rule)
    forecast_seasonality: str | None = None  # None: auto (daily or weekly, detected)
    forecast_lead: float | None = None  # None: the ready delay plus two syncs
    forecast_query: str | None = None  # None: the qps query, else a guess to edit
    out: str = "surge-tune"
    price_per_pod_hour: float | None = None
    currency: str = "CNY"
    output: Literal["text", "json"] = "text"


@dataclass(frozen=True)
class LogOptions:
    format: Literal["text", "json"] | None = None  # None: text on a terminal, else json
    level: str = "info"


def prometheus_options(args: argparse.Namespace) -> PrometheusOptions:
    return PrometheusOptions(
        url=args.prometheus_url,
        timeout_s=args.prometheus_timeout,
        token_file=args.prometheus_token_file,
        username=args.prometheus_username,
        password_file=args.prometheus_password_file,
        ca_file=args.prometheus_ca_file,
        client_cert_file=args.prometheus_client_tls_cert_file,
        client_key_file=args.prometheus_client_tls_key_file,
        insecure_skip_tls_verify=args.prometheus_insecure_skip_tls_verify,
        headers=tuple(args.prometheus_header or ()),
        verb=args.prometheus_verb,
    )


def backend_options(args: argparse.Namespace) -> BackendOptions:
    return BackendOptions(
        config=args.config,
        prometheus=prometheus_options(args),
        engine=args.engine,
        engine_settings=EngineSettings(
            freshness_s=args.freshness,
            max_staleness_s=args.max_staleness,
            idle_after_s=args.refresh_idle_after,
            max_concurrency=args.max_concurrent_queries,
            max_series_per_query=args.max_series_per_query,
            max_query_length=args.max_query_length,
        ),
        relist_interval_s=args.metrics_relist_interval,
        max_age_s=args.metrics_max_age or None,  # 0: the relist interval, as PA reads it
        kubeconfig=args.kubeconfig,
        objects=args.objects,
        forecast_config=args.forecast_config,
        forecast_refit_interval_s=args.forecast_refit_interval,
    )


def serve_options(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        backend=backend_options(args),
        serving=ServingOptions(
            bind_address=args.bind_address,
            secure_port=args.secure_port,
            tls_cert_file=args.tls_cert_file,
            tls_private_key_file=args.tls_private_key_file,
            cert_dir=args.cert_dir,
            tls_min_version=args.tls_min_version,
            tls_cipher_suites=tuple(args.tls_cipher_suites),
            insecure_skip_auth=args.insecure_skip_auth,
        ),
        auth=AuthOptions(
            authentication_kubeconfig=args.authentication_kubeconfig,
            authorization_kubeconfig=args.authorization_kubeconfig,
            authentication_skip_lookup=args.authentication_skip_lookup,
            client_ca_file=args.client_ca_file,
            requestheader_client_ca_file=args.requestheader_client_ca_file,
            requestheader_allowed_names=tuple(args.requestheader_allowed_names),
            requestheader_username_headers=tuple(args.requestheader_username_headers),
            requestheader_group_headers=tuple(args.requestheader_group_headers),
            requestheader_extra_headers_prefix=tuple(args.requestheader_extra_headers_prefix),
            token_cache_ttl_s=args.authentication_token_webhook_cache_ttl,
            authorized_cache_ttl_s=args.authorization_webhook_cache_authorized_ttl,
            unauthorized_cache_ttl_s=args.authorization_webhook_cache_unauthorized_ttl,
            broad_reviews=args.authorization_broad_reviews,
            always_allow_paths=tuple(args.authorization_always_allow_paths),
        ),
        limits=LimitOptions(
            max_requests_inflight=args.max_requests_inflight,
            request_timeout_s=args.request_timeout,
            idle_connection_timeout_s=args.idle_connection_timeout,
            shutdown_delay_s=args.shutdown_delay_duration,
            shutdown_grace_period_s=args.shutdown_grace_period,
        ),
        scaler=ScalerOptions(
            port=args.scaler_port,
            client_ca_file=args.scaler_client_ca_file,
            allow_raw_query=args.scaler_allow_raw_query,
        ),
    )


def query_options(args: argparse.Namespace) -> QueryOptions:
    return QueryOptions(backend=backend_options(args), path=args.path)


def check_options(args: argparse.Namespace) -> CheckOptions:
    return CheckOptions(args.file, args.forecast, args.kubeconfig, args.objects)


def demo_options(args: argparse.Namespace) -> DemoOptions:
    return DemoOptions(port=args.port, prometheus_port=args.prometheus_port, workdir=args.workdir)


def log_options(args: argparse.Namespace) -> LogOptions:
    return LogOptions(getattr(args, "log_format", None), getattr(args, "log_level", "info"))


def simulate_options(args: argparse.Namespace) -> SimulateOptions:
    return same_names(SimulateOptions, args)


def capacity_options(args: argparse.Namespace) -> CapacityOptions:
    return same_names(CapacityOptions, args)


def tune_options(args: argparse.Namespace) -> TuneOptions:
    return same_names(TuneOptions, args)


def hpa_options(args: argparse.Namespace) -> HPAOptions:
    """`surge explain`'s controller flags (kube-controller-manager's)."""
    return HPAOptions(
        tolerance=args.tolerance,
        cpu_initialization_period_seconds=args.cpu_initialization_period,
        initial_readiness_delay_seconds=args.initial_readiness_delay,
        downscale_stabilization_window_seconds=int(args.downscale_stabilization),
    )


def same_names(cls: type[_O], source: argparse.Namespace | TuneOptions) -> _O:
    """Options whose fields are named as the flags, from the flags (or from another
    command's options): each field from its namesake (a repeated flag, None when not given,
    as a tuple); a field with no namesake keeps its default."""
    values = {}
    for f in fields(cls):
        if hasattr(source, f.name):
            value = getattr(source, f.name)
            values[f.name] = tuple(value or ()) if isinstance(f.default, tuple) else value
    return cls(**values)
