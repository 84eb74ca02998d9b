"""Options built from the command line: the flags' defaults are the options' own, and every
flag reaches its option (nothing is dropped between argparse and the command)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

import pytest

from autoscaler.simulation.command import SimulateOptions
from surge.flags import build_parser
from surge.options import (
    BackendOptions,
    DemoOptions,
    PrometheusOptions,
    QueryOptions,
    ServeOptions,
    TuneOptions,
    demo_options,
    query_options,
    serve_options,
    simulate_options,
    tune_options,
)


def _leaves(options: Any, prefix: str = "") -> dict[str, Any]:
    """Every scalar field of nested options, by its dotted path."""
    out = {}
    for f in fields(options):
        value = getattr(options, f.name)
        if is_dataclass(value):
            out |= _leaves(value, f"{prefix}{f.name}.")
        else:
            out[prefix + f.name] = value
    return out


def test_serve_without_flags_is_the_options_defaults() -> None:
    args = build_parser().parse_args(["serve", "--config=rules.yaml", "--prometheus-url=http://p"])
    expected = ServeOptions(BackendOptions("rules.yaml", PrometheusOptions("http://p")))
    assert serve_options(args) == expected


def test_every_serve_flag_reaches_its_option() -> None:
    """Each flag given a value unlike its default changes exactly one option."""
    parser = build_parser()
    base = ["serve", "--config=rules.yaml", "--prometheus-url=http://p"]
    defaults = _leaves(serve_options(parser.parse_args(base)))
    changed = {
        "--prometheus-timeout=3s": "backend.prometheus.timeout_s",
        "--prometheus-token-file=t": "backend.prometheus.token_file",
        "--prometheus-username=u": "backend.prometheus.username",
        "--prometheus-password-file=p": "backend.prometheus.password_file",
        "--prometheus-ca-file=c": "backend.prometheus.ca_file",
        "--prometheus-client-tls-cert-file=c": "backend.prometheus.client_cert_file",
        "--prometheus-client-tls-key-file=k": "backend.prometheus.client_key_file",
        "--prometheus-insecure-skip-tls-verify": "backend.prometheus.insecure_skip_tls_verify",
        "--prometheus-header=X-A=b": "backend.prometheus.headers",
        "--prometheus-verb=POST": "backend.prometheus.verb",
        "--metrics-relist-interval=1m": "backend.relist_interval_s",
        "--metrics-max-age=1h": "backend.max_age_s",
        "--engine=naive": "backend.engine",
        "--freshness=5s": "backend.engine_settings.freshness_s",
        "--max-staleness=1m": "backend.engine_settings.max_staleness_s",
        "--max-concurrent-queries=3": "backend.engine_settings.max_concurrency",
        "--max-series-per-query=7": "backend.engine_settings.max_series_per_query",
        "--max-query-length=99": "backend.engine_settings.max_query_length",
        "--refresh-idle-after=2m": "backend.engine_settings.idle_after_s",
        "--kubeconfig=k": "backend.kubeconfig",
        "--objects=o": "backend.objects",
        "--forecast-config=f": "backend.forecast_config",
        "--forecast-refit-interval=5m": "backend.forecast_refit_interval_s",
        "--bind-address=127.0.0.1": "serving.bind_address",
        "--secure-port=1": "serving.secure_port",
        "--tls-cert-file=c": "serving.tls_cert_file",
        "--tls-private-key-file=k": "serving.tls_private_key_file",
        "--cert-dir=d": "serving.cert_dir",
        "--tls-min-version=VersionTLS13": "serving.tls_min_version",
        "--tls-cipher-suites=A,B": "serving.tls_cipher_suites",
        "--insecure-skip-auth": "serving.insecure_skip_auth",
        "--authentication-kubeconfig=k": "auth.authentication_kubeconfig",
        "--authorization-kubeconfig=k": "auth.authorization_kubeconfig",
        "--authentication-skip-lookup": "auth.authentication_skip_lookup",
        "--client-ca-file=c": "auth.client_ca_file",
        "--requestheader-client-ca-file=c": "auth.requestheader_client_ca_file",
        "--requestheader-allowed-names=a": "auth.requestheader_allowed_names",
        "--requestheader-username-headers=U": "auth.requestheader_username_headers",
        "--requestheader-group-headers=G": "auth.requestheader_group_headers",
        "--requestheader-extra-headers-prefix=E-": "auth.requestheader_extra_headers_prefix",
        "--authentication-token-webhook-cache-ttl=1s": "auth.token_cache_ttl_s",
        "--authorization-webhook-cache-authorized-ttl=1s": "auth.authorized_cache_ttl_s",
        "--authorization-webhook-cache-unauthorized-ttl=1s": "auth.unauthorized_cache_ttl_s",
        "--authorization-broad-reviews=false": "auth.broad_reviews",
        "--authorization-always-allow-paths=/x": "auth.always_allow_paths",
        "--max-requests-inflight=1": "limits.max_requests_inflight",
        "--request-timeout=1s": "limits.request_timeout_s",
        "--idle-connection-timeout=1s": "limits.idle_connection_timeout_s",
        "--shutdown-delay-duration=1s": "limits.shutdown_delay_s",
        "--shutdown-grace-period=1s": "limits.shutdown_grace_period_s",
        "--scaler-port=1": "scaler.port",
        "--scaler-client-ca-file=c": "scaler.client_ca_file",
        "--scaler-allow-raw-query": "scaler.allow_raw_query",
    }
    required = {"backend.config", "backend.prometheus.url"}
    engine_own = {  # the engine's tuning that no flag sets
        "backend.engine_settings.refresh_ahead",
        "backend.engine_settings.split_backoff_max_s",
    }
    assert set(changed.values()) | required | engine_own == set(defaults)
    for flag, option in changed.items():
        got = _leaves(serve_options(parser.parse_args([*base, flag])))
        assert {k for k in got if got[k] != defaults[k]} == {option}, flag


def test_a_max_age_of_zero_is_the_relist_interval_as_prometheus_adapter_reads_it() -> None:
    base = ["serve", "--config=rules.yaml", "--prometheus-url=http://p"]
    for command in (base, ["query", *base[1:], "/apis"]):
        args = build_parser().parse_args([*command, "--metrics-max-age=0s"])
        options = serve_options(args) if command[0] == "serve" else query_options(args)
        assert options.backend.max_age_s is None


def test_query_demo_simulate_and_tune_without_flags_are_the_options_defaults() -> None:
    parser = build_parser()
    query = parser.parse_args(["query", "--config=r", "--prometheus-url=http://p", "/apis"])
    assert query_options(query) == QueryOptions(
        BackendOptions("r", PrometheusOptions("http://p")), "/apis"
    )
    assert demo_options(parser.parse_args(["demo"])) == DemoOptions()
    assert simulate_options(parser.parse_args(["simulate"])) == SimulateOptions()
    assert tune_options(parser.parse_args(["tune"])) == TuneOptions()


def test_every_tune_flag_reaches_its_option() -> None:
    """Each flag given a value unlike its default changes exactly its own option."""
    parser = build_parser()
    defaults = _leaves(tune_options(parser.parse_args(["tune"])))
    changed = {
        "--scenario=seed-workday": "scenario",
        "--traffic=t.csv": "traffic",
        "--prometheus-url=http://p": "prometheus_url",
        "--query=qps=up": "query",
        "--start=0": "start",
        "--end=1": "end",
        "--step=30s": "step",
        "--days=2": "days",
        "--traffic-scale=2": "traffic_scale",
        "--utc-offset=1": "utc_offset",
        "--hpa=h.yaml": "hpa",
        "--hpa-name=web": "hpa_name",
        "--capacity=c.yaml": "capacity",
        "--ready-delay=1m": "ready_delay",
        "--kubernetes-version=1.34": "kubernetes_version",
        "--slo-latency=2s": "slo_latency",
        "--slo-attainment=0.9": "slo_attainment",
        "--keep=behavior": "keep",
        "--holdout-days=1": "holdout_days",
        "--forecast": "forecast",
        "--forecast-seasonality=daily": "forecast_seasonality",
        "--forecast-lead=4m": "forecast_lead",
        "--forecast-query=up": "forecast_query",
        "--out=d": "out",
        "--price-per-pod-hour=3": "price_per_pod_hour",
        "--currency=EUR": "currency",
        "--output=json": "output",
    }
    assert set(changed.values()) == set(defaults)  # every option has its flag
    for flag, option in changed.items():
        got = _leaves(tune_options(parser.parse_args(["tune", flag])))
        assert {k for k in got if got[k] != defaults[k]} == {option}, flag
    assert tune_options(parser.parse_args(["tune", "--query=a", "--query=b"])).query == ("a", "b")


def _help(command: str) -> str:
    subparsers = build_parser()._subparsers
    assert subparsers is not None
    parser = subparsers._group_actions[0].choices[command]  # type: ignore[attr-defined]
    return " ".join(parser.format_help().split())


def test_help_shows_the_real_defaults() -> None:
    text = _help("serve")
    for shown in (
        "(default 10s)",  # --prometheus-timeout: PrometheusSettings.timeout_s
        "(default 10m0s)",  # --metrics-relist-interval
        "(default 6443)",
        "(default X-Remote-User)",
        "(default /healthz,/readyz,/livez)",
    ):
        assert shown in text, shown


def test_tune_help_shows_the_real_defaults() -> None:
    text = _help("tune")
    for shown in (
        "--step DURATION default 1m0s",  # TuneOptions.step, as a duration is written
        "--slo-latency DURATION default 5s",
        "--slo-attainment SHARE default 0.99",
        "(default 1.37)",  # --kubernetes-version: autoscaler.core.versions.DEFAULT_VERSION
        "(default surge-tune)",
        "--currency CURRENCY default CNY",
    ):
        assert shown in text, shown


def test_a_boolean_flag_reads_go_parsebool_and_names_what_it_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """kube-apiserver style `--flag=value` booleans carry over: every spelling Go's
    strconv.ParseBool reads, the bare flag as true, anything else a usage error listing them."""
    parser = build_parser()
    base = ["serve", "--config=r", "--prometheus-url=http://p"]

    def broad(*flag: str) -> bool:
        return serve_options(parser.parse_args([*base, *flag])).auth.broad_reviews

    for spelling in ("1", "t", "T", "true", "TRUE", "True"):
        assert broad(f"--authorization-broad-reviews={spelling}") is True, spelling
    for spelling in ("0", "f", "F", "false", "FALSE", "False"):
        assert broad(f"--authorization-broad-reviews={spelling}") is False, spelling
    assert broad("--authorization-broad-reviews=false", "--authorization-broad-reviews") is True
    with pytest.raises(SystemExit) as exited:
        parser.parse_args([*base, "--authorization-broad-reviews=yes"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "not a boolean (true or false; as Go's ParseBool also 1/0, t/f" in err
    assert "'yes'" in err
    assert "the bare flag means true (default true)" in _help("serve")
