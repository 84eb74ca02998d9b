"""Which rendered queries may be widened, and what the widened query is."""

from __future__ import annotations

import pytest

from adapter.batching import NotWidenable, check_separable, widen
from adapter.naming import MetricNamer
from adapter.resources import BUILTIN, ResourceMapper
from adapter.rules import parse_config
from apiservice.provider import GroupResource
from apiservice.selectors import EVERYTHING, parse_selector

KEYS = ("namespace", "pod")


@pytest.mark.parametrize(
    "query",
    [
        "sum(x{}) by (namespace,pod)",
        'sum by (namespace, pod) (rate(x{a="b"}[5m]))',
        "histogram_quantile(0.99, sum(rate(x_bucket{}[5m])) by (le, namespace, pod))",
        "sum by (namespace,pod) (rate(a{}[5m])) / sum by (namespace,pod) (rate(b{}[5m]))",
        "rate(x{}[1m])",
        "sum without (le) (x{})",
        'max by (namespace,pod) (x{job="a,b"}) * on(namespace, pod) group_left y{}',
        "topk by (namespace, pod) (1, x{})",
        'sum(x{label="by (pod)"}) by (namespace, pod)',
    ],
)
def test_separable_queries(query: str) -> None:
    check_separable(query, KEYS)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("sum(x{})", "without by()"),
        ("sum(x{}) by (pod)", "does not keep namespace"),
        ("x{} / scalar(sum(x{}))", "scalar() mixes"),
        ("a{} / on(pod) b{}", "on(pod) matches across"),
        ("a{} / ignoring(namespace) b{}", "ignoring() drops"),
        ("sum without (pod) (x{})", "without (...) drops"),
        ('label_replace(x{}, "pod", "$1", "instance", "(.*)")', "label_replace() mixes"),
        ("absent(x{})", "absent() mixes"),
        ("count(x{}) by (namespace, pod) / count(x{})", "without by()"),
    ],
)
def test_queries_that_mix_objects_are_not_widened(query: str, why: str) -> None:
    with pytest.raises(NotWidenable, match=why.replace("(", r"\(").replace(")", r"\)")):
        check_separable(query, KEYS)


def _namer(metrics_query: str) -> MetricNamer:
    config = parse_config(
        "rules:\n"
        '- seriesQuery: \'x{namespace!="",pod!=""}\'\n'
        "  resources: {template: '<<.Resource>>'}\n"
        f"  metricsQuery: '{metrics_query}'\n",
        "test.yaml",
    )
    return MetricNamer(config.rules[0], ResourceMapper(BUILTIN))


def test_widened_query_drops_names_and_groups_by_namespace() -> None:
    namer = _namer("sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)")
    widened = widen(namer, "x", GroupResource("", "pods"), EVERYTHING, namespaced=True)
    assert widened.query == 'sum(x{namespace!="",pod!=""}) by (namespace,pod)'
    assert (widened.namespace_label, widened.resource_label) == ("namespace", "pod")


def test_widened_query_keeps_the_metric_selector_and_trailing_matchers() -> None:
    namer = _namer('max(<<.Series>>{<<.LabelMatchers>>,container!="POD"}) by (<<.GroupBy>>)')
    selector = parse_selector("container in (app,sidecar)")
    widened = widen(namer, "x", GroupResource("", "pods"), selector, namespaced=True)
    assert widened.query == (
        'max(x{container=~"app|sidecar",namespace!="",pod!="",container!="POD"}) by (namespace,pod)'
    )


def test_cluster_scoped_objects_group_by_their_own_label_only() -> None:
    namer = _namer("sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)")
    widened = widen(namer, "x", GroupResource("", "namespaces"), EVERYTHING, namespaced=False)
    assert widened.query == 'sum(x{namespace!=""}) by (namespace)'
    assert widened.namespace_label is None


def test_templates_reading_label_values_are_not_widened() -> None:
    namer = _namer('sum(<<.Series>>{pod=~"<<index .LabelValuesByName "pod">>"}) by (pod)')
    with pytest.raises(NotWidenable, match="LabelValuesByName"):
        widen(namer, "x", GroupResource("", "pods"), EVERYTHING, namespaced=True)
