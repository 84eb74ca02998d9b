"""`python -m bench forecast --part tune`: `surge tune` with and without `--forecast` on
the same week of steep ramps (bench/forecast_traces.py: 150 to 1,100 QPS in six minutes
every morning), pods 3 minutes to Ready, tuned on six days and judged on the seventh.

Both runs are the command itself (surge.tune.main, in-process) on one CSV trace: the week
is its last seven days, given with `--start`; the days before it are history only, as
Prometheus holds them for a forecast rule (the reactive tune reads nothing there). The
forecast's result is then replayed by `surge simulate --hpa DIR/hpa.yaml --config
DIR/surge.yaml` and must give the same figures.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.forecast_traces import DAY_S, MONDAY, steep_ramps, write_csv

READY_DELAY = "3m"  # GPU-backed pods
# The team's first guess: 60 QPS a pod, from 2 to 40 pods.
HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ai-service, namespace: ai-platform}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ai-service}
  minReplicas: 2
  maxReplicas: 40
  metrics:
  - type: Pods
    pods:
      metric: {name: http_requests_per_second}
      target: {type: AverageValue, averageValue: "60"}
"""


@dataclass(frozen=True)
class Size:
    """The trace: `history` days before the tuned week of `week` days of `day_s` seconds."""

    history: int = 8
    week: int = 7
    day_s: float = DAY_S
    step: float = 60.0
    seasonality: str | None = None  # None: auto (daily, detected); short days give theirs


@dataclass(frozen=True)
class Compared:
    reactive: dict[str, Any]  # `surge tune -o json`
    forecast: dict[str, Any]  # `surge tune --forecast -o json`
    replayed: dict[str, Any]  # `surge simulate -o json` of the forecast's hpa.yaml + surge.yaml
    seconds: tuple[float, float]  # CPU seconds of each tune

    def held_out(self, which: str) -> dict[str, Any]:
        return (self.reactive if which == "reactive" else self.forecast)["holdout"]["after"]

    @property
    def saved(self) -> float:
        """The forecast's pod-hours on the held-out day against the reactive tune's."""
        return self.held_out("forecast")["podHours"] / self.held_out("reactive")["podHours"] - 1


def _tune(argv: list[str]) -> tuple[dict[str, Any], float]:
    from surge.flags import build_parser
    from surge.options import tune_options
    from surge.tune import main

    out = io.StringIO()
    began = time.process_time()
    code = main(tune_options(build_parser().parse_args(["tune", *argv, "-o", "json"])), out)
    seconds = time.process_time() - began
    if code != 0:
        raise RuntimeError(f"surge tune {' '.join(argv)}: exit {code}")
    return json.loads(out.getvalue()), seconds


def _simulate(argv: list[str]) -> dict[str, Any]:
    from autoscaler.simulation.command import main
    from surge.flags import build_parser
    from surge.options import simulate_options

    out = io.StringIO()
    args = build_parser().parse_args(["simulate", *argv, "--plot", "", "-o", "json"])
    if main(simulate_options(args), out) != 0:
        raise RuntimeError(f"surge simulate {' '.join(argv)} failed")
    return json.loads(out.getvalue())


def compare(workdir: Path, size: Size = Size()) -> Compared:
    days = size.history + size.week
    trace = steep_ramps(days, size.day_s, size.step)
    traffic, hpa = workdir / "ramps.csv", workdir / "hpa.yaml"
    write_csv(trace, traffic)
    hpa.write_text(HPA, encoding="utf-8")
    start = f"{MONDAY + size.history * size.day_s:.0f}"
    common = [
        *("--traffic", str(traffic), "--hpa", str(hpa), "--ready-delay", READY_DELAY),
        *("--start", start, "--holdout-days", f"{size.day_s / DAY_S:g}"),
    ]
    reactive, reactive_s = _tune([*common, "--out", str(workdir / "reactive")])
    extra = ["--forecast-seasonality", size.seasonality] if size.seasonality else []
    tuned = workdir / "forecast"
    forecast, forecast_s = _tune([*common, "--forecast", *extra, "--out", str(tuned)])
    replayed = _simulate(
        [
            *("--traffic", str(traffic), "--start", start, "--ready-delay", READY_DELAY),
            *("--hpa", str(tuned / "hpa.yaml"), "--config", str(tuned / "surge.yaml")),
            *("--csv", str(workdir / "replayed.csv")),
        ]
    )
    return Compared(reactive, forecast, replayed, (reactive_s, forecast_s))


def print_report(c: Compared) -> None:
    rows = (("surge tune", "reactive"), ("surge tune --forecast", "forecast"))
    print(f"{'held-out day':24} {'pod-hours':>10} {'attainment':>11} {'CPU s':>7}  HPA")
    for (label, which), seconds in zip(rows, c.seconds, strict=True):
        held = c.held_out(which)
        document = c.reactive if which == "reactive" else c.forecast
        print(
            f"{label:24} {held['podHours']:>10.1f} {held['attainment']:>11.2%} "
            f"{seconds:>7.0f}  {_metrics(document['hpa'])}"
        )
    print(f"difference: {c.saved:+.1%} pod-hours with the forecast")
    f = c.forecast["forecast"]
    lead, target = f["leadSeconds"], f["targetAverageValue"]
    print(f"forecast rule: {f['metric']}, lead {lead:g} s, target {target} a pod")
    total = c.forecast["after"]["podHours"] + c.forecast["holdout"]["after"]["podHours"]
    print(
        f"replayed by surge simulate --config surge.yaml: {c.replayed['podHours']:.3f} "
        f"pod-hours (tune's: {total:.3f})"
    )


def _metrics(document: dict[str, Any]) -> str:
    from autoscaler.tune.space import targets

    spec = document["spec"]
    parts = [f"{t.name} {t.value:g}" for t in targets(document)]
    return f"min {spec.get('minReplicas', 1)}, " + ", ".join(parts)
