"""The `surge` command line: flags (named as prometheus-adapter's where it has one) and dispatch.

Results go to stdout, logs to stderr. Exit 0: success; 1: a failed answer or check;
2: a usage error or invalid input (one line naming the problem).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from surge import __version__

log = logging.getLogger("surge")


def _duration(text: str) -> float:
    from adapter.go.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not within 0-65535")
    return port


def _backend_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("rules and Prometheus")
    g.add_argument("--config", required=True, help="prometheus-adapter config file (rules)")
    g.add_argument("--prometheus-url", required=True, help="Prometheus API base URL")
    g.add_argument(
        "--prometheus-timeout",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="timeout of one Prometheus call (default 10s)",
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
        default="auto",
        help="HTTP verb for queries (default auto: POST when long)",
    )
    g.add_argument(
        "--metrics-relist-interval",
        type=_duration,
        default=600.0,
        metavar="DURATION",
        help="how often series are relisted (default 10m)",
    )
    g.add_argument(
        "--metrics-max-age",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="how far back series are listed (default: the relist interval)",
    )
    e = p.add_argument_group("engine (the hot path: batching, snapshots, staleness)")
    e.add_argument(
        "--engine",
        choices=["optimized", "naive"],
        default="optimized",
        help="naive: one query per request, no cache, as prometheus-adapter",
    )
    e.add_argument(
        "--freshness",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="serve a snapshot while younger than this (default 10s)",
    )
    e.add_argument(
        "--max-staleness",
        type=_duration,
        default=120.0,
        metavar="DURATION",
        help="when Prometheus fails, serve the last snapshot up to this age, "
        "then answer 503 (default 2m)",
    )
    e.add_argument(
        "--max-concurrent-queries",
        type=int,
        default=8,
        metavar="N",
        help="queries in flight to Prometheus at once (default 8)",
    )
    e.add_argument(
        "--max-series-per-query",
        type=int,
        default=50_000,
        metavar="N",
        help="past this many series a batched query is asked by namespace, then per "
        "request (default 50000)",
    )
    e.add_argument(
        "--max-query-length",
        type=int,
        default=12_000,
        metavar="CHARS",
        help="split per-request name lists to stay below this (default 12000, "
        "under VictoriaMetrics' 16 KB)",
    )
    e.add_argument(
        "--refresh-idle-after",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="stop refreshing a snapshot nobody asked for this long (default 1m)",
    )
    f = p.add_argument_group("forecasts (Surge's own rules, README: Forecasts)")
    f.add_argument(
        "--forecast-config",
        metavar="FILE",
        help="forecast rules (forecastRules: ...); a file of its own, since "
        "prometheus-adapter refuses unknown keys in --config",
    )
    f.add_argument(
        "--forecast-refit-interval",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="how often forecast histories are extended and refitted (default 1m)",
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
        default=None,
        help="log format on stderr (default: text on a terminal, else json)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="default info",
    )


def _serve_flags(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group("serving")
    s.add_argument("--bind-address", default="0.0.0.0", help="address to listen on")
    s.add_argument("--secure-port", type=_port, default=6443, help="HTTPS port (default 6443)")
    s.add_argument("--tls-cert-file", help="serving certificate (PEM)")
    s.add_argument("--tls-private-key-file", help="serving key (PEM)")
    s.add_argument(
        "--cert-dir",
        default="apiserver.local.config/certificates",
        help="where a self-signed pair is generated when none is given",
    )
    s.add_argument(
        "--tls-min-version",
        default="VersionTLS12",
        choices=["VersionTLS12", "VersionTLS13"],
        help="lowest TLS version accepted (default VersionTLS12)",
    )
    s.add_argument(
        "--tls-cipher-suites",
        type=_list,
        default=[],
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
        default=[],
        metavar="LIST",
        help="front-proxy certificate common names allowed (default: any signed by the CA)",
    )
    a.add_argument(
        "--requestheader-username-headers",
        type=_list,
        default=["X-Remote-User"],
        metavar="LIST",
        help="headers holding the user name (default X-Remote-User)",
    )
    a.add_argument(
        "--requestheader-group-headers",
        type=_list,
        default=["X-Remote-Group"],
        metavar="LIST",
        help="headers holding groups (default X-Remote-Group)",
    )
    a.add_argument(
        "--requestheader-extra-headers-prefix",
        type=_list,
        default=["X-Remote-Extra-"],
        metavar="LIST",
        help="header prefixes of extra user information (default X-Remote-Extra-)",
    )
    a.add_argument(
        "--authentication-token-webhook-cache-ttl",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="how long TokenReview answers are cached (default 10s)",
    )
    a.add_argument(
        "--authorization-webhook-cache-authorized-ttl",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="how long allowed SubjectAccessReview answers are cached (default 10s)",
    )
    a.add_argument(
        "--authorization-webhook-cache-unauthorized-ttl",
        type=_duration,
        default=10.0,
        metavar="DURATION",
        help="how long denied SubjectAccessReview answers are cached (default 10s)",
    )
    a.add_argument(
        "--authorization-always-allow-paths",
        type=_list,
        default=["/healthz", "/readyz", "/livez"],
        metavar="LIST",
        help="paths served without authentication or authorization; a trailing * is a "
        "prefix (default /healthz,/readyz,/livez)",
    )


def _limit_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("limits and shutdown")
    g.add_argument(
        "--max-requests-inflight",
        type=int,
        default=400,
        metavar="N",
        help="requests worked on at once; beyond, 429 with Retry-After (default 400, 0: none)",
    )
    g.add_argument(
        "--request-timeout",
        type=_duration,
        default=60.0,
        metavar="DURATION",
        help="longest a request is worked on before a 504 (default 1m)",
    )
    g.add_argument(
        "--idle-connection-timeout",
        type=_duration,
        default=30.0,
        metavar="DURATION",
        help="close a connection that sends no complete request this long: idle keep-alive "
        "and slow clients (default 30s)",
    )
    g.add_argument(
        "--shutdown-delay-duration",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="after SIGTERM, keep serving this long with /readyz failing, so that endpoints "
        "are removed before the port closes (default 0s)",
    )
    g.add_argument(
        "--shutdown-grace-period",
        type=_duration,
        default=20.0,
        metavar="DURATION",
        help="after SIGTERM, exit within this, requests in flight finished (default 20s, "
        "below the manifests' terminationGracePeriodSeconds)",
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
        default=15.0,
        metavar="DURATION",
        help="resolution of the range queries (default 15s)",
    )
    src.add_argument(
        "--config",
        "--forecast-config",
        dest="config",
        metavar="FILE",
        help="forecast rules (as surge serve --forecast-config): their metrics are computed "
        "from the simulated QPS with the server's model (with --traffic or --scenario)",
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
        default="seed",
        metavar="seed|FILE",
        help="what one pod does with its load: the seed's model or a capacity file "
        "(docs/capacity-format.md)",
    )
    h.add_argument(
        "--kubernetes-version",
        default="1.37",
        metavar="1.3X",
        help="the HPA controller's release, 1.34 to 1.37 (default 1.37): its rules and gates",
    )
    h.add_argument(
        "--initial-replicas", type=int, metavar="N", help="replicas at the start (minReplicas)"
    )
    h.add_argument(
        "--ready-delay",
        type=_duration,
        metavar="DURATION",
        help="from a pod's creation to its readiness (default: the capacity model's, 40s)",
    )
    t = p.add_argument_group("time")
    t.add_argument("--start", metavar="TIME", help="RFC 3339 or unix seconds")
    t.add_argument("--end", metavar="TIME", help="RFC 3339 or unix seconds")
    t.add_argument("--days", type=float, default=1.0, help="scenario length (default 1)")
    t.add_argument(
        "--utc-offset",
        type=float,
        metavar="HOURS",
        help="local time of periods and plot (default 8 for the seed's scenario, else 0)",
    )
    t.add_argument(
        "--traffic-scale", type=float, default=1.0, help="multiply the scenario's traffic"
    )
    r = p.add_argument_group("report")
    r.add_argument(
        "--periods",
        metavar="LIST",
        help="local periods of the summary (default the seed's: 0-6,6-9,9-18,18-22,22-24)",
    )
    r.add_argument(
        "--latency-target",
        type=_duration,
        metavar="DURATION",
        help="p99 latency objective (default 5s, the seed's latency HPA)",
    )
    r.add_argument(
        "--price-per-pod-hour",
        type=float,
        metavar="PRICE",
        help="default 1.2: the seed's two hosts, 14,000 CNY a month, as 16 pods of 2 CPU",
    )
    r.add_argument("--currency", default="CNY", help="default CNY")
    r.add_argument(
        "--fixed-pods", type=int, metavar="N", help="the fixed fleet to compare (default: peak)"
    )
    r.add_argument(
        "--plot",
        metavar="FILE",
        help="PNG plot ('' for none; default surge-simulate.png if matplotlib is installed)",
    )
    r.add_argument(
        "--csv", default="surge-simulate.csv", metavar="FILE", help="timeline CSV ('' for none)"
    )
    r.add_argument("-o", "--output", choices=["text", "json"], default="text")


def _scaler_flags(p: argparse.ArgumentParser) -> None:
    k = p.add_argument_group("KEDA external scaler (gRPC)")
    k.add_argument(
        "--scaler-port",
        type=_port,
        default=0,
        metavar="PORT",
        help="serve KEDA's external scaler over gRPC on this port, with the HTTPS serving "
        "certificate, on --bind-address (default 0: off)",
    )
    k.add_argument(
        "--scaler-client-ca-file",
        metavar="FILE",
        help="require KEDA to present a client certificate issued by this CA (PEM; "
        "TriggerAuthentication's tlsClientCert/tlsClientKey); default: any client",
    )
    k.add_argument(
        "--scaler-allow-raw-query",
        action="store_true",
        help="let triggers run any PromQL given in their `query` metadata (default: refused)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (not the usage block, then the error)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="surge",
        description="Custom and external metrics API for Kubernetes autoscaling, "
        "from Prometheus (prometheus-adapter compatible).",
    )
    parser.add_argument("--version", action="version", version=f"surge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the aggregated API server")
    _backend_flags(serve)
    _serve_flags(serve)
    _scaler_flags(serve)
    _log_flags(serve)

    check = sub.add_parser(
        "check",
        help="validate a prometheus-adapter config file (and, given objects, its resources)",
    )
    check.add_argument("file")
    check.add_argument(
        "--forecast", action="store_true", help="the file is forecast rules (--forecast-config)"
    )
    resources = check.add_mutually_exclusive_group()
    resources.add_argument(
        "--kubeconfig", help="also check that the cluster serves every resource a rule names"
    )
    resources.add_argument(
        "--objects",
        metavar="FILE",
        help="also check that this objects file holds every resource a rule names",
    )
    _log_flags(check)

    query = sub.add_parser("query", help="answer one API path as the server would")
    _backend_flags(query)
    _log_flags(query)
    query.add_argument("path", help="API path as `kubectl get --raw` takes it")

    demo = sub.add_parser("demo", help="local Prometheus with generated data + Surge, no cluster")
    demo.add_argument("--port", type=_port, default=6443, help="Surge's HTTPS port (default 6443)")
    demo.add_argument("--prometheus-port", type=_port, default=0, help="default: a free port")
    demo.add_argument("--workdir", default=None, help="where data and certificates go")
    _log_flags(demo)

    hpa = sub.add_parser("hpa", help="the HPA controller's algorithm")
    hpa_sub = hpa.add_subparsers(dest="hpa_command", metavar="COMMAND")
    evaluate = hpa_sub.add_parser("evaluate", help="one decision from JSON case files")
    evaluate.add_argument("cases", nargs="+", metavar="CASE.json")

    simulate = sub.add_parser(
        "simulate", help="replay a traffic scenario or metric history through an HPA spec"
    )
    _simulate_flags(simulate)
    _log_flags(simulate)

    from surge import capacity, tune

    capacity.add_parser(sub, _duration)
    tune.add_parser(sub, _duration)

    explain = sub.add_parser("explain", help="a live HPA: each metric's proposal and the limits")
    explain.add_argument("target", metavar="NAMESPACE/HPA")
    explain.add_argument("--kubeconfig", help="kubeconfig (default: in-cluster configuration)")
    explain.add_argument("-o", "--output", choices=["table", "json"], default="table")
    explain.add_argument(
        "--forecast-config",
        metavar="FILE",
        help="Surge's forecast rules: show the replicas with and without the forecast metrics",
    )
    c = explain.add_argument_group(
        "the controller's flags (kube-controller-manager --horizontal-pod-autoscaler-*), "
        "when the cluster does not run it with the defaults"
    )
    c.add_argument("--tolerance", type=float, default=0.1, help="default 0.1")
    c.add_argument(
        "--cpu-initialization-period",
        type=_duration,
        default=300.0,
        metavar="DURATION",
        help="default 5m",
    )
    c.add_argument(
        "--initial-readiness-delay",
        type=_duration,
        default=30.0,
        metavar="DURATION",
        help="default 30s",
    )
    c.add_argument(
        "--downscale-stabilization",
        type=_duration,
        default=300.0,
        metavar="DURATION",
        help="default 5m",
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


def _dispatch(args: argparse.Namespace) -> Callable[[], int]:
    if args.command == "check":
        from surge.check import check

        return lambda: asyncio.run(check(args))
    if args.command == "serve":
        from surge.serve import serve

        return lambda: asyncio.run(serve(args))
    if args.command == "query":
        from surge.query import query

        return lambda: asyncio.run(query(args))
    if args.command == "demo":
        from surge.demo.run import demo

        return lambda: demo(args)
    if args.command == "hpa" and args.hpa_command == "evaluate":
        from autoscaler.cases import main as evaluate

        return lambda: evaluate(args.cases)
    if args.command == "simulate":
        from autoscaler.simulation.command import main as simulate

        return lambda: simulate(args)
    if args.command == "capacity":
        from surge import capacity

        return lambda: capacity.main(args)
    if args.command == "tune":
        from surge import tune

        return lambda: tune.main(args)
    if args.command == "explain":
        from autoscaler.core.hpa import Options
        from autoscaler.core.versions import VersionError, parse_gates
        from autoscaler.explain import main as explain

        try:
            gates = parse_gates(args.feature_gates)
        except VersionError as err:
            print(f"surge explain: {err}", file=sys.stderr)
            return lambda: 2
        options = Options(
            tolerance=args.tolerance,
            cpu_initialization_period_seconds=args.cpu_initialization_period,
            initial_readiness_delay_seconds=args.initial_readiness_delay,
            downscale_stabilization_window_seconds=int(args.downscale_stabilization),
        )
        forecasts: tuple[str, ...] = ()
        if args.forecast_config:
            from adapter.forecast.rules import load_forecast_config
            from adapter.rules import ConfigError

            try:
                forecasts = tuple(r.name for r in load_forecast_config(args.forecast_config).rules)
            except ConfigError as err:
                print(f"surge explain: {err.problems[0]}", file=sys.stderr)
                return lambda: 2
        return lambda: explain(
            args.target,
            args.kubeconfig,
            args.output,
            options=options,
            feature_gates=gates,
            forecasts=forecasts,
        )
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (
        args.command is None
        or (args.command == "hpa" and args.hpa_command is None)
        or (args.command == "capacity" and args.capacity_command is None)
    ):
        parser.print_help(sys.stderr)
        return 2
    from surge import logs
    from surge.wiring import CommandFailed, UsageError

    logs.setup(getattr(args, "log_format", None), getattr(args, "log_level", "info"))
    try:
        return _dispatch(args)()
    except UsageError as err:
        print(f"surge {args.command}: {err}", file=sys.stderr)
        return 2
    except CommandFailed as err:
        print(f"surge {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `surge ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as err:  # a bug: still one line; the traceback goes to the debug log
        log.debug("unexpected error", exc_info=True)
        first = str(err).splitlines()[0] if str(err) else ""
        print(
            f"surge {args.command}: unexpected error: {type(err).__name__}: {first} "
            "(--log-level=debug shows where)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
