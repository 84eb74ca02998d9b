"""What `surge tune` says: before and after side by side, the spec's diff, report.json,
hpa.yaml (applyable, only tuned fields changed) and tune.png (both runs over time)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import yaml

from autoscaler.simulation import report as simreport
from autoscaler.simulation.simulate import Run


@dataclass(frozen=True)
class Judged:
    """A run's summary over part of it, with its attainment."""

    summary: simreport.Summary
    attainment: float

    def as_json(self) -> dict[str, Any]:
        document = self.summary.as_json()
        document.pop("periods", None)
        document.pop("seed", None)
        document["attainment"] = self.attainment
        return document


def judge(run: Run, price: float, currency: str) -> Judged:
    summary = simreport.summarize(run, (), price=price, currency=currency)
    known = summary.seconds_with_latency
    above = summary.seconds_above_latency_target or 0.0
    return Judged(summary, 1 - above / known if known else 1.0)


def spec_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    old = yaml.safe_dump(dict(before["spec"]), sort_keys=False).splitlines()
    new = yaml.safe_dump(dict(after["spec"]), sort_keys=False).splitlines()
    return list(difflib.unified_diff(old, new, "spec as applied", "spec tuned", lineterm="", n=2))


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _rows(j: Judged) -> list[str]:
    s = j.summary
    return [
        f"{s.pod_hours:.1f}",
        f"{s.pod_hours_per_day:.1f}",
        _duration(s.seconds_above_latency_target or 0.0),
        f"{j.attainment:.2%}",
        f"{s.rescales}",
        f"{s.monthly_cost:,.0f} {s.currency}",
    ]


ROW_NAMES = (
    "pod-hours",
    "pod-hours a day",
    "time above the objective",
    "attainment",
    "rescales",
    "monthly cost",
)


def print_text(
    document: Mapping[str, Any],
    columns: Sequence[tuple[str, Judged]],
    diff: Sequence[str],
    notes: Sequence[str],
    out: TextIO,
) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    probe = Console(file=out)
    console = Console(
        file=out, width=probe.width if probe.is_terminal else 110, highlight=False, soft_wrap=True
    )
    slo = document["slo"]
    console.print(
        f"[bold]surge tune[/bold]: {document['hpaName']} against {document['traffic']}, "
        f"objective p99 <= {slo['latencySeconds']:g} s for {slo['attainment']:.2%} of the time"
    )
    # The spans judged (before and after share theirs), in the trace's own zone.
    for which, (_, j) in zip(("tuned on", "held out"), columns[::2], strict=False):
        console.print(f"{which}: {j.summary.start} to {j.summary.end}", markup=False)
    table = Table(box=box.SIMPLE, pad_edge=False)
    table.add_column("")
    for title, _ in columns:
        table.add_column(title, justify="right")
    cells = [_rows(j) for _, j in columns]
    for i, name in enumerate(ROW_NAMES):
        table.add_row(name, *(c[i] for c in cells))
    console.print(table)
    if diff:
        console.print("\n".join(diff[2:]), markup=False)
    for line in notes:
        console.print(line, markup=False)


def write_yaml(document: Mapping[str, Any], path: Path, comments: Sequence[str]) -> None:
    text = "".join(f"# {c}\n" for c in comments) + yaml.safe_dump(dict(document), sort_keys=False)
    path.write_text(text, encoding="utf-8")


def write_json(document: Mapping[str, Any], path: Path) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def plot(
    before: Run, after: Run, path: Path, slo_latency_s: float, holdout_from: float | None
) -> None:
    """Traffic, replicas and p99 of both runs over time; the held-out days shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    zone = timezone(timedelta(hours=before.utc_offset_hours))

    def times(run: Run) -> list[datetime]:
        return [datetime.fromtimestamp(s.time, zone) for s in run.steps]

    fig, axes = plt.subplots(3, 1, figsize=(12, 8), sharex=True)
    t = times(before)
    axes[0].plot(t, [s.qps or 0 for s in before.steps], color="tab:gray", lw=0.8)
    axes[0].set_ylabel("QPS")
    for run, label, color in ((before, "as applied", "tab:red"), (after, "tuned", "tab:blue")):
        axes[1].step(
            times(run),
            [s.desired for s in run.steps],
            where="post",
            lw=0.8,
            color=color,
            label=label,
        )
        p99 = [
            min(s.p99_seconds, 4 * slo_latency_s) if s.p99_seconds is not None else float("nan")
            for s in run.steps
        ]
        axes[2].plot(times(run), p99, lw=0.6, color=color, label=label)
    axes[1].set_ylabel("replicas")
    axes[1].legend(loc="upper left")
    axes[2].axhline(slo_latency_s, color="black", ls="--", lw=0.8, label="objective")
    axes[2].set_ylabel("p99 (s)")
    axes[2].legend(loc="upper left")
    if holdout_from is not None:
        for ax in axes:
            ax.axvspan(
                datetime.fromtimestamp(holdout_from, zone), t[-1], color="tab:green", alpha=0.08
            )
        axes[0].set_title("shaded: held-out days (judged, not tuned on)", fontsize=9)
    axes[2].xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=zone))
    offset = f"UTC{before.utc_offset_hours:+g}" if before.utc_offset_hours else "UTC"
    axes[2].set_xlabel(f"local time ({offset})")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
