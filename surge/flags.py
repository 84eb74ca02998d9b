"""Every flag of every command, declared once (named as prometheus-adapter's where it has one).

Defaults come from surge.options (and the library types they name), and help texts show them
through `%(default)s`, written as the flag takes them (10m0s, a,b): they cannot drift.
"""

from __future__ import annotations

import argparse
import copy
from typing import NoReturn

from adapter.engine import EngineSettings
from adapter.go.durations import format_duration, parse_duration
from autoscaler.core.hpa import Options as HPAOptions
from autoscaler.simulation.command import DEFAULT_PLOT, SimulateOptions
from autoscaler.simulation.report import SEED_PERIODS, SEED_PRICE_PER_POD_HOUR
from autoscaler.simulation.simulate import Settings
from surge import __version__
from surge.options import (
    AuthOptions,
    BackendOptions,
    CapacityOptions,
    DemoOptions,
    LimitOptions,
    LogOptions,
    PrometheusOptions,
    ScalerOptions,
    ServingOptions,
    TuneOptions,
)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _bool(text: str) -> bool:
    """A boolean as Go's flag package reads one (strconv.ParseBool)."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(
        "not a boolean (true or false; as Go's ParseBool also 1/0, t/f, T/F, TRUE/FALSE, "
        f"True/False): {text!r}"
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not within 0-65535")
    return port


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (not the usage block, then the error)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _Help(argparse.HelpFormatter):
    """`%(default)s` as the flag is written: a duration or a boolean as Go prints it, a list
    joined with commas, a byte count with its unit (1Gi)."""

    def _expand_help(self, action: argparse.Action) -> str:
        if action.type is _duration and isinstance(action.default, int | float):
            action = copy.copy(action)
            action.default = format_duration(action.default)
        elif action.type is _list and isinstance(action.default, list | tuple):
            action = copy.copy(action)
            action.default = ",".join(action.default)
        elif action.type is _bytes and isinstance(action.default, int):
            action = copy.copy(action)
            action.default = _bytes_text(action.default)
        elif action.type is _bool:
            action = copy.copy(action)
            action.default = str(action.default).lower()
        return super()._expand_help(action)


def _command(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, formatter_class=_Help)
    return parser


def _backend_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rules and Prometheus")
    g.add_argument("--config", required=True, help="prometheus-adapter config file (rules)")
    g.add_argument("--prometheus-url", required=True, help="Prometheus API base URL")
    g.add_argument(
        "--prometheus-timeout",
        type=_duration,
        default=PrometheusOptions.timeout_s,
        metavar="DURATION",
        help="timeout of one Prometheus call (default %(default)s)",
    )
    g.add_argument("--prometheus-token-file", help="bearer token file, re-read as it rotates")
    g.add_argument("--prometheus-username", help="basic auth user")
    g.add_argument("--prometheus-password-file", help="basic auth password file")
    g.add_argument("--prometheus-ca-file", help="CA bundle to verify Prometheus' certificate")
    g.add_argument("--prometheus-client-tls-cert-file", help="client certificate for Prometheus")
    g.add_argument("--prometheus-client-tls-key-file", help="client key for Prometheus")
    g.add_argument(
        "--prometheus-insecure-skip-tls-verify",
        action="store_true",
        help="do not verify Prometheus' certificate (testing only)",
    )
    g.add_argument(
        "--prometheus-header",
        action="append",
        metavar="NAME=VALUE",
        help="extra header on every Prometheus call, e.g. X-Scope-OrgID=tenant",
    )
    g.add_argument(
        "--prometheus-verb",
        choices=["GET", "POST", "auto"],
        default=PrometheusOptions.verb,
        help="HTTP verb for queries (default %(default)s; auto: POST when long)",
    )
    g.add_argument(
        "--metrics-relist-interval",
        type=_duration,
        default=BackendOptions.relist_interval_s,
        metavar="DURATION",
        help="how often series are relisted (default %(default)s)",
    )
    g.add_argument(
        "--metrics-max-age",
        type=_duration,
        default=BackendOptions.max_age_s,
        metavar="DURATION",
        help="how far back series are listed (default: the relist interval)",
    )
    e = p.add_argument_group("engine (the hot path: batching, snapshots, staleness)")
    e.add_argument(
        "--engine",
        choices=["optimized", "naive"],
        default=BackendOptions.engine,
        help="naive: one query per request, no cache, as prometheus-adapter",
    )
    e.add_argument(
        "--freshness",
        type=_duration,
        default=EngineSettings.freshness_s,
        metavar="DURATION",
        help="serve a snapshot while younger than this (default %(default)s)",
    )
    e.add_argument(
        "--max-staleness",
        type=_duration,
        default=EngineSettings.max_staleness_s,
        metavar="DURATION",
        help="when Prometheus fails, serve the last snapshot up to this age, "
        "then answer 503 (default %(default)s)",
    )
    e.add_argument(
        "--max-concurrent-queries",
        type=int,
        default=EngineSettings.max_concurrency,
        metavar="N",
        help="queries in flight to Prometheus at once (default %(default)s)",
    )
    e.add_argument(
        "--max-series-per-query",
        type=int,
        default=EngineSettings.max_series_per_query,
        metavar="N",
        help="past this many series a batched query falls back to per-request "
        "queries (default %(default)s)",
    )
    e.add_argument(
        "--max-query-length",
        type=int,
        default=EngineSettings.max_query_length,
        metavar="CHARS",
        help="split per-request name lists to stay below this (default %(default)s, "
        "under VictoriaMetrics' 16 KB)",
    )
    e.add_argument(
        "--refresh-idle-after",
        type=_duration,
        default=EngineSettings.idle_after_s,
        metavar="DURATION",
        help="stop refreshing a snapshot nobody asked for this long (default %(default)s)",
    )
    f = p.add_argument_group("forecasts (Surge's own rules, README: Forecasts)")
    f.add_argument(
        "--forecast-config",
        default=BackendOptions.forecast_config,
        metavar="FILE",
        help="forecast rules (forecastRules: ...); a file of its own, since "
        "prometheus-adapter refuses unknown keys in --config",
    )
    f.add_argument(
        "--forecast-refit-interval",
        type=_duration,
        default=BackendOptions.forecast_refit_interval_s,
        metavar="DURATION",
        help="how often forecast histories are extended and refitted (default %(default)s)",
    )
    k = p.add_argument_group("Kubernetes objects")
    src = k.add_mutually_exclusive_group()
    src.add_argument(
        "--kubeconfig",
        "--lister-kubeconfig",
        dest="kubeconfig",
        help="kubeconfig for listing objects (default: in-cluster)",
    )
    src.add_argument(
        "--objects",
        metavar="FILE",
        help="YAML file of Kubernetes objects replacing the cluster (offline)",
    )


def _log_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=LogOptions.format,
        help="log format on stderr (default: text on a terminal, else json)",
    )
    p.add_argument(
        "--log-level",
        default=LogOptions.level,
        choices=["debug", "info", "warning", "error"],
        help="default %(default)s",
    )


def _serve_flags(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group("serving")
    s.add_argument(
        "--bind-address",
        default=ServingOptions.bind_address,
        help="address to listen on (default %(default)s)",
    )
    s.add_argument(
        "--secure-port",
        type=_port,
        default=ServingOptions.secure_port,
        help="HTTPS port (default %(default)s)",
    )
    s.add_argument("--tls-cert-file", help="serving certificate (PEM)")
    s.add_argument("--tls-private-key-file", help="serving key (PEM)")
    s.add_argument(
        "--cert-dir",
        default=ServingOptions.cert_dir,
        help="where a self-signed pair is generated when none is given (default %(default)s)",
    )
    s.add_argument(
        "--tls-min-version",
        default=ServingOptions.tls_min_version,
        choices=["VersionTLS12", "VersionTLS13"],
        help="lowest TLS version accepted (default %(default)s)",
    )
    s.add_argument(
        "--tls-cipher-suites",
        type=_list,
        default=ServingOptions.tls_cipher_suites,
        metavar="LIST",
        help="comma-separated cipher suites, Go/Kubernetes names (default: OpenSSL's)",
    )
    s.add_argument(
        "--insecure-skip-auth",
        action="store_true",
        help="serve without delegated authentication: anyone reaching the port is trusted "
        "(demo and tests only)",
    )
    _auth_flags(p)
    _limit_flags(p)


def _list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _auth_flags(p: argparse.ArgumentParser) -> None:
    a = p.add_argument_group(
        "delegated authentication and authorization (as Kubernetes' extension API servers)"
    )
    a.add_argument(
        "--authentication-kubeconfig",
        help="kubeconfig for TokenReview and the authentication ConfigMap (default: in-cluster)",
    )
    a.add_argument(
        "--authorization-kubeconfig",
        help="kubeconfig for SubjectAccessReview (default: in-cluster)",
    )
    a.add_argument(
        "--authentication-skip-lookup",
        action="store_true",
        help="do not read kube-system/extension-apiserver-authentication",
    )
    a.add_argument(
        "--client-ca-file",
        help="CA bundle for client certificates (default: from the cluster's ConfigMap)",
    )
    a.add_argument(
        "--requestheader-client-ca-file",
        help="CA bundle for front-proxy certificates (default: from the cluster's ConfigMap, "
        "with the header settings below)",
    )
    a.add_argument(
        "--requestheader-allowed-names",
        type=_list,
        default=AuthOptions.requestheader_allowed_names,
        metavar="LIST",
        help="front-proxy certificate common names allowed (default: any signed by the CA)",
    )
    a.add_argument(
        "--requestheader-username-headers",
        type=_list,
        default=AuthOptions.requestheader_username_headers,
        metavar="LIST",
        help="headers holding the user name (default %(default)s)",
    )
    a.add_argument(
        "--requestheader-group-headers",
        type=_list,
        default=AuthOptions.requestheader_group_headers,
        metavar="LIST",
        help="headers holding groups (default %(default)s)",
    )
    a.add_argument(
        "--requestheader-extra-headers-prefix",
        type=_list,
        default=AuthOptions.requestheader_extra_headers_prefix,
        metavar="LIST",
        help="header prefixes of extra user information (default %(default)s)",
    )
    a.add_argument(
        "--authentication-token-webhook-cache-ttl",
        type=_duration,
        default=AuthOptions.token_cache_ttl_s,
        metavar="DURATION",
        help="how long TokenReview answers are cached (default %(default)s)",
    )
    a.add_argument(
        "--authorization-webhook-cache-authorized-ttl",
        type=_duration,
        default=AuthOptions.authorized_cache_ttl_s,
        metavar="DURATION",
        help="how long allowed SubjectAccessReview answers are cached (default %(default)s)",
    )
    a.add_argument(
        "--authorization-webhook-cache-unauthorized-ttl",
        type=_duration,
        default=AuthOptions.unauthorized_cache_ttl_s,
        metavar="DURATION",
        help="how long denied SubjectAccessReview answers are cached (default %(default)s)",
    )
    a.add_argument(
        "--authorization-broad-reviews",
        type=_bool,
        nargs="?",
        const=True,
        default=AuthOptions.broad_reviews,
        metavar="BOOL",
        help="review a resource request for all namespaces and names first, then its "
        "namespace, then itself; an allowed broader answer covers it (the API reads an empty "
        "namespace or name as all). false: one review per request's own attributes, for an "
        "authorizer that denies narrower scopes than it allows; the bare flag means true "
        "(default %(default)s)",
    )
    a.add_argument(
        "--authorization-always-allow-paths",
        type=_list,
        default=AuthOptions.always_allow_paths,
        metavar="LIST",
        help="paths served without authentication or authorization; a trailing * is a "
        "prefix (default %(default)s)",
    )


def _limit_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("limits and shutdown")
    g.add_argument(
        "--max-requests-inflight",
        type=int,
        default=LimitOptions.max_requests_inflight,
        metavar="N",
        help="requests worked on at once; beyond, 429 with Retry-After (default %(default)s, "
        "0: none)",
    )
    g.add_argument(
        "--request-timeout",
        type=_duration,
        default=LimitOptions.request_timeout_s,
        metavar="DURATION",
        help="longest a request is worked on before a 504 (default %(default)s)",
    )
    g.add_argument(
        "--idle-connection-timeout",
        type=_duration,
        default=LimitOptions.idle_connection_timeout_s,
        metavar="DURATION",
        help="close a connection that sends no complete request this long: idle keep-alive "
        "and slow clients (default %(default)s)",
    )
    g.add_argument(
        "--shutdown-delay-duration",
        type=_duration,
        default=LimitOptions.shutdown_delay_s,
        metavar="DURATION",
        help="after SIGTERM, keep serving this long with /readyz failing, so that endpoints "
        "are removed before the port closes (default %(default)s)",
    )
    g.add_argument(
        "--shutdown-grace-period",
        type=_duration,
        default=LimitOptions.shutdown_grace_period_s,
        metavar="DURATION",
        help="after SIGTERM, exit within this, requests in flight finished (default "
        "%(default)s, below the manifests' terminationGracePeriodSeconds)",
    )


def _simulate_flags(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("what drives the HPA (one of)")
    src.add_argument(
        "--scenario",
        choices=["seed-workday"],
        help="built-in traffic and capacity model (seed-workday: the seed's workday)",
    )
    src.add_argument(
        "--traffic",
        metavar="FILE",
        help="a traffic trace, CSV (time,qps) or JSON, replayed through --capacity",
    )
    src.add_argument(
        "--timeline",
        metavar="FILE",
        help="metric history, CSV or JSON: a time column and one per HPA metric",
    )
    src.add_argument(
        "--config",
        "--forecast-config",
        dest="config",
        metavar="FILE",
        help="forecast rules (as surge serve --forecast-config): their metrics are computed "
        "from the simulated QPS with the server's model (with --traffic or --scenario)",
    )
    src.add_argument(
        "--prometheus-url",
        metavar="URL",
        help="metric history from Prometheus range queries (with --start, --end, --query)",
    )
    src.add_argument(
        "--query",
        action="append",
        metavar="NAME=PROMQL",
        help="a metric's history: NAME is the HPA's metric (cpu, memory for Resource) "
        "or replicas, qps, p99_seconds; repeat per metric",
    )
    src.add_argument(
        "--step",
        type=_duration,
        default=SimulateOptions.step,
        metavar="DURATION",
        help="resolution of the range queries (default %(default)s)",
    )
    h = p.add_argument_group("the HPA and its pods")
    h.add_argument(
        "--hpa",
        metavar="FILE",
        help="HPA YAML as applied (default with --scenario seed-workday: the seed's)",
    )
    h.add_argument("--hpa-name", metavar="NAME", help="which HPA of a file holding several")
    h.add_argument(
        "--capacity",
        default=SimulateOptions.capacity,
        metavar="seed|FILE",
        help="what one pod does with its load: the seed's model or a capacity file "
        "(docs/capacity-format.md; default %(default)s)",
    )
    h.add_argument(
        "--kubernetes-version",
        default=SimulateOptions.kubernetes_version,
        metavar="1.3X",
        help="the HPA controller's release, 1.34 to 1.37 (default %(default)s): its rules "
        "and gates",
    )
    h.add_argument(
        "--initial-replicas", type=int, metavar="N", help="replicas at the start (minReplicas)"
    )
    h.add_argument(
        "--ready-delay",
        type=_duration,
        metavar="DURATION",
        help="from a pod's creation to its readiness (default: the capacity model's, "
        f"{format_duration(Settings.ready_delay_s)})",
    )
    t = p.add_argument_group("time")
    t.add_argument("--start", metavar="TIME", help="RFC 3339 or unix seconds")
    t.add_argument("--end", metavar="TIME", help="RFC 3339 or unix seconds")
    t.add_argument(
        "--days",
        type=float,
        default=SimulateOptions.days,
        help="scenario length (default %(default)s)",
    )
    t.add_argument(
        "--utc-offset",
        type=float,
        metavar="HOURS",
        help="local time of periods and plot (default 8 for the seed's scenario, else 0)",
    )
    t.add_argument(
        "--traffic-scale",
        type=float,
        default=SimulateOptions.traffic_scale,
        help="multiply the scenario's traffic (default %(default)s)",
    )
    r = p.add_argument_group("report")
    r.add_argument(
        "--periods",
        metavar="LIST",
        help="local periods of the summary (default the seed's: "
        + ",".join(f"{p.start_hour:g}-{p.end_hour:g}" for p in SEED_PERIODS)
        + ")",
    )
    r.add_argument(
        "--latency-target",
        type=_duration,
        metavar="DURATION",
        help=f"p99 latency objective (default {format_duration(Settings.latency_target_s)}, "
        "the seed's latency HPA)",
    )
    r.add_argument(
        "--price-per-pod-hour",
        type=float,
        metavar="PRICE",
        help=f"default {SEED_PRICE_PER_POD_HOUR}: the seed's two hosts, 14,000 CNY a month, "
        "as 16 pods of 2 CPU",
    )
    r.add_argument("--currency", default=SimulateOptions.currency, help="default %(default)s")
    r.add_argument(
        "--fixed-pods", type=int, metavar="N", help="the fixed fleet to compare (default: peak)"
    )
    r.add_argument(
        "--plot",
        default=SimulateOptions.plot,
        metavar="FILE",
        help=f"PNG plot ('' for none; default {DEFAULT_PLOT} if matplotlib is installed)",
    )
    r.add_argument(
        "--csv",
        default=SimulateOptions.csv,
        metavar="FILE",
        help="timeline CSV ('' for none; default %(default)s)",
    )
    r.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default=SimulateOptions.output,
        help="default %(default)s",
    )


def _scaler_flags(p: argparse.ArgumentParser) -> None:
    k = p.add_argument_group("KEDA external scaler (gRPC)")
    k.add_argument(
        "--scaler-port",
        type=_port,
        default=ScalerOptions.port,
        metavar="PORT",
        help="serve KEDA's external scaler over gRPC on this port, with the HTTPS serving "
        "certificate, on --bind-address (default %(default)s: off)",
    )
    k.add_argument(
        "--scaler-client-ca-file",
        default=ScalerOptions.client_ca_file,
        metavar="FILE",
        help="require KEDA to present a client certificate issued by this CA (PEM; "
        "TriggerAuthentication's tlsClientCert/tlsClientKey); default: any client",
    )
    k.add_argument(
        "--scaler-allow-raw-query",
        action="store_true",
        help="let triggers run any PromQL given in their `query` metadata (default: refused)",
    )


_BYTE_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _bytes(text: str) -> int:
    """1073741824, 1Gi or 512Mi."""
    for suffix, factor in _BYTE_UNITS.items():
        if text.endswith(suffix):
            return round(float(text[: -len(suffix)]) * factor)
    return round(float(text))


def _bytes_text(n: int) -> str:
    """1Gi for 1073741824: as the flag would be written."""
    for suffix, factor in reversed(_BYTE_UNITS.items()):
        if n and n % factor == 0:
            return f"{n // factor}{suffix}"
    return str(n)


def _capacity_parser(sub: argparse._SubParsersAction) -> None:
    """The `capacity` command and its two subcommands."""
    capacity = _command(sub, "capacity", "capacity files: export the seed's, fit history")
    commands = capacity.add_subparsers(dest="capacity_command", metavar="COMMAND", required=True)
    export = _command(commands, "export", "print a built-in capacity model as a file")
    export.add_argument(
        "--seed", action="store_true", required=True, help="the seed's calibrated model"
    )
    fit = _command(commands, "fit", "fit a capacity file from a service's history")
    src = fit.add_argument_group("the history (one of)")
    src.add_argument(
        "--timeline",
        metavar="FILE",
        help="CSV or JSON: time, qps, replicas, p99_seconds [, waiting, cpu, memory]",
    )
    src.add_argument("--prometheus-url", metavar="URL", help="range queries (with --query)")
    src.add_argument(
        "--query",
        action="append",
        metavar="NAME=PROMQL",
        help="qps (total), replicas (ready pods), p99_seconds; optional per-pod waiting, "
        "cpu (cores), memory (bytes)",
    )
    src.add_argument("--start", metavar="TIME", help="RFC 3339 or unix seconds")
    src.add_argument("--end", metavar="TIME", help="RFC 3339 or unix seconds")
    src.add_argument(
        "--step",
        type=_duration,
        default=CapacityOptions.step,
        metavar="DURATION",
        help="default %(default)s",
    )
    m = fit.add_argument_group("the pods (not in the history)")
    m.add_argument(
        "--cpu-request",
        type=float,
        default=CapacityOptions.cpu_request,
        metavar="CORES",
        help="default %(default)s",
    )
    m.add_argument(
        "--memory-request",
        type=_bytes,
        default=CapacityOptions.memory_request,
        metavar="BYTES",
        help="default %(default)s",
    )
    m.add_argument(
        "--ready-delay",
        type=_duration,
        default=CapacityOptions.ready_delay,
        metavar="DURATION",
        help="default %(default)s",
    )
    fit.add_argument(
        "--out", default=CapacityOptions.out, metavar="FILE", help="default %(default)s"
    )


def _tune_parser(sub: argparse._SubParsersAction) -> None:
    tune = _command(
        sub, "tune", "search HPA targets, minReplicas and behavior for a latency objective"
    )
    src = tune.add_argument_group("the traffic (one of)")
    src.add_argument("--scenario", choices=["seed-workday"], help="the seed's workday")
    src.add_argument("--traffic", metavar="FILE", help="a trace, CSV (time,qps) or JSON")
    src.add_argument(
        "--prometheus-url", metavar="URL", help="a trace from Prometheus (--query qps=PROMQL)"
    )
    src.add_argument("--query", action="append", metavar="qps=PROMQL", help="the Deployment's QPS")
    src.add_argument("--start", metavar="TIME", help="RFC 3339 or unix seconds")
    src.add_argument("--end", metavar="TIME", help="RFC 3339 or unix seconds")
    src.add_argument(
        "--step",
        type=_duration,
        default=TuneOptions.step,
        metavar="DURATION",
        help="default %(default)s",
    )
    src.add_argument(
        "--days",
        type=float,
        default=TuneOptions.days,
        help="days of the scenario (default %(default)s)",
    )
    src.add_argument(
        "--traffic-scale",
        type=float,
        default=TuneOptions.traffic_scale,
        help="multiply the scenario (default %(default)s)",
    )
    src.add_argument(
        "--utc-offset",
        type=float,
        metavar="HOURS",
        help="the scenario's zone (default 8 for the seed's scenario, else 0)",
    )
    h = tune.add_argument_group("the HPA and its pods")
    h.add_argument("--hpa", metavar="FILE", help="HPA YAML as applied (autoscaling/v2)")
    h.add_argument("--hpa-name", metavar="NAME", help="which HPA of a file holding several")
    h.add_argument(
        "--capacity",
        default=TuneOptions.capacity,
        metavar="seed|FILE",
        help="docs/capacity-format.md (default %(default)s)",
    )
    h.add_argument(
        "--ready-delay",
        type=_duration,
        metavar="DURATION",
        help="default: the capacity model's",
    )
    h.add_argument(
        "--kubernetes-version",
        default=TuneOptions.kubernetes_version,
        metavar="1.3X",
        help="the HPA controller's release whose rules tune simulates (default %(default)s)",
    )
    o = tune.add_argument_group("the objective and the search")
    o.add_argument(
        "--slo-latency",
        type=_duration,
        default=TuneOptions.slo_latency,
        metavar="DURATION",
        help="default %(default)s",
    )
    o.add_argument(
        "--slo-attainment",
        type=float,
        default=TuneOptions.slo_attainment,
        metavar="SHARE",
        help="default %(default)s",
    )
    o.add_argument(
        "--keep",
        default=TuneOptions.keep,
        metavar="LIST",
        help="what not to change: targets, minReplicas, behavior, scaleUp, scaleDown, or a "
        "metric's name (comma-separated)",
    )
    o.add_argument(
        "--holdout-days",
        type=float,
        default=TuneOptions.holdout_days,
        metavar="N",
        help="tune on the first days, judge on the last N (default %(default)s: none)",
    )
    f = tune.add_argument_group("forecast (the search may add a forecast metric)")
    f.add_argument(
        "--forecast",
        action="store_true",
        help="try the HPA with a forecast of its Deployment's QPS added (an Object metric, "
        "AverageValue a pod); its rule is written to DIR/surge.yaml",
    )
    f.add_argument(
        "--forecast-seasonality",
        metavar="auto|daily|weekly|DURATION",
        help="the rule's season (default: auto, detected from two days or two weeks)",
    )
    f.add_argument(
        "--forecast-lead",
        type=_duration,
        metavar="DURATION",
        help="how far ahead (default: the ready delay plus two syncs)",
    )
    f.add_argument(
        "--forecast-query",
        metavar="PROMQL",
        help="the Deployment's total QPS, written into the rule (default: --query qps=, "
        "else a guess to edit)",
    )
    r = tune.add_argument_group("report")
    r.add_argument(
        "--out",
        default=TuneOptions.out,
        metavar="DIR",
        help="hpa.yaml, surge.yaml, report.json, tune.png (default %(default)s)",
    )
    r.add_argument(
        "--price-per-pod-hour",
        type=float,
        default=TuneOptions.price_per_pod_hour,
        metavar="PRICE",
        help=f"default {SEED_PRICE_PER_POD_HOUR}, the seed's",
    )
    r.add_argument("--currency", default=TuneOptions.currency, help="default %(default)s")
    r.add_argument(
        "-o",
        "--output",
        choices=["text", "json"],
        default=TuneOptions.output,
        help="default %(default)s",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="surge",
        formatter_class=_Help,
        description="Custom and external metrics API for Kubernetes autoscaling, "
        "from Prometheus (prometheus-adapter compatible).",
    )
    parser.add_argument("--version", action="version", version=f"surge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = _command(sub, "serve", "run the aggregated API server")
    _backend_flags(serve)
    _serve_flags(serve)
    _scaler_flags(serve)
    _log_flags(serve)

    check = _command(
        sub,
        "check",
        "validate a prometheus-adapter config file (and, given objects, its resources)",
    )
    check.add_argument("file")
    resources = check.add_mutually_exclusive_group()
    resources.add_argument(
        "--kubeconfig", help="also check that the cluster serves every resource a rule names"
    )
    resources.add_argument(
        "--objects",
        metavar="FILE",
        help="also check that this objects file holds every resource a rule names",
    )
    check.add_argument(
        "--forecast", action="store_true", help="the file is forecast rules (--forecast-config)"
    )
    _log_flags(check)

    query = _command(sub, "query", "answer one API path as the server would")
    _backend_flags(query)
    _log_flags(query)
    query.add_argument("path", help="API path as `kubectl get --raw` takes it")

    demo = _command(sub, "demo", "local Prometheus with generated data + Surge, no cluster")
    demo.add_argument(
        "--port",
        type=_port,
        default=DemoOptions.port,
        help="Surge's HTTPS port (default %(default)s)",
    )
    demo.add_argument(
        "--prometheus-port",
        type=_port,
        default=DemoOptions.prometheus_port,
        help="default: a free port",
    )
    demo.add_argument(
        "--workdir", default=DemoOptions.workdir, help="where data and certificates go"
    )
    _log_flags(demo)

    hpa = _command(sub, "hpa", "the HPA controller's algorithm")
    hpa_sub = hpa.add_subparsers(dest="hpa_command", metavar="COMMAND", required=True)
    evaluate = _command(hpa_sub, "evaluate", "one decision from JSON case files")
    evaluate.add_argument("cases", nargs="+", metavar="CASE.json")

    simulate = _command(
        sub, "simulate", "replay a traffic scenario or metric history through an HPA spec"
    )
    _simulate_flags(simulate)
    _log_flags(simulate)

    _capacity_parser(sub)
    _tune_parser(sub)

    explain = _command(sub, "explain", "a live HPA: each metric's proposal and the limits")
    explain.add_argument("target", metavar="NAMESPACE/HPA")
    explain.add_argument("--kubeconfig", help="kubeconfig (default: in-cluster configuration)")
    explain.add_argument(
        "-o", "--output", choices=["table", "json"], default="table", help="default %(default)s"
    )
    explain.add_argument(
        "--forecast-config",
        metavar="FILE",
        help="Surge's forecast rules: show the replicas with and without the forecast metrics",
    )
    c = explain.add_argument_group(
        "the controller's flags (kube-controller-manager --horizontal-pod-autoscaler-*), "
        "when the cluster does not run it with the defaults"
    )
    c.add_argument(
        "--tolerance", type=float, default=HPAOptions.tolerance, help="default %(default)s"
    )
    c.add_argument(
        "--cpu-initialization-period",
        type=_duration,
        default=float(HPAOptions.cpu_initialization_period_seconds),
        metavar="DURATION",
        help="default %(default)s",
    )
    c.add_argument(
        "--initial-readiness-delay",
        type=_duration,
        default=float(HPAOptions.initial_readiness_delay_seconds),
        metavar="DURATION",
        help="default %(default)s",
    )
    c.add_argument(
        "--downscale-stabilization",
        type=_duration,
        default=float(HPAOptions.downscale_stabilization_window_seconds),
        metavar="DURATION",
        help="default %(default)s",
    )
    c.add_argument(
        "--feature-gates",
        default="",
        metavar="NAME=BOOL,...",
        help="kube-controller-manager's --feature-gates for the HPA (HPAConfigurableTolerance, "
        "HPAScaleToZero, PodLevelResources); the release is the API server's /version",
    )
    _log_flags(explain)
    return parser
