"""`python -m bench forecast`: which model to serve, and what 1,000 forecast rules cost.

Two parts (`both`):

- **models**: each candidate of adapter/forecast/model.py on each trace of
  bench/forecast_traces.py (14 days of history, judged on the held-out 15th), as the
  server runs it: history read at the rule's step (a range query's points), refitted at
  each new point, served as max(peak over [now, now + lead], load now) every minute.
  Reported: the MAPE of the point forecast at now + lead, the share of those points below
  the actual load, and the share of minutes whose served value is below the actual peak
  over [now, now + lead] (for the reactive signal alone too: the load now).
- **engine**: N rules (default 1,000) over 14 days of history in a real Prometheus,
  refreshed by the server's own Forecaster on an injected clock: Prometheus queries per
  refresh, refresh time, RSS.

And, not in `both`: **ramps**, reactive and forecast HPAs over a grid on the steep-ramps
trace's held-out day; **tune**, `surge tune` with and without `--forecast` on a week of it
(bench/forecast_tune.py; `--workdir` keeps its files).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adapter.forecast.model import MODELS, Fit, Series, fit, served
from bench.forecast_traces import DAY_S, TRACES, Trace

WINDOW_S = 14 * DAY_S
# Served below the peak by more than the traces' own noise: a ramp missed, not a wobble.
UNDER_TOLERANCE = 0.9


@dataclass(frozen=True)
class Score:
    trace: str
    model: str
    mape: float  # of the point forecast at now + lead
    under: float  # share of those points below the actual load
    served_under: float  # share of minutes served below 90% of the peak within the lead
    served_excess: float  # mean (served - actual peak) / actual peak
    fit_ms: float

    def row(self) -> dict[str, float | str]:
        return {
            "trace": self.trace,
            "model": self.model,
            "mape": round(self.mape, 4),
            "under": round(self.under, 4),
            "servedUnder": round(self.served_under, 4),
            "servedExcess": round(self.served_excess, 4),
            "fitMs": round(self.fit_ms, 2),
        }


def score(
    trace: Trace,
    model: str,
    *,
    step_s: float = 300.0,
    lead_s: float = 210.0,
    clock: Callable[[], float] | None = None,
) -> Score:
    """One model on one trace's held-out last day (see the module docstring)."""
    timer = clock or time.perf_counter
    every = round(step_s / trace.step)
    day = round(DAY_S / trace.step)
    lead = round(lead_s / trace.step)
    qps = trace.qps
    origins = range(len(qps) - day, len(qps) - lead)
    window = round(WINDOW_S / step_s)
    fits: dict[int, Fit] = {}
    spent = 0.0
    points, actual, served_v, peaks = [], [], [], []
    for i in origins:
        boundary = i - i % every  # the last point a range query has returned
        if boundary not in fits:
            grid = qps[boundary - (window - 1) * every : boundary + 1 : every]
            history = Series(
                trace.start + (boundary - (len(grid) - 1) * every) * trace.step,
                step_s,
                grid.astype(np.float64),
            )
            began = timer()
            fits[boundary] = fit(history, horizon_s=2 * step_s + lead_s, model=model)
            spent += timer() - began
        f = fits[boundary]
        now = trace.start + i * trace.step
        assert f.curve is not None, f.reason
        points.append(float(np.interp(now + lead_s, *_grid(f))))
        actual.append(qps[i + lead])
        served_v.append(served(f, now, lead_s, qps[i]))
        peaks.append(qps[i : i + lead + 1].max())
    p, a, s, k = map(np.asarray, (points, actual, served_v, peaks))
    return Score(
        trace.name,
        model,
        float(np.mean(np.abs(p - a) / a)),
        float(np.mean(p < a)),
        float(np.mean(s < UNDER_TOLERANCE * k)),
        float(np.mean((s - k) / k)),
        1000 * spent / max(1, len(fits)),
    )


def reactive(trace: Trace, *, lead_s: float = 210.0) -> Score:
    """The load now as the only signal: how often it is below what comes within the lead."""
    day = round(DAY_S / trace.step)
    lead = round(lead_s / trace.step)
    qps = trace.qps
    now = qps[len(qps) - day : len(qps) - lead]
    later = np.array([qps[i + lead] for i in range(len(qps) - day, len(qps) - lead)])
    peaks = np.array([qps[i : i + lead + 1].max() for i in range(len(qps) - day, len(qps) - lead)])
    return Score(
        trace.name,
        "reactive (load now)",
        float(np.mean(np.abs(now - later) / later)),
        float(np.mean(now < later)),
        float(np.mean(now < UNDER_TOLERANCE * peaks)),
        float(np.mean((now - peaks) / peaks)),
        0.0,
    )


def _grid(f: Fit) -> tuple[np.ndarray, np.ndarray]:
    assert f.curve is not None
    c = f.curve
    return c.start + c.step * np.arange(len(c.values)), c.values


def models(
    traces: tuple[str, ...] = tuple(TRACES),
    candidates: tuple[str, ...] = tuple(MODELS),
    *,
    step_s: float = 300.0,
    lead_s: float = 210.0,
) -> list[dict[str, float | str]]:
    rows = []
    for name in traces:
        trace = TRACES[name]()
        rows.append(reactive(trace, lead_s=lead_s).row())
        for model in candidates:
            rows.append(score(trace, model, step_s=step_s, lead_s=lead_s).row())
    return rows


def _pct(x: float | str) -> str:
    return f"{100 * float(x):.1f}%" if not math.isnan(float(x)) else "-"


# -- the engine: N rules, 14 days, a real Prometheus ---------------------------------------

ENGINE_SERIES = 100  # rules share series (backfilling 1,000 x 14 days would take long)
ENGINE_STEP_S = 300


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def _engine_data(now: float) -> str:
    from autoscaler.simulation.scenario import Traffic

    traffic = Traffic()
    start = now - WINDOW_S - 3600
    times = np.arange(start, now + 3600, ENGINE_STEP_S)
    shape = np.array([traffic.qps(float(t)) for t in times])
    lines = ["# TYPE bench_load gauge"]
    for s in range(ENGINE_SERIES):
        scale = 0.5 + s / ENGINE_SERIES
        lines += [
            f'bench_load{{series="{s}"}} {v * scale:.2f} {t:.0f}'
            for t, v in zip(times, shape, strict=True)
        ]
    return "\n".join([*lines, "# EOF"]) + "\n"


async def engine(rules: int, refreshes: int, workdir: Path | None) -> dict[str, object]:
    """N rules (distinct queries over ENGINE_SERIES series), 14 days at a 5m step: the
    first refresh reads the history, then one refresh a minute on an injected clock."""
    import tempfile

    from adapter.engine import NaiveEngine
    from adapter.forecast.rules import parse_forecast_config
    from adapter.forecast.service import Forecaster, ForecastSettings
    from adapter.prometheus import PrometheusClient, PrometheusSettings
    from surge.demo.localprom import LocalPrometheus, backfill

    now = math.floor(time.time() / ENGINE_STEP_S) * ENGINE_STEP_S
    config = parse_forecast_config(
        "forecastRules:\n"
        + "".join(
            f"- name: load_forecast_{i}\n"
            f'  query: bench_load{{series="{i % ENGINE_SERIES}"}} * {1 + i / rules:.4f}\n'
            for i in range(rules)
        )
    )
    with tempfile.TemporaryDirectory(prefix="surge-bench-forecast-") as tmp:
        data_dir = (workdir or Path(tmp)) / "prometheus"
        began = time.perf_counter()
        await asyncio.to_thread(backfill, data_dir, _engine_data(now))
        backfill_s = time.perf_counter() - began
        async with LocalPrometheus(data_dir) as prometheus:
            client = PrometheusClient(PrometheusSettings(prometheus.url, timeout_s=60))
            clock = [float(now)]
            forecaster = Forecaster(
                config,
                client,
                NaiveEngine(client),
                ForecastSettings(max_concurrency=8),
                clock=lambda: clock[0],
            )
            rss_before = _rss_mb()
            rounds = []
            for i in range(refreshes + 1):
                clock[0] = now + 60 * i
                stats = await forecaster.refresh()
                rounds.append(stats)
            await client.close()
            fitted = sum(1 for r in config.rules if forecaster.status(r)["forecast"])
    first, steady = rounds[0], rounds[1:]
    return {
        "rules": rules,
        "historyDays": WINDOW_S / DAY_S,
        "stepSeconds": ENGINE_STEP_S,
        "backfillSeconds": round(backfill_s, 1),
        "first": {
            "queries": first.queries,
            "points": first.points,
            "seconds": round(first.seconds, 2),
            "fitSeconds": round(first.fit_seconds, 2),
        },
        "steady": {
            "refreshes": len(steady),
            "queriesPerRefresh": round(sum(r.queries for r in steady) / max(1, len(steady)), 1),
            "maxQueries": max((r.queries for r in steady), default=0),
            "meanSeconds": round(sum(r.seconds for r in steady) / max(1, len(steady)), 2),
            "maxSeconds": round(max((r.seconds for r in steady), default=0.0), 2),
        },
        "rssMb": {"before": round(rss_before, 1), "after": round(_rss_mb(), 1)},
        "forecasting": fitted,
    }


# -- ramps: the forecast against the best reactive HPA, by brute force ----------------------

RAMP_READY_S = 180.0  # GPU-backed pods: three minutes to Ready
RAMP_LEAD_S = RAMP_READY_S + 30  # Ready plus two syncs
REACTIVE_TARGETS = (50, 60, 70, 80, 90, 92, 94, 96)
FORECAST_TARGETS = (
    (80, 90),
    (90, 90),
    (90, 100),
    (94, 100),
    (96, 100),
    (96, 110),
)  # (live, forecast)


def _ramp_hpa(live: float, forecast: float | None) -> str:
    metrics = [
        "  - type: Pods\n    pods:\n      metric: {name: http_requests_per_second}\n"
        f'      target: {{type: AverageValue, averageValue: "{live:g}"}}'
    ]
    if forecast is not None:
        metrics.append(
            "  - type: Object\n    object:\n      metric: {name: qps_forecast}\n"
            "      describedObject: {apiVersion: apps/v1, kind: Deployment, name: ai-service}\n"
            f'      target: {{type: AverageValue, averageValue: "{forecast:g}"}}'
        )
    return (
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
        "metadata: {name: ai-service, namespace: ai-platform}\nspec:\n"
        "  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ai-service}\n"
        "  minReplicas: 2\n  maxReplicas: 40\n  metrics:\n" + "\n".join(metrics) + "\n"
    )


def ramps() -> list[dict[str, object]]:
    """The steep-ramps trace's held-out day through the seed's capacity with pods 3 minutes
    to Ready: reactive HPAs (QPS a pod) against the same plus a forecast metric (lead 3.5
    min), each's pod-hours and attainment (the share of the day with p99 within 5 s)."""
    from adapter.forecast.rules import parse_forecast_config
    from autoscaler.simulation.forecast import ForecastingSource
    from autoscaler.simulation.report import summarize
    from autoscaler.simulation.scenario import calibrate
    from autoscaler.simulation.simulate import (
        ScenarioSource,
        Settings,
        Source,
        load_hpa,
        simulate,
    )
    from autoscaler.simulation.traffic import TraceTraffic
    from bench.forecast_traces import steep_ramps

    trace = steep_ramps()
    times = trace.start + trace.step * np.arange(len(trace.qps))
    traffic = TraceTraffic(tuple(times.tolist()), tuple(trace.qps.tolist()), trace.name)
    capacity = calibrate()
    rules = parse_forecast_config(
        "forecastRules:\n- name: qps_forecast\n  query: sum(rate(http_requests_total[2m]))\n"
        "  namespace: ai-platform\n  object: {kind: Deployment, name: ai-service}\n"
        f"  lead: {RAMP_LEAD_S:g}s\n"
    ).rules
    day = trace.start + 14 * DAY_S
    rows: list[dict[str, object]] = []
    grid = [(float(t), None) for t in REACTIVE_TARGETS]
    grid += [(float(a), float(b)) for a, b in FORECAST_TARGETS]
    for live, forecast in grid:
        source: Source = ScenarioSource(traffic, capacity, trace.name)
        if forecast is not None:
            source = ForecastingSource(source, rules, traffic.qps)
        run = simulate(
            load_hpa(_ramp_hpa(live, forecast), "bench"),
            source,
            day,
            day + DAY_S,
            Settings(ready_delay_s=RAMP_READY_S),
            capacity,
        )
        summary = summarize(run)
        above = summary.seconds_above_latency_target or 0.0
        rows.append(
            {
                "live": live,
                "forecast": forecast,
                "podHours": round(summary.pod_hours, 1),
                "attainment": round(1 - above / DAY_S, 4),
            }
        )
    return rows


def add_parser(commands: Any) -> None:
    f = commands.add_parser(
        "forecast",
        help="forecast models on traces, and 1,000 forecast rules against a real Prometheus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument(
        "--part",
        choices=["models", "engine", "both", "ramps", "tune"],
        default="both",
        help="ramps: reactive HPAs against forecast HPAs on steep ramps; tune: surge tune "
        "with and without --forecast on a week of them (neither in both)",
    )
    f.add_argument("--traces", default=",".join(TRACES), help="of " + ",".join(TRACES))
    f.add_argument("--models", default=",".join(MODELS), help="of " + ",".join(MODELS))
    f.add_argument("--rules", type=int, default=1000)
    f.add_argument("--refreshes", type=int, default=10, help="steady refreshes, one a minute")
    f.add_argument("--workdir", type=Path, help="keep Prometheus' data here (default: temp)")
    f.add_argument("--json", action="store_true", help="print one JSON object")


def main(args: argparse.Namespace) -> int:
    traces = tuple(t for t in args.traces.split(",") if t)
    candidates = tuple(m for m in args.models.split(",") if m)
    unknown = [t for t in traces if t not in TRACES] + [m for m in candidates if m not in MODELS]
    if unknown or args.rules < 1 or args.refreshes < 1:
        print(f"unknown trace or model {unknown}, or --rules/--refreshes below 1", file=sys.stderr)
        return 2
    result: dict[str, object] = {}
    if args.part in ("models", "both"):
        result["models"] = models(traces, candidates)
    if args.part in ("engine", "both"):
        result["engine"] = asyncio.run(engine(args.rules, args.refreshes, args.workdir))
    if args.part == "ramps":
        result["ramps"] = ramps()
    if args.part == "tune":
        import tempfile

        from bench import forecast_tune

        with tempfile.TemporaryDirectory() as scratch:
            workdir = args.workdir or Path(scratch)
            workdir.mkdir(parents=True, exist_ok=True)
            compared = forecast_tune.compare(workdir)
        if not args.json:
            forecast_tune.print_report(compared)
            return 0
        result["tune"] = {
            "reactive": compared.reactive,
            "forecast": compared.forecast,
            "replayed": compared.replayed,
            "cpuSeconds": list(compared.seconds),
        }
    if args.json:
        print(json.dumps(result))
        return 0
    for row in result.get("models", []):  # type: ignore[attr-defined]
        print(
            f"{row['trace']:<14} {row['model']:<20} MAPE {_pct(row['mape']):>6}  "
            f"under {_pct(row['under']):>6}  missed {_pct(row['servedUnder']):>6}  "
            f"fit {row['fitMs']} ms"
        )
    if "engine" in result:
        print(json.dumps(result["engine"], indent=2))
    for row in result.get("ramps", []):  # type: ignore[attr-defined]
        kind = "reactive" if row["forecast"] is None else f"+ forecast {row['forecast']:g}"
        print(
            f"live {row['live']:g} {kind:<16} pod-hours {row['podHours']:>6}  "
            f"attainment {100 * float(row['attainment']):.2f}%"
        )
    return 0
