"""`surge simulate`: the flags to a plan, the replay, then the report.

The replay (autoscaler.simulation.simulate) and the report (autoscaler.simulation.report)
do not know each other; this module puts them together.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

from adapter.forecast.rules import ForecastRule, load_forecast_config
from adapter.rules import ConfigError
from autoscaler.core.hpa import Options
from autoscaler.core.objects import HorizontalPodAutoscaler
from autoscaler.core.versions import DEFAULT_VERSION, Release, VersionError, release
from autoscaler.simulation import records
from autoscaler.simulation import report as simreport
from autoscaler.simulation import timeline as tl
from autoscaler.simulation import traffic as tr
from autoscaler.simulation.capacity import CapacityError
from autoscaler.simulation.capacity import load as load_capacity
from autoscaler.simulation.forecast import ForecastingSource
from autoscaler.simulation.progress import progress
from autoscaler.simulation.scenario import CapacityModel, Traffic
from autoscaler.simulation.simulate import (
    SCENARIO_DAY,
    SCENARIOS,
    SEED_SCENARIO,
    SYNC_PERIOD_S,
    TRAFFIC_QUERY,
    ScenarioSource,
    Settings,
    SimulationError,
    Source,
    TimelineSource,
    load_hpa,
    seed_hpa_text,
    simulate,
)
from autoscaler.simulation.timeline import (
    TimelineError,
    TimelineUnavailable,
    chunks,
    parse_queries,
    parse_time,
)
from autoscaler.simulation.traffic import TraceTraffic, TrafficError

DEFAULT_PLOT = "surge-simulate.png"  # when matplotlib (the [tools] extra) is installed


@dataclass(frozen=True)
class SimulateOptions:
    """`surge simulate`'s flags, named as the flags are; durations in seconds. None: the
    run works the value out (the seed's, the capacity model's, the HPA's)."""

    scenario: str | None = None
    traffic: str | None = None
    config: str | None = None  # forecast rules (--forecast-config's), computed from the QPS
    timeline: str | None = None
    prometheus_url: str | None = None
    query: tuple[str, ...] = ()
    step: float = 15.0
    hpa: str | None = None
    hpa_name: str | None = None
    capacity: str = "seed"
    kubernetes_version: str = DEFAULT_VERSION
    initial_replicas: int | None = None
    ready_delay: float | None = None
    start: str | None = None
    end: str | None = None
    days: float = 1.0
    utc_offset: float | None = None
    traffic_scale: float = 1.0
    periods: str | None = None
    latency_target: float | None = None
    price_per_pod_hour: float | None = None
    currency: str = "CNY"
    fixed_pods: int | None = None
    plot: str | None = None  # None: DEFAULT_PLOT when matplotlib is installed
    csv: str = "surge-simulate.csv"
    output: str = "text"


def _release_flag(version: str) -> Release:
    try:
        return release(version)
    except VersionError as err:
        raise SimulationError(f"--kubernetes-version: {err}") from None


def _time_flag(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as err:
        raise SimulationError(f"{flag}: {err}") from None


def hpa_source(args: SimulateOptions) -> tuple[str, str]:
    """The YAML text holding the HPA (--hpa, or the seed's with the scenario), and its name."""
    if args.hpa:
        try:
            return Path(args.hpa).read_text(encoding="utf-8"), args.hpa
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else str(err)
            raise SimulationError(f"{args.hpa}: cannot read: {reason}") from None
    if args.scenario != SEED_SCENARIO:
        raise SimulationError("--hpa FILE is required (the HPA as applied to the cluster)")
    return seed_hpa_text(), "the seed's HPA"


def _hpa_for(args: SimulateOptions) -> HorizontalPodAutoscaler:
    return load_hpa(*hpa_source(args), args.hpa_name)


@dataclass(frozen=True)
class Plan:
    """What the flags ask for: the HPA, what answers its metrics, when, in which zone."""

    hpa: HorizontalPodAutoscaler
    source: Source
    start: float
    end: float
    capacity: CapacityModel
    utc_offset_hours: float


def prepare(args: SimulateOptions) -> Plan:
    """The plan of a run from the flags; reads the timeline (or Prometheus) if given."""
    chosen = (args.scenario, args.traffic, args.timeline, args.prometheus_url)
    if sum(bool(c) for c in chosen) != 1:
        raise SimulationError(
            "give one of --scenario NAME, --traffic FILE, --timeline FILE, --prometheus-url URL"
        )
    hpa = _hpa_for(args)
    capacity = load_capacity(args.capacity)
    start = _time_flag(args.start, "--start")
    end = _time_flag(args.end, "--end")
    rules = _forecast_rules(args.config)
    forecasts = frozenset(r.name for r in rules)
    traffic = _trace_for(args, start, end)
    if traffic is not None:
        ScenarioSource.check(hpa, capacity, forecasts)
        first = traffic.start if start is None else start
        last = records.covered_until(traffic.times, SYNC_PERIOD_S) if end is None else end
        source = _forecasting(ScenarioSource(traffic, capacity, traffic.source), rules, traffic)
        return Plan(hpa, source, first, last, capacity, args.utc_offset or 0.0)
    if args.scenario:
        if args.scenario not in SCENARIOS:
            raise SimulationError(
                f"--scenario {args.scenario}: unknown (built in: {', '.join(SCENARIOS)})"
            )
        ScenarioSource.check(hpa, capacity, forecasts)
        offset = args.utc_offset if args.utc_offset is not None else 8.0
        if start is None:
            start = datetime(*SCENARIO_DAY, tzinfo=timezone(timedelta(hours=offset))).timestamp()
        if end is None:
            end = start + args.days * 86400
        traffic = Traffic(utc_offset_hours=offset, scale=args.traffic_scale)
        source = _forecasting(ScenarioSource(traffic, capacity), rules, traffic)
        return Plan(hpa, source, start, end, capacity, offset)
    if rules:
        raise SimulationError(
            "--config (forecast rules) needs --traffic or --scenario: a rule's load is the "
            "simulated Deployment's QPS"
        )
    if args.timeline:
        timeline = tl.read_file(args.timeline)
    else:
        if start is None or end is None:
            raise SimulationError("--prometheus-url needs --start and --end")
        queries = tl.parse_queries(args.query or [])
        if not queries:
            raise SimulationError("--prometheus-url needs --query NAME=PROMQL (one per metric)")
        total = len(queries) * len(tl.chunks(start, end, args.step))
        with progress("reading Prometheus", total) as bar:
            timeline = tl.read_prometheus(
                args.prometheus_url, queries, start, end, args.step, bar.advance
            )
    return Plan(
        hpa,
        TimelineSource(timeline, hpa, capacity),
        timeline.start if start is None else start,
        records.covered_until(timeline.instants, SYNC_PERIOD_S) if end is None else end,
        capacity,
        args.utc_offset or 0.0,
    )


def _forecast_rules(path: str | None) -> tuple[ForecastRule, ...]:
    """The forecast rules of --config (the file `surge serve --forecast-config` takes)."""
    if not path:
        return ()
    try:
        return load_forecast_config(path).rules
    except ConfigError as err:
        raise SimulationError(err.problems[0]) from None


def _forecasting(
    source: ScenarioSource, rules: tuple[ForecastRule, ...], traffic: Traffic | TraceTraffic
) -> Source:
    """The source, plus the forecast metrics of `rules` computed from its traffic."""
    if not rules:
        return source
    since = traffic.start if isinstance(traffic, TraceTraffic) else -math.inf
    return ForecastingSource(source, rules, traffic.qps, since)


def _trace_for(
    args: SimulateOptions, start: float | None, end: float | None
) -> TraceTraffic | None:
    """--traffic FILE, or --prometheus-url with the one query qps=PROMQL: a traffic trace."""
    if args.traffic:
        return tr.read_file(args.traffic)
    if not args.prometheus_url:
        return None
    queries = parse_queries(args.query or [])
    if set(queries) != {TRAFFIC_QUERY}:
        return None
    if start is None or end is None:
        raise SimulationError("--prometheus-url needs --start and --end")
    with progress("reading Prometheus", len(chunks(start, end, args.step))) as bar:
        return tr.from_prometheus(
            args.prometheus_url, queries[TRAFFIC_QUERY], start, end, args.step, bar.advance
        )


def _check_numbers(args: SimulateOptions) -> None:
    checks = (
        (args.days > 0, "--days must be positive"),
        (args.traffic_scale > 0, "--traffic-scale must be positive"),
        (
            args.initial_replicas is None or args.initial_replicas >= 1,
            "--initial-replicas must be at least 1",
        ),
        (args.fixed_pods is None or args.fixed_pods >= 1, "--fixed-pods must be at least 1"),
        (
            args.price_per_pod_hour is None or args.price_per_pod_hour >= 0,
            "--price-per-pod-hour cannot be negative",
        ),
        (args.ready_delay is None or args.ready_delay >= 0, "--ready-delay cannot be negative"),
        (
            args.utc_offset is None or -14 <= args.utc_offset <= 14,
            "--utc-offset must be between -14 and 14 hours",
        ),
    )
    for ok, problem in checks:
        if not ok:
            raise SimulationError(problem)


def main(args: SimulateOptions, out: TextIO | None = None) -> int:
    """`surge simulate` with the flags surge.cli defines; 0, 1 (Prometheus failed) or 2.

    Flags left as None take the defaults of Settings and of the report."""
    out = out or sys.stdout
    plot_path = DEFAULT_PLOT if args.plot is None and simreport.can_plot() else args.plot
    if plot_path and not simreport.can_plot():
        print(
            "surge simulate: --plot needs matplotlib, not installed: the [tools] extra, "
            "pip install '.[tools]' in Surge's source",
            file=sys.stderr,
        )
        return 1
    try:
        _check_numbers(args)
        periods = simreport.parse_periods(args.periods)
        plan = prepare(args)
        if plan.end - plan.start > 400 * 86400:
            raise SimulationError("the time range is longer than 400 days")
        defaults = Settings()
        settings = Settings(
            plan.capacity.ready_delay_s if args.ready_delay is None else args.ready_delay,
            defaults.latency_target_s if args.latency_target is None else args.latency_target,
            Options(kubernetes=_release_flag(args.kubernetes_version)),
        )
        count = int((plan.end - plan.start) // SYNC_PERIOD_S)
        with progress("simulating", count) as bar:
            run = simulate(
                plan.hpa,
                plan.source,
                plan.start,
                plan.end,
                settings,
                plan.capacity,
                args.initial_replicas,
                plan.utc_offset_hours,
                bar.advance,
            )
    except (
        SimulationError,
        TimelineError,
        TrafficError,
        CapacityError,
        simreport.ReportError,
    ) as err:
        print(f"surge simulate: {err}", file=sys.stderr)
        return 2
    except TimelineUnavailable as err:
        print(f"surge simulate: {err}", file=sys.stderr)
        return 1
    price = args.price_per_pod_hour
    summary = simreport.summarize(
        run,
        periods,
        price=simreport.SEED_PRICE_PER_POD_HOUR if price is None else price,
        currency=args.currency,
        fixed_pods=args.fixed_pods,
        seed=args.scenario == SEED_SCENARIO,
    )
    written = []
    try:
        if args.csv:
            simreport.write_csv(run, Path(args.csv))
            written.append(("timeline", args.csv))
        if plot_path:
            simreport.plot(run, summary, Path(plot_path), periods)
            written.append(("plot", plot_path))
    except OSError as err:
        print(f"surge simulate: cannot write {err.filename}: {err.strerror}", file=sys.stderr)
        return 1
    simreport.print_summary(summary, written, args.output, out)
    return 0
