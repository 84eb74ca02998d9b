"""Forecast rules: defaults, and every problem on one line with its line number."""

from __future__ import annotations

import pytest

from adapter.forecast.rules import (
    DEFAULT_HISTORY_S,
    DEFAULT_STEP_S,
    DescribedObject,
    parse_forecast_config,
)
from adapter.rules import ConfigError

GOOD = """\
forecastRules:
- name: ai_service_qps_forecast
  query: sum(rate(http_requests_total{namespace="ai-platform",service="ai-service"}[2m]))
  namespace: ai-platform
  object: {kind: Deployment, name: ai-service}
  readyDelay: 3m
- name: queue_forecast
  query: sum(queue_depth)
  lead: 10m
  history: 2d
  step: 10s
  seasonality: 10m
"""


def test_defaults_and_an_object_and_an_external_rule() -> None:
    config = parse_forecast_config(GOOD, "f.yaml")
    first, second = config.rules
    assert first.described == DescribedObject("apps/v1", "Deployment", "ai-service")
    assert first.lead_s == 180 + 2 * 15  # time to Ready plus two HPA syncs
    assert (first.history_s, first.step_s, first.period_s) == (
        DEFAULT_HISTORY_S,
        DEFAULT_STEP_S,
        None,
    )
    assert second.described is None and second.namespace == ""
    assert (second.lead_s, second.history_s, second.step_s, second.period_s) == (
        600,
        2 * 86400,
        10,
        600,
    )
    assert parse_forecast_config("", "f.yaml").rules == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "forecastRules:\n- query: x\n",
            'f.yaml:2: forecastRules[0]: missing required field "name"',
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n  lead: 5 minutes\n",
            'f.yaml:4: forecastRules[0].lead: unknown unit " minutes" in duration "5 minutes"',
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n  seasonality: hourly\n",
            "f.yaml:4: forecastRules[0].seasonality: 'hourly': expected auto, daily, weekly "
            "or a period like 10m",
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n  step: 7m\n",
            "f.yaml:4: forecastRules[0].step: must divide a day (e.g. 1m, 5m, 10s)",
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n  object: {kind: Deployment, name: d}\n",
            'f.yaml:2: forecastRules[0]: an Object metric needs "namespace" (its object\'s)',
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n  namespace: n\n"
            "  object: {kind: Rollout, name: d}\n",
            'f.yaml:5: forecastRules[0].object: "apiVersion" is needed for kind Rollout',
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n  history: 12h\n",
            "f.yaml:4: forecastRules[0].history: too short to hold one season (86400s) and "
            "the level window after it",
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n  step: 1s\n",
            "f.yaml:4: forecastRules[0].history: 1209600 points at a 1s step; at most 50000 "
            "(raise the step)",
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n  qurey: y\n",
            'f.yaml:4: forecastRules[0]: unknown field "qurey" (did you mean "query"?)',
        ),
        (
            "forecastrules: []\n",
            'f.yaml:1: unknown field "forecastrules" (did you mean "forecastRules"?)',
        ),
        (
            "forecastRules:\n- name: a\n  query: x\n- name: a\n  query: y\n",
            "f.yaml:4: forecastRules: a (*/external) is served twice (first at line 2)",
        ),
        ("forecastRules: [\n", "f.yaml:2: invalid YAML: expected the node content"),
    ],
)
def test_problems_are_one_line_each_with_the_line(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_forecast_config(text, "f.yaml")
    assert caught.value.problems[0].startswith(problem), caught.value.problems
