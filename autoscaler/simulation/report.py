"""What a simulation says: replicas per period, pod-hours, latency, cost; CSV and a plot.

Replica ranges are given two ways. The full range includes the minutes the HPA needs to
follow a change of traffic (a scale-down waits out a 5-minute stabilization window, then
goes 20% a minute), which a table of typical pods per period, like the seed's, leaves
out; the typical range is the narrowest one the replicas stayed in for 80% of the period.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO, TypeVar

from autoscaler.core.metrictypes import MetricSourceType
from autoscaler.simulation.scenario import SEED_WORKDAY_TABLE
from autoscaler.simulation.simulate import (
    SYNC_PERIOD_S,
    Run,
    current_value,
    target_value,
)

TYPICAL_SHARE = 0.8
N = TypeVar("N", int, float)
HOURS_PER_MONTH = 730.0  # 8,760 hours a year over 12 months
# The seed's cost table: two fixed 16C64G hosts against Kubernetes with the HPA.
SEED_FIXED_CNY, SEED_HPA_CNY = 14_000, 5_200
SEED_UTILISATION = (28, 73)
# One host holds eight pods the size of the load test's (2 CPU), so two hosts, 14,000 CNY
# a month, are 16 pods for 730 hours.
SEED_PRICE_PER_POD_HOUR = round(SEED_FIXED_CNY / (16 * HOURS_PER_MONTH), 2)


class ReportError(ValueError):
    """A bad --periods value."""


@dataclass(frozen=True)
class Period:
    start_hour: float
    end_hour: float

    @property
    def label(self) -> str:
        return f"{_clock(self.start_hour)}-{_clock(self.end_hour)}"

    def contains(self, hour: float) -> bool:
        return self.start_hour <= hour < self.end_hour


SEED_PERIODS = tuple(Period(r.start_hour, r.end_hour) for r in SEED_WORKDAY_TABLE)


def _clock(hour: float) -> str:
    minutes = round(hour * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _hour(text: str) -> float:
    hours, _, minutes = text.strip().partition(":")
    try:
        value = int(hours) + (int(minutes) / 60 if minutes else 0)
    except ValueError:
        raise ReportError(f"--periods: {text!r} is not an hour (9 or 09:30)") from None
    if not 0 <= value <= 24:
        raise ReportError(f"--periods: {text!r} is not between 0 and 24")
    return value


def parse_periods(text: str | None) -> tuple[Period, ...]:
    """`0-6,6-9,9-18` or `00:00-06:00,...` in local time; the seed's table's by default."""
    if not text:
        return SEED_PERIODS
    periods = []
    for part in text.split(","):
        start, sep, end = part.partition("-")
        if not sep:
            raise ReportError(f"--periods: {part!r} is not START-END")
        period = Period(_hour(start), _hour(end))
        if period.end_hour <= period.start_hour:
            raise ReportError(f"--periods: {part!r} ends before it starts")
        periods.append(period)
    return tuple(periods)


@dataclass(frozen=True)
class PeriodSummary:
    label: str
    typical: tuple[int, int]
    full: tuple[int, int]
    mean_replicas: float
    qps: tuple[float, float] | None
    seed_pods: tuple[int, int] | None
    seed_qps: tuple[float, float] | None


@dataclass(frozen=True)
class Summary:
    source: str
    hpa: str
    start: str
    end: str
    utc_offset_hours: float
    decisions: int
    rescales: int
    ready_delay_seconds: float
    days: float
    pod_hours: float
    pod_hours_per_day: float
    peak_replicas: int
    fixed_pods: int
    fixed_pod_hours_per_day: float
    latency_target_seconds: float
    seconds_above_latency_target: float | None
    seconds_with_latency: float
    price_per_pod_hour: float
    currency: str
    monthly_cost: float
    fixed_monthly_cost: float
    saving: float
    periods: tuple[PeriodSummary, ...]
    seed: bool

    def as_json(self) -> dict[str, Any]:
        """camelCase keys, as Surge's other JSON (and Kubernetes') has them."""
        return _camel(asdict(self))


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel_key(k): _camel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_camel(v) for v in value]
    return value


def _camel_key(key: str) -> str:
    first, *rest = key.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def local_time(t: float, utc_offset_hours: float) -> str:
    """RFC 3339 with the trace's offset, as every time Surge writes for a run is."""
    return datetime.fromtimestamp(t, timezone(timedelta(hours=utc_offset_hours))).isoformat()


def _local_hour(t: float, utc_offset_hours: float) -> float:
    return ((t + utc_offset_hours * 3600) % 86400) / 3600


def narrowest_range(values: Sequence[N], share: float = TYPICAL_SHARE) -> tuple[N, N]:
    """The narrowest [low, high] holding at least `share` of the values (lowest on ties)."""
    ordered = sorted(values)
    need = max(math.ceil(share * len(ordered)), 1)
    best = min(range(len(ordered) - need + 1), key=lambda i: ordered[i + need - 1] - ordered[i])
    return ordered[best], ordered[best + need - 1]


def summarize(
    run: Run,
    periods: Sequence[Period] = SEED_PERIODS,
    price: float = SEED_PRICE_PER_POD_HOUR,
    currency: str = "CNY",
    fixed_pods: int | None = None,
    seed: bool = False,
) -> Summary:
    """The run's numbers; `seed` sets the seed's table and money figures beside them."""
    steps = run.steps
    period_s = SYNC_PERIOD_S
    days = len(steps) * period_s / 86400
    # The replicas after each decision run until the next sync.
    pod_hours = sum(s.desired for s in steps) * period_s / 3600
    peak = max(s.desired for s in steps)
    fixed = fixed_pods if fixed_pods is not None else peak
    per_day = pod_hours / days
    fixed_per_day = fixed * 24.0
    known = [s for s in steps if s.p99_seconds is not None]
    target = run.settings.latency_target_s
    above = (
        sum(period_s for s in known if s.p99_seconds is not None and s.p99_seconds > target)
        if known
        else None
    )
    seed_rows = {(r.start_hour, r.end_hour): r for r in SEED_WORKDAY_TABLE} if seed else {}
    summaries = []
    for period in periods:
        inside = [s for s in steps if period.contains(_local_hour(s.time, run.utc_offset_hours))]
        if not inside:
            continue
        replicas = [s.desired for s in inside]
        qps = [s.qps for s in inside if s.qps is not None]
        row = seed_rows.get((period.start_hour, period.end_hour))
        summaries.append(
            PeriodSummary(
                period.label,
                narrowest_range(replicas),
                (min(replicas), max(replicas)),
                sum(replicas) / len(replicas),
                narrowest_range(qps) if qps else None,
                row.pods if row else None,
                row.qps if row else None,
            )
        )
    monthly = per_day / 24 * HOURS_PER_MONTH * price
    fixed_monthly = fixed * HOURS_PER_MONTH * price
    return Summary(
        source=run.source,
        hpa=f"{run.hpa.namespace}/{run.hpa.name}",
        start=local_time(steps[0].time, run.utc_offset_hours),
        end=local_time(steps[-1].time + period_s, run.utc_offset_hours),
        utc_offset_hours=run.utc_offset_hours,
        decisions=len(steps),
        rescales=sum(1 for s in steps if s.desired != s.replicas),
        ready_delay_seconds=run.settings.ready_delay_s,
        days=days,
        pod_hours=pod_hours,
        pod_hours_per_day=per_day,
        peak_replicas=peak,
        fixed_pods=fixed,
        fixed_pod_hours_per_day=fixed_per_day,
        latency_target_seconds=target,
        seconds_above_latency_target=above,
        seconds_with_latency=len(known) * period_s,
        price_per_pod_hour=price,
        currency=currency,
        monthly_cost=monthly,
        fixed_monthly_cost=fixed_monthly,
        saving=1 - monthly / fixed_monthly if fixed_monthly else 0.0,
        periods=tuple(summaries),
        seed=seed,
    )


# --- the summary on stdout -------------------------------------------------------------------


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _span(pair: tuple[float, float] | None, digits: int = 0) -> str:
    if pair is None:
        return "-"
    low, high = (f"{v:,.{digits}f}" for v in pair)
    return low if low == high else f"{low}-{high}"


def seed_comparison(summary: Summary) -> list[str]:
    """The seed's money figures beside the simulation's, and why they differ."""
    seed_saving = 1 - SEED_HPA_CNY / SEED_FIXED_CNY
    return [
        f"The seed's own figures: {SEED_FIXED_CNY:,} against {SEED_HPA_CNY:,} CNY a month "
        f"({-seed_saving:.0%}), host utilisation {SEED_UTILISATION[0]}% -> "
        f"{SEED_UTILISATION[1]}%.",
        f"They differ from the {-summary.saving:.0%} above because the seed pays for hosts, "
        "not pods: its fixed side is two whole 16C64G machines idling at 28%, and its "
        "Kubernetes side shares nodes packed to 73% with other workloads, so it also "
        "banks better bin-packing. Pod-hours count only the pods this HPA keeps, with the "
        "headroom its 70% target, tolerance and 5-minute scale-down window hold.",
    ]


def print_summary(
    summary: Summary, written: Sequence[tuple[str, str]], output: str, out: TextIO
) -> None:
    if output == "json":
        document = summary.as_json()
        document["files"] = dict(written)
        out.write(json.dumps(document, indent=2) + "\n")
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    probe = Console(file=out)
    width = probe.width if probe.is_terminal else 110
    console = Console(file=out, width=width, highlight=False, soft_wrap=True)
    s = summary
    console.print(
        f"[bold]surge simulate[/bold]: {s.source}, HPA {s.hpa}, {s.start} to {s.end}\n"
        f"{s.decisions:,} decisions (one per 15 s), {s.rescales} rescales, "
        f"new pods ready after {s.ready_delay_seconds:g} s"
    )
    table = Table(box=box.SIMPLE, pad_edge=False)
    table.add_column("period")
    table.add_column("QPS", justify="right")
    table.add_column("replicas", justify="right")
    table.add_column("replicas min-max", justify="right")
    table.add_column("mean", justify="right")
    if s.seed:
        table.add_column("seed's table: QPS", justify="right")
        table.add_column("pods", justify="right")
    for p in s.periods:
        cells = [
            p.label,
            _span(p.qps),
            _span(p.typical),
            _span(p.full),
            f"{p.mean_replicas:.1f}",
        ]
        if s.seed:
            cells += [_span(p.seed_qps), _span(p.seed_pods)]
        table.add_row(*cells)
    console.print(table)
    console.print(
        f"QPS and replicas: the narrowest ranges holding {TYPICAL_SHARE:.0%} of each period; "
        "min-max includes the minutes of each change"
    )
    per_day = "" if abs(s.days - 1) < 1e-9 else f" ({s.pod_hours_per_day:.1f} a day)"
    console.print(
        f"pod-hours: {s.pod_hours:.1f}{per_day}, against {s.fixed_pod_hours_per_day:.0f} a day "
        f"for a fixed fleet of {s.fixed_pods} pods sized for the peak "
        f"({s.pod_hours_per_day / s.fixed_pod_hours_per_day:.0%})"
    )
    if s.seconds_above_latency_target is None:
        console.print(
            f"latency: unknown (the timeline has no p99_seconds column; "
            f"target {s.latency_target_seconds:g} s)"
        )
    else:
        share = (
            s.seconds_above_latency_target / s.seconds_with_latency
            if s.seconds_with_latency
            else 0.0
        )
        console.print(
            f"latency: p99 above {s.latency_target_seconds:g} s for "
            f"{_duration(s.seconds_above_latency_target)} ({share:.0%} of the time)"
        )
    console.print(
        f"cost at {s.price_per_pod_hour:g} {s.currency} per pod-hour: "
        f"{s.monthly_cost:,.0f} {s.currency} a month against {s.fixed_monthly_cost:,.0f} "
        f"for {s.fixed_pods} fixed pods ({-s.saving:.0%})"
    )
    if s.seed:
        for line in seed_comparison(s):
            console.print(line)
    for what, path in written:
        console.print(f"{what}: {path}")


# --- the timeline as CSV ---------------------------------------------------------------------


def write_csv(run: Run, path: Path) -> None:
    """One row per sync: traffic, pods, the truth of the model, each metric as the HPA saw
    it with its proposal, the decision and what limited it."""
    specs = run.hpa.metrics
    names = [s.name for s in specs]
    header = [
        "time",
        "qps",
        "replicas",
        "ready_pods",
        "desired_replicas",
        "limit",
        "p99_seconds",
        "cpu_percent",
        "waiting_per_pod",
        "memory_bytes",
    ]
    for name in names:
        header += [f"{name}_current", f"{name}_target", f"{name}_proposal"]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for s in run.steps:
            row: list[Any] = [
                local_time(s.time, run.utc_offset_hours),
                _cell(s.qps),
                s.replicas,
                s.ready,
                s.desired,
                s.limit,
                _cell(s.p99_seconds),
                _cell(s.load.cpu_percent if s.load else None),
                _cell(s.load.waiting if s.load else None),
                _cell(s.load.memory_bytes if s.load else None),
            ]
            for spec, result in zip(specs, s.metrics, strict=True):
                row += [_cell(current_value(result)), _cell(target_value(spec)), result.proposal]
            writer.writerow(row)


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "inf"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


# --- the plot ---------------------------------------------------------------------------------


def _metric_title(run: Run, index: int) -> str:
    spec = run.hpa.metrics[index]
    target = spec.target
    if spec.resource is not None:
        if target is not None and target.average_utilization is not None:
            return f"{spec.resource}: utilization, % of request"
        return f"{spec.resource}: average usage per pod"
    kind = {
        MetricSourceType.PODS: "average per pod",
        MetricSourceType.OBJECT: "value",
        MetricSourceType.EXTERNAL: "value",
    }.get(spec.type, "")
    if (
        target is not None
        and target.average_value is not None
        and spec.type != MetricSourceType.PODS
    ):
        kind = "average per pod"
    return f"{spec.name} ({spec.type}, {kind})"


def can_plot() -> bool:
    """matplotlib is the [tools] extra: the server's image goes without it."""
    return importlib.util.find_spec("matplotlib") is not None


def plot(run: Run, summary: Summary, path: Path, periods: Sequence[Period] = SEED_PERIODS) -> None:
    """Traffic, replicas (with the seed's ranges), each metric against its target, and
    p99 latency against the latency target, over the simulated time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    zone = timezone(timedelta(hours=run.utc_offset_hours))
    steps = run.steps
    times = [datetime.fromtimestamp(s.time, zone) for s in steps]
    has_qps = any(s.qps is not None for s in steps)
    has_p99 = any(s.p99_seconds is not None for s in steps)
    panels = ["replicas", *(f"metric{i}" for i in range(len(run.hpa.metrics)))]
    if has_qps:
        panels.insert(0, "qps")
    if has_p99:
        panels.append("p99")
    heights = [1.6 if p == "replicas" else 1.0 for p in panels]
    fig = Figure(figsize=(13, 1.9 * sum(heights) + 1.2), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, height_ratios=heights)
    fig.suptitle(
        f"HPA {summary.hpa} over {summary.source}: {summary.pod_hours_per_day:.0f} pod-hours "
        f"a day against {summary.fixed_pod_hours_per_day:.0f} for {summary.fixed_pods} fixed pods",
        fontsize=12,
    )
    days = summary.days
    first = times[0]
    for ax, panel in zip(axes, panels, strict=True):
        ax.grid(True, alpha=0.3)
        _shade_periods(ax, first, days, periods)
        if panel == "qps":
            ax.plot(times, [s.qps for s in steps], color="tab:blue", lw=1.2)
            ax.set_ylabel("QPS")
            ax.set_title("traffic (requests per second, whole Deployment)", loc="left", fontsize=10)
            ax.set_ylim(bottom=0)
        elif panel == "replicas":
            ax.step(
                times,
                [s.desired for s in steps],
                where="post",
                color="tab:green",
                lw=1.6,
                label="replicas (HPA)",
            )
            ax.step(
                times,
                [s.ready for s in steps],
                where="post",
                color="tab:olive",
                lw=0.8,
                alpha=0.8,
                label="ready pods",
            )
            ax.axhline(
                summary.fixed_pods,
                color="tab:red",
                ls="--",
                lw=1,
                label=f"fixed fleet ({summary.fixed_pods})",
            )
            if summary.seed:
                _seed_ranges(ax, first, days)
            ax.set_ylabel("pods")
            ax.set_ylim(0, max(summary.peak_replicas, summary.fixed_pods) + 3)
            ax.set_title("replicas", loc="left", fontsize=10)
            ax.legend(loc="upper left", fontsize=8, ncol=4)
        elif panel == "p99":
            values = [
                s.p99_seconds
                if s.p99_seconds is not None and math.isfinite(s.p99_seconds)
                else None
                for s in steps
            ]
            ax.plot(times, values, color="tab:purple", lw=1)
            ax.axhline(
                run.settings.latency_target_s,
                color="black",
                ls="--",
                lw=1,
                label=f"target {run.settings.latency_target_s:g} s",
            )
            ax.set_ylabel("seconds")
            ax.set_title(
                "p99 latency of LLM calls (true, not as the HPA saw it)", loc="left", fontsize=10
            )
            ax.set_ylim(bottom=0)
            ax.legend(loc="upper left", fontsize=8)
        else:
            index = int(panel.removeprefix("metric"))
            spec = run.hpa.metrics[index]
            values = [current_value(s.metrics[index]) for s in steps]
            ax.plot(times, values, color="tab:orange", lw=1, label="as the HPA saw it")
            target = target_value(spec)
            if target is not None:
                ax.axhline(target, color="black", ls="--", lw=1, label=f"target {target:g}")
            ax.set_title(_metric_title(run, index), loc="left", fontsize=10)
            highest = max([v for v in values if v is not None] + [target or 0.0])
            ax.set_ylim(0, highest * 1.3 or 1)
            ax.legend(loc="upper left", fontsize=8)
    last = axes[-1]
    if days <= 2:
        last.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 2), tz=zone))
        last.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
    else:
        last.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=zone))
    offset = f"UTC{run.utc_offset_hours:+g}" if run.utc_offset_hours else "UTC"
    last.set_xlabel(f"local time ({offset})")
    last.set_xlim(times[0], times[-1] + timedelta(seconds=SYNC_PERIOD_S))
    fig.savefig(path, dpi=110)


def _day_starts(first: datetime, days: float) -> list[datetime]:
    midnight = first.replace(hour=0, minute=0, second=0, microsecond=0)
    return [midnight + timedelta(days=d) for d in range(math.ceil(days) + 1)]


def _shade_periods(ax: Any, first: datetime, days: float, periods: Sequence[Period]) -> None:
    """Every other period greyed, so the periods of the summary can be told apart."""
    for day in _day_starts(first, days):
        for i, period in enumerate(periods):
            if i % 2:
                ax.axvspan(
                    day + timedelta(hours=period.start_hour),
                    day + timedelta(hours=period.end_hour),
                    color="grey",
                    alpha=0.07,
                    lw=0,
                )


def _seed_ranges(ax: Any, first: datetime, days: float) -> None:
    for n, day in enumerate(_day_starts(first, days)):
        for row in SEED_WORKDAY_TABLE:
            low, high = row.pods
            ax.fill_between(
                [day + timedelta(hours=row.start_hour), day + timedelta(hours=row.end_hour)],
                low - 0.15,
                high + 0.15,
                color="tab:blue",
                alpha=0.15,
                lw=0,
                label="seed's table" if n == 0 and row is SEED_WORKDAY_TABLE[0] else None,
            )
