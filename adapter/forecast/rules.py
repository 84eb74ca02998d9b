"""Forecast rules: Surge's own config file, given by `--forecast-config`.

Not a section of the prometheus-adapter config: prometheus-adapter v0.12.0 decodes its
file strictly and refuses to start on an unknown top-level key ("field forecastRules not
found in type config.MetricsDiscoveryConfig"; tests/compat/test_forecast_config.py runs
the real binary), and one config file is meant to serve both. Problems are reported as
the PA config's are: every one, `FILE:LINE: forecastRules[i].field: message`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from adapter.go.durations import DurationError, parse_prometheus_duration
from adapter.resources import BUILTIN
from adapter.rules import _line, _Reader, read_document, read_file

HPA_SYNC_S = 15.0  # kube-controller-manager's --horizontal-pod-autoscaler-sync-period default
DEFAULT_READY_DELAY_S = 60.0
DEFAULT_HISTORY_S = 14 * 86400.0
DEFAULT_STEP_S = 300.0
MAX_HISTORY_POINTS = 50_000  # a rule's memory: 400 KB of float64 at most
SEASONS = {"daily": 86400.0, "weekly": 7 * 86400.0}
_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:.-]*$")
_KEYS = (
    "name",
    "query",
    "object",
    "namespace",
    "lead",
    "readyDelay",
    "history",
    "step",
    "seasonality",
)


@dataclass(frozen=True)
class DescribedObject:
    """The object an Object metric describes, as an HPA's `describedObject` names it."""

    api_version: str
    kind: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


@dataclass(frozen=True)
class ForecastRule:
    name: str  # the metric name served
    query: str  # the load now, replica-independent PromQL returning one series
    namespace: str  # "" for an External metric served in every namespace
    described: DescribedObject | None  # None: an External metric
    lead_s: float
    history_s: float
    step_s: float
    period_s: float | None  # None: detected from the history (daily or weekly)
    line: int = 0

    @property
    def where(self) -> str:
        kind = f"{self.described.kind}/{self.described.name}" if self.described else "external"
        return f"{self.name} ({self.namespace or '*'}/{kind})"


@dataclass(frozen=True)
class ForecastConfig:
    rules: tuple[ForecastRule, ...] = ()
    source: str = ""


def _default_api_version(kind: str) -> str | None:
    for res in BUILTIN:
        if res.kind == kind:
            return res.api_version
    return None


class _ForecastReader(_Reader):
    def duration(self, node: yaml.Node | None, path: str, default: float) -> float:
        text = self.string(node, path)
        if not text or node is None:
            return default
        try:
            value = parse_prometheus_duration(text)
        except DurationError as err:
            self.problem(_line(node), path, str(err))
            return default
        if value <= 0:
            self.problem(_line(node), path, "must be above 0")
            return default
        return value

    def forecast_config(self, node: yaml.Node | None, source: str) -> ForecastConfig:
        if node is None:
            return ForecastConfig(source=source)
        fields = self.mapping(node, "", ("forecastRules",))
        rules = [
            self.forecast_rule(n, f"forecastRules[{i}]")
            for i, n in enumerate(self.sequence(fields.get("forecastRules"), "forecastRules"))
        ]
        seen: dict[tuple[str, str, DescribedObject | None], int] = {}
        for rule in rules:
            if rule is None:
                continue
            key = (rule.name, rule.namespace, rule.described)
            if key in seen:
                self.problem(
                    rule.line,
                    "forecastRules",
                    f"{rule.where} is served twice (first at line {seen[key]})",
                )
            seen.setdefault(key, rule.line)
        return ForecastConfig(tuple(r for r in rules if r is not None), source)

    def forecast_rule(self, node: yaml.Node, where: str) -> ForecastRule | None:
        fields = self.mapping(node, where, _KEYS)
        if where in self.mistyped:
            return None
        line = _line(node)

        def at(key: str) -> int:
            return _line(fields[key]) if key in fields else line

        name = self.string(fields.get("name"), f"{where}.name")
        if not name:
            self.problem(line, where, 'missing required field "name" (the metric name served)')
        elif not _METRIC_NAME.match(name):
            self.problem(at("name"), f"{where}.name", f"{name!r} is not a metric name")
        query = self.string(fields.get("query"), f"{where}.query").strip()
        if not query:
            self.problem(line, where, 'missing required field "query" (the load, as PromQL)')
        namespace = self.string(fields.get("namespace"), f"{where}.namespace")
        described = self.described(fields.get("object"), f"{where}.object")
        if described is not None and not namespace:
            self.problem(line, where, 'an Object metric needs "namespace" (its object\'s)')
        ready = self.duration(
            fields.get("readyDelay"), f"{where}.readyDelay", DEFAULT_READY_DELAY_S
        )
        lead = self.duration(fields.get("lead"), f"{where}.lead", ready + 2 * HPA_SYNC_S)
        history = self.duration(fields.get("history"), f"{where}.history", DEFAULT_HISTORY_S)
        step = self.duration(fields.get("step"), f"{where}.step", DEFAULT_STEP_S)
        period = self.season(fields.get("seasonality"), f"{where}.seasonality")
        if 86400 % step:
            self.problem(at("step"), f"{where}.step", "must divide a day (e.g. 1m, 5m, 10s)")
        elif period is not None and (period % step or period < 4 * step):
            self.problem(
                at("seasonality"),
                f"{where}.seasonality",
                "the period must be a multiple of the step, at least 4 steps long",
            )
        if history / step > MAX_HISTORY_POINTS:
            self.problem(
                at("history" if "history" in fields else "step"),
                f"{where}.history",
                f"{history / step:.0f} points at a {step:g}s step; at most "
                f"{MAX_HISTORY_POINTS} (raise the step)",
            )
        shortest = period if period is not None else SEASONS["daily"]
        if history < shortest + max(3 * step, min(3600.0, shortest / 24)):
            self.problem(
                at("history"),
                f"{where}.history",
                f"too short to hold one season ({shortest:g}s) and the level window after it",
            )
        return ForecastRule(name, query, namespace, described, lead, history, step, period, line)

    def described(self, node: yaml.Node | None, path: str) -> DescribedObject | None:
        if node is None:
            return None
        fields = self.mapping(node, path, ("apiVersion", "kind", "name"))
        if path in self.mistyped:
            return None
        kind = self.string(fields.get("kind"), f"{path}.kind")
        name = self.string(fields.get("name"), f"{path}.name")
        api_version = self.string(fields.get("apiVersion"), f"{path}.apiVersion")
        for key, value in (("kind", kind), ("name", name)):
            if not value:
                self.problem(_line(node), path, f'missing required field "{key}"')
        if not api_version and kind:
            api_version = _default_api_version(kind) or ""
            if not api_version:
                self.problem(_line(node), path, f'"apiVersion" is needed for kind {kind}')
        return DescribedObject(api_version, kind, name)

    def season(self, node: yaml.Node | None, path: str) -> float | None:
        text = self.string(node, path)
        if not text or text == "auto" or node is None:
            return None
        if text in SEASONS:
            return SEASONS[text]
        try:
            return parse_prometheus_duration(text)
        except DurationError:
            self.problem(
                _line(node), path, f"{text!r}: expected auto, daily, weekly or a period like 10m"
            )
            return None


def parse_forecast_config(text: str, source: str = "<forecast config>") -> ForecastConfig:
    """Read forecast rules from text; raise ConfigError listing every problem."""

    def read(loader: yaml.SafeLoader, node: yaml.Node | None) -> tuple[ForecastConfig, _Reader]:
        reader = _ForecastReader(loader)
        return reader.forecast_config(node, source), reader

    return read_document(text, source, read)


def load_forecast_config(path: str) -> ForecastConfig:
    return parse_forecast_config(read_file(path), path)
