"""`surge tune --forecast`: the search may add a forecast metric to the HPA.

The metric is an `Object` metric on the HPA's own Deployment with an `AverageValue` target
(the load one pod should carry), computed in every simulated run with the server's model
(autoscaler.simulation.forecast) from the simulated Deployment's QPS. Its rule is written as
`surge serve --forecast-config` reads it, and parsed back from that text, so `surge simulate
--config` on the written file runs what tune ran. The search is tune's own (targets,
minReplicas, behavior) over the HPA with the forecast metric added, its target what one
ready pod serves with p99 within the objective (from the capacity model: at the forecast's
peak there are the pods it needs); the cheaper of that and the reactive result over the
tuning days is recommended.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapter.forecast.model import DAY_S
from adapter.forecast.rules import HPA_SYNC_S, ForecastRule, parse_forecast_config
from autoscaler.simulation.forecast import ForecastingSource
from autoscaler.simulation.scenario import CapacityModel
from autoscaler.simulation.simulate import SYNC_PERIOD_S, Reading, Source
from autoscaler.tune import search

DEFAULT_QUERY = 'sum(rate(http_requests_total{{namespace="{namespace}"}}[2m]))'


class ForecastError(ValueError):
    """A forecast that cannot be tuned on this traffic; one line, exit 2."""


def metric_name(document: Mapping[str, Any]) -> str:
    """`<deployment>_qps_forecast`, the Deployment's name as a metric name."""
    target = document["spec"]["scaleTargetRef"]["name"]
    return re.sub(r"[^A-Za-z0-9_]", "_", target) + "_qps_forecast"


def _duration(seconds: float) -> str:
    """A Prometheus duration that parses back to exactly `seconds`."""
    whole = round(seconds)
    return f"{whole}s" if whole == seconds else f"{round(seconds * 1000)}ms"


def rules_text(
    document: Mapping[str, Any], lead_s: float, seasonality: str, query: str | None
) -> str:
    """The forecast rule tune uses, as `--forecast-config` reads it (`DIR/surge.yaml`)."""
    metadata = document["metadata"]
    namespace = metadata.get("namespace", "default")
    ref = document["spec"]["scaleTargetRef"]
    promql = query or DEFAULT_QUERY.format(namespace=namespace)
    lines = [
        "# Forecast rules written by `surge tune --forecast`: serve them with",
        "# `surge serve --forecast-config surge.yaml`, beside hpa.yaml.",
    ]
    if query is None:
        lines.append("# The query is a guess: make it your Deployment's total QPS (any replicas).")
    lines += [
        "forecastRules:",
        f"- name: {metric_name(document)}",
        f"  query: {_quoted(promql)}",
        f"  namespace: {namespace}",
        "  object:",
        f"    apiVersion: {ref.get('apiVersion', 'apps/v1')}",
        f"    kind: {ref['kind']}",
        f"    name: {ref['name']}",
        f"  lead: {_duration(lead_s)}",
    ]
    if seasonality != "auto":
        lines.append(f"  seasonality: {seasonality}")
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_rule(text: str) -> ForecastRule:
    return parse_forecast_config(text, "surge.yaml").rules[0]


def learning_s(rule: ForecastRule) -> float:
    """The history a rule's first forecast needs: a given season and an hour (a
    twenty-fourth of a short one), or two days to detect a daily one."""
    if rule.period_s is None:
        return 2 * DAY_S
    return rule.period_s + max(3 * rule.step_s, min(3600.0, rule.period_s / 24))


def per_pod_load(capacity: CapacityModel, slo_latency_s: float) -> float:
    """The most QPS one ready pod serves in steady state with p99 within the objective:
    the forecast target the search starts from."""
    low, high = 0.0, 1.0
    while capacity.pod_load(high).p99_seconds <= slo_latency_s and high < 1e6:
        low, high = high, high * 2
    for _ in range(40):
        mid = (low + high) / 2
        if capacity.pod_load(mid).p99_seconds <= slo_latency_s:
            low = mid
        else:
            high = mid
    return max(low, 1e-3)


def with_metric(document: Mapping[str, Any], name: str, average_value: str) -> dict[str, Any]:
    """The HPA with the forecast metric added after its own (the HPA takes the max)."""
    out = copy.deepcopy(dict(document))
    ref = out["spec"]["scaleTargetRef"]
    out["spec"].setdefault("metrics", []).append(
        {
            "type": "Object",
            "object": {
                "metric": {"name": name},
                "describedObject": {
                    "apiVersion": ref.get("apiVersion", "apps/v1"),
                    "kind": ref["kind"],
                    "name": ref["name"],
                },
                "target": {"type": "AverageValue", "averageValue": average_value},
            },
        }
    )
    return out


@dataclass
class _Traffic:
    """The Deployment's QPS alone: all a forecast rule reads in a simulation."""

    qps: Callable[[float], float]
    description: str = "traffic"

    def read(self, now: float, ready: int) -> Reading:
        return Reading({}, self.qps(now))


@dataclass
class Signals:
    """The forecast metric at each sync of runs from `start`, computed once for every
    candidate: in a simulation it depends on the traffic alone, never on the HPA. It is
    computed in sync order by the simulation's ForecastingSource, so each value is the one a
    fresh run from `start` (`surge simulate --config`) computes."""

    rule: ForecastRule
    qps: Callable[[float], float]
    start: float
    since: float
    values: list[float] = field(default_factory=list)
    _source: ForecastingSource = field(init=False)

    def __post_init__(self) -> None:
        self._source = ForecastingSource(_Traffic(self.qps), (self.rule,), self.qps, self.since)

    def at(self, now: float) -> float:
        index = round((now - self.start) / SYNC_PERIOD_S)
        if index < 0 or abs(self.start + index * SYNC_PERIOD_S - now) > 1e-6:
            raise ValueError(f"{now} is not a sync of the runs from {self.start}")
        while len(self.values) <= index:
            t = self.start + len(self.values) * SYNC_PERIOD_S
            self.values.append(self._source.read(t, 0).signals[self.rule.name])
        return self.values[index]


@dataclass
class WithForecast:
    """A run's source plus the forecast metric."""

    inner: Source
    signals: Signals

    @property
    def description(self) -> str:
        return self.inner.description

    def read(self, now: float, ready: int) -> Reading:
        reading = self.inner.read(now, ready)
        signals = {**reading.signals, self.signals.rule.name: self.signals.at(now)}
        return Reading(signals, reading.qps, reading.p99_seconds, reading.load)


@dataclass(frozen=True)
class Plan:
    """The forecast tune adds: its rule (as written to surge.yaml) and first target."""

    text: str
    rule: ForecastRule
    first_target: float


def plan(
    document: Mapping[str, Any],
    capacity: CapacityModel,
    ready_delay_s: float,
    slo_latency_s: float,
    seasonality: str,
    query: str | None,
    lead_s: float | None = None,
) -> Plan:
    lead = ready_delay_s + 2 * HPA_SYNC_S if lead_s is None else lead_s
    text = rules_text(document, lead, seasonality, query)
    return Plan(text, parse_rule(text), per_pod_load(capacity, slo_latency_s))


def check_length(rule: ForecastRule, first: float, split: float) -> None:
    """The forecast must learn its season before the tuning days end, and then be used."""
    learn = learning_s(rule)
    season = rule.period_s or DAY_S
    if split - first < learn + season:
        raise ForecastError(
            f"--forecast: the traffic tuned on (before any held-out days) covers "
            f"{(split - first) / 86400:.2f} days; a forecast learns its season from "
            f"{learn / 86400:.2f} days of it and needs one more season ({season / 86400:.2f} "
            "days) to be tuned on: give a longer trace"
        )


def problem(
    reactive: search.Problem, forecast: Plan, signals: Signals, new_inner: Callable[[], Source]
) -> search.Problem:
    """Tune's problem for the HPA with the forecast metric added at its first target."""
    from autoscaler.tune.space import quantity

    document = with_metric(reactive.document, forecast.rule.name, quantity(forecast.first_target))
    return search.Problem(
        document,
        reactive.source,
        lambda: WithForecast(new_inner(), signals),
        reactive.settings,
        reactive.capacity,
        reactive.slo_latency_s,
        reactive.slo_attainment,
        reactive.keep | {forecast.rule.name},  # at what a pod serves within the objective
        day_s=reactive.day_s,
        utc_offset_hours=reactive.utc_offset_hours,
        forecasts=frozenset({forecast.rule.name}),
    )


@dataclass(frozen=True)
class Choice:
    """Both searches' results; `forecast` is recommended when it is cheaper."""

    reactive: search.Tuned
    forecast: search.Tuned

    @property
    def uses_forecast(self) -> bool:
        r, f = self.reactive.result.best, self.forecast.result.best
        if f is None:
            return False
        return r is None or (f.pod_hours or math.inf) < (r.pod_hours or math.inf)

    @property
    def chosen(self) -> search.Tuned:
        return self.forecast if self.uses_forecast else self.reactive


def tune(
    reactive: search.Problem,
    with_forecast: search.Problem,
    start: float,
    end: float,
    holdout_s: float,
    advance: Callable[[], None] = lambda: None,
) -> Choice:
    """Tune without and with the forecast metric; the "before" is the HPA as applied."""
    plain = search.tune_and_hold_out(reactive, start, end, holdout_s, advance)
    split = end - holdout_s
    result = search.tune(with_forecast, plain.before, start, split, advance)
    knobs = (result.best or result.closest).knobs
    after = with_forecast.run(knobs, start, end)
    return Choice(plain, search.Tuned(plain.before, after, result, split))
