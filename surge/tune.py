"""`surge tune`: the HPA that meets a latency objective at the fewest pod-hours.

It reads the HPA as applied, replays traffic through a capacity model with the simulator,
searches targets, minReplicas and behavior (autoscaler.tune.search; with `--forecast`, also
the HPA with a forecast metric added, autoscaler.tune.forecast) and writes what it found
next to the numbers that justify it; it applies nothing.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, TextIO

import yaml

from autoscaler.simulation.command import SimulateOptions
from surge.options import TuneOptions, same_names

SEARCH_BUDGET = 70  # about how many candidates a search judges, for the progress bar


class TuneError(ValueError):
    """Bad flags; one line, exit 2."""


def main(args: TuneOptions, out: TextIO | None = None) -> int:
    """0: the objective is met; 1: not within maxReplicas (or Prometheus failed); 2: bad input."""
    from autoscaler.core.hpa import Options
    from autoscaler.simulation import command
    from autoscaler.simulation import report as simreport
    from autoscaler.simulation import simulate as sim
    from autoscaler.simulation.capacity import CapacityError
    from autoscaler.simulation.progress import progress
    from autoscaler.simulation.timeline import TimelineError, TimelineUnavailable
    from autoscaler.simulation.traffic import TrafficError
    from autoscaler.tune import forecast, report, search, space
    from autoscaler.tune.space import SpaceError

    out = out or sys.stdout
    bad = (
        TuneError,
        sim.SimulationError,
        TimelineError,
        TrafficError,
        CapacityError,
        SpaceError,
        forecast.ForecastError,
    )
    try:
        _check(args)
        # The flags as `surge simulate` reads them, to share its reading of the inputs (no
        # timeline, and no forecast rules file: `--forecast` makes its own rule).
        plain = same_names(SimulateOptions, args)
        command._check_numbers(plain)
        plan = command.prepare(plain)
        if not isinstance(plan.source, sim.ScenarioSource):
            raise TuneError("--prometheus-url: tune replays traffic: give the one query qps=PROMQL")
        traffic, capacity = plan.source.traffic, plan.capacity
        description = plan.source.description
        document = sim.hpa_document(*command.hpa_source(plain), args.hpa_name)
        delay = capacity.ready_delay_s if args.ready_delay is None else args.ready_delay
        options = Options(kubernetes=command._release_flag(args.kubernetes_version))
        settings = sim.Settings(delay, args.slo_latency, options)
        problem = search.Problem(
            document,
            plain.hpa or "the seed's HPA",
            lambda: sim.ScenarioSource(traffic, capacity, description),
            settings,
            capacity,
            args.slo_latency,
            args.slo_attainment,
            frozenset(k.strip() for k in args.keep.split(",") if k.strip()),
            utc_offset_hours=plan.utc_offset_hours,
        )
        search.check_capacity(problem)
        start, end = plan.start, plan.end
        split = end - args.holdout_days * 86400
        if args.holdout_days and split - start < end - split:
            raise TuneError(
                f"--holdout-days {args.holdout_days:g} leaves less to tune on than it holds out "
                f"(the traffic covers {(end - start) / 86400:.2f} days)"
            )
        adding = _forecast_problem(args, problem, traffic, start, split) if args.forecast else None
        searches = 2 if adding else 1
        with progress("tuning", searches * (SEARCH_BUDGET + 2)) as bar:
            if adding is None:
                tuned_runs = search.tune_and_hold_out(
                    problem, start, end, args.holdout_days * 86400, bar.advance
                )
            else:
                choice = forecast.tune(
                    problem, adding[0], start, end, args.holdout_days * 86400, bar.advance
                )
                tuned_runs = choice.chosen
            bar.advance(searches * SEARCH_BUDGET)
        before, after, result = tuned_runs.before, tuned_runs.after, tuned_runs.result
        chosen = (result.best or result.closest).knobs
        if adding is not None and choice.uses_forecast:
            problem = adding[0]
    except bad as err:
        print(f"surge tune: {err}", file=sys.stderr)
        return 2
    except TimelineUnavailable as err:
        print(f"surge tune: {err}", file=sys.stderr)
        return 1
    price = (
        simreport.SEED_PRICE_PER_POD_HOUR
        if args.price_per_pod_hour is None
        else args.price_per_pod_hour
    )
    tuned = problem.document_for(chosen)
    holdout = args.holdout_days > 0

    def part(run: sim.Run, lo: float, hi: float) -> report.Judged:
        return report.judge(search.summaries_steps(run, lo, hi), price, args.currency)

    changes = space.changes(document, tuned)
    added: dict[str, Any] | None = None
    if adding is not None:
        if choice.uses_forecast:
            changes = _forecast_changes(document, tuned, adding[1].rule.lead_s)
        added = {
            "added": choice.uses_forecast,
            "metric": adding[1].rule.name,
            "targetAverageValue": _forecast_target(tuned, adding[1].rule.name),
            "leadSeconds": adding[1].rule.lead_s,
            "rules": yaml.safe_load(adding[1].text),
            # Both searches' results, judged alike: the recommendation is the cheaper.
            "withForecast": _both(choice.forecast.after, part, start, split, end, holdout),
            "reactive": _both(choice.reactive.after, part, start, split, end, holdout),
        }

    columns = [("before", part(before, start, split)), ("after", part(after, start, split))]
    if holdout:
        columns += [
            ("held out: before", part(before, split, end)),
            ("held out: after", part(after, split, end)),
        ]
    met = result.best is not None
    document_out: dict[str, Any] = {
        "before": columns[0][1].as_json(),
        "after": columns[1][1].as_json(),
        "holdout": {"before": columns[2][1].as_json(), "after": columns[3][1].as_json()}
        if holdout
        else None,
        "hpa": tuned,
        "changes": changes,
        "forecast": added,
        "met": met,
        "slo": {"latencySeconds": args.slo_latency, "attainment": args.slo_attainment},
        "hpaName": f"{problem.document['metadata'].get('namespace', 'default')}/"
        f"{problem.document['metadata']['name']}",
        "traffic": description,
        "capacity": getattr(capacity, "source", "") or "seed",
        "tunedOn": {
            "start": simreport.local_time(start, plan.utc_offset_hours),
            "end": simreport.local_time(split, plan.utc_offset_hours),
        },
        "candidates": [o.as_json() for o in result.outcomes],
    }
    notes = _notes(result, problem, document_out["changes"], met, args) + _forecast_notes(added)
    try:
        directory = Path(args.out)
        directory.mkdir(parents=True, exist_ok=True)
        report.write_json(document_out, directory / "report.json")
        files = [str(directory / "report.json")]
        if met:
            report.write_yaml(tuned, directory / "hpa.yaml", _yaml_comments(document_out))
            files.append(str(directory / "hpa.yaml"))
            if added is not None and added["added"]:
                (directory / "surge.yaml").write_text(adding[1].text, encoding="utf-8")
                files.append(str(directory / "surge.yaml"))
        if simreport.can_plot():
            report.plot(
                before, after, directory / "tune.png", args.slo_latency, split if holdout else None
            )
            files.append(str(directory / "tune.png"))
        else:
            notes.append("no tune.png: matplotlib is not installed (the [tools] extra)")
    except OSError as err:
        print(f"surge tune: cannot write {err.filename}: {err.strerror}", file=sys.stderr)
        return 1
    if args.output == "json":
        import json

        out.write(json.dumps(document_out, indent=2) + "\n")
    else:
        diff = report.spec_diff(document, tuned)
        report.print_text(
            document_out, columns, diff, [*notes, f"written: {', '.join(files)}"], out
        )
    return 0 if met else 1


def _forecast_problem(
    args: TuneOptions,
    reactive: Any,
    traffic: Any,
    start: float,
    split: float,
) -> tuple[Any, Any]:
    """The problem with the forecast metric added, and its plan (the rule, its text)."""
    from adapter.rules import ConfigError
    from autoscaler.simulation.timeline import parse_queries
    from autoscaler.simulation.traffic import TraceTraffic
    from autoscaler.tune import forecast, search

    query = args.forecast_query
    if query is None and args.prometheus_url:
        query = parse_queries(args.query or []).get("qps")
    try:
        plan = forecast.plan(
            reactive.document,
            reactive.capacity,
            reactive.settings.ready_delay_s,
            args.slo_latency,
            args.forecast_seasonality or "auto",
            query,
            args.forecast_lead,
        )
    except ConfigError as err:  # a flag's value the rule refuses: named as the flag
        field, _, problem = err.problems[0].partition("forecastRules[0].")[2].partition(": ")
        flag = {"seasonality": "--forecast-seasonality", "lead": "--forecast-lead"}
        where = flag.get(field, "--forecast")
        raise forecast.ForecastError(f"{where}: {problem or err.problems[0]}") from None
    trace = isinstance(traffic, TraceTraffic)
    since = traffic.start if trace else -math.inf
    if trace:
        forecast.check_length(plan.rule, since, split)
    signals = forecast.Signals(plan.rule, traffic.qps, start, since)
    problem = forecast.problem(reactive, plan, signals, reactive.new_source)
    search.check_capacity(problem)
    return problem, plan


def _forecast_target(document: dict[str, Any], name: str) -> str | None:
    for metric in document["spec"].get("metrics") or ():
        if metric["type"] == "Object" and metric["object"]["metric"]["name"] == name:
            return str(metric["object"]["target"]["averageValue"])
    return None


def _forecast_changes(
    before: dict[str, Any], after: dict[str, Any], lead_s: float
) -> list[dict[str, Any]]:
    """The tuned fields, and the forecast metric added as one change (its last metric),
    with its rule's lead."""
    from autoscaler.tune import space

    metrics = after["spec"]["metrics"]
    without = {**after, "spec": {**after["spec"], "metrics": metrics[:-1]}}
    return [
        *space.changes(before, without),
        {
            "field": f"spec.metrics[{len(metrics) - 1}]",
            "before": None,
            "after": metrics[-1],
            "forecast": {"leadSeconds": lead_s, "rules": "surge.yaml"},
        },
    ]


def _both(run: Any, part: Any, start: float, split: float, end: float, holdout: bool) -> Any:
    out = {"tuningDays": part(run, start, split).as_json()}
    if holdout:
        out["heldOut"] = part(run, split, end).as_json()
    return out


def _forecast_notes(added: dict[str, Any] | None) -> list[str]:
    from adapter.go.durations import format_duration

    if added is None:
        return []
    mine, other = added["withForecast"], added["reactive"]
    key = "heldOut" if "heldOut" in mine else "tuningDays"
    where = "held-out days" if key == "heldOut" else "tuning days"
    a, b = mine[key], other[key]
    versus = (
        f"on the {where}: {a['podHours']:.1f} pod-hours at {a['attainment']:.2%} with the "
        f"forecast, {b['podHours']:.1f} at {b['attainment']:.2%} tuned without it "
        f"({(a['podHours'] / b['podHours'] - 1) if b['podHours'] else 0:+.1%})"
    )
    if not added["added"]:
        return [
            f"forecast metric {added['metric']} not added: it did not save pod-hours on the "
            f"tuning days; {versus}"
        ]
    return [
        f"forecast metric {added['metric']} added (Object, the Deployment's QPS ahead by "
        f"{format_duration(added['leadSeconds'])}): target AverageValue "
        f"{added['targetAverageValue']} a pod; {versus}; its rule is in surge.yaml: "
        "serve it with `surge serve --forecast-config surge.yaml`"
    ]


def _check(args: TuneOptions) -> None:
    if sum(bool(t) for t in (args.scenario, args.traffic, args.prometheus_url)) != 1:
        raise TuneError("give one of --scenario NAME, --traffic FILE, --prometheus-url URL")
    if not 0 < args.slo_attainment <= 1:
        raise TuneError("--slo-attainment must be above 0 and at most 1 (0.99 is 99%)")
    if args.slo_latency <= 0:
        raise TuneError("--slo-latency must be positive")
    if args.holdout_days < 0:
        raise TuneError("--holdout-days cannot be negative")
    if not args.forecast:
        given = [
            flag
            for flag, value in (
                ("--forecast-seasonality", args.forecast_seasonality),
                ("--forecast-lead", args.forecast_lead),
                ("--forecast-query", args.forecast_query),
            )
            if value is not None
        ]
        if given:
            raise TuneError(f"{given[0]} needs --forecast")
    elif args.forecast_lead is not None and args.forecast_lead <= 0:
        raise TuneError("--forecast-lead must be positive")


def _behavior_path(changes: list[dict[str, Any]]) -> list[str]:
    """Why an empty behavior is a change: said wherever it is shown."""
    if {"field": "spec.behavior", "before": None, "after": {}} not in changes:
        return []
    return [
        "behavior: {} holds Kubernetes' default rules (the API server writes them in); it moves "
        "the HPA to the controller's behavior path, which does not scale up to the highest "
        "recommendation of the last 5 minutes as the path without behavior does."
    ]


def _notes(
    result: Any, problem: Any, changes: list[dict[str, Any]], met: bool, args: TuneOptions
) -> list[str]:
    stopped = sum(1 for o in result.outcomes if o.stopped)
    where = (
        "searched on the hardest tuning day, then held to the objective over all of them"
        if result.screened
        else "searched on the whole traffic"
    )
    lines = [
        f"{len(result.outcomes)} candidates simulated ({stopped} stopped early once they "
        f"could not win); {where}"
    ]
    lines += _behavior_path(changes)
    if not met:
        spec = problem.document["spec"]
        best = result.closest
        lines.append(
            f"NOT MET: p99 <= {args.slo_latency:g} s for {args.slo_attainment:.2%} of the "
            f"time cannot be reached within maxReplicas {spec['maxReplicas']}: the best "
            f"attainable found is {best.attainment:.2%}, with every target at "
            f"{min(best.knobs.factors, default=1):.2f}x. Raise maxReplicas yourself if the "
            "cost is acceptable; tune does not, and writes no hpa.yaml."
        )
    return lines


def _yaml_comments(document: dict[str, Any]) -> list[str]:
    before, after = document["before"], document["after"]
    return [
        "Tuned by `surge tune`; review before applying (kubectl apply -f hpa.yaml).",
        f"Objective: p99 <= {document['slo']['latencySeconds']:g} s for "
        f"{document['slo']['attainment']:.2%} of the time.",
        f"Tuning days: {before['podHours']:.1f} -> {after['podHours']:.1f} pod-hours, "
        f"attainment {before['attainment']:.2%} -> {after['attainment']:.2%}.",
        *(
            [
                f"The metric {added['metric']} is a forecast: Surge serves it from surge.yaml "
                "(surge serve --forecast-config surge.yaml)."
            ]
            if (added := document.get("forecast")) and added["added"]
            else []
        ),
        *_behavior_path(document["changes"]),
    ]
