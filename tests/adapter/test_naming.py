"""MetricNamer against PA's own test tables and documented examples, and the semantics doc."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.config import DiscoveryRule, NameMapping, RegexFilter, ResourceMapping
from adapter.naming import MetricNamer, QueryError, RuleError, namer_problems
from adapter.promql import UnsupportedOperator
from adapter.resources import BUILTIN, APIResource, ResourceMapper
from adapter.rules import load_config
from apiservice.provider import GroupResource
from apiservice.selectors import parse_selector

CONFIGS = Path(__file__).parent / "configs"
EVERYTHING = parse_selector("")
BUILTIN_MAPPER = ResourceMapper(BUILTIN)

# The RESTMapper of PA's series_registry_test: core v1 plus ingresses and deployments in
# extensions/v1beta1.
PA_TEST_MAPPER = ResourceMapper(
    [
        APIResource("", "v1", "pods", "pod", "Pod", True),
        APIResource("", "v1", "services", "service", "Service", True),
        APIResource("extensions", "v1beta1", "ingresses", "ingress", "Ingress", True),
        APIResource("extensions", "v1beta1", "deployments", "deployment", "Deployment", True),
        APIResource("", "v1", "nodes", "node", "Node", False),
        APIResource("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", False),
        APIResource("", "v1", "namespaces", "namespace", "Namespace", False),
    ]
)

# PA's seriesRegistryTestSeries: series as /api/v1/series returns them.
PA_TEST_SERIES = [
    {"__name__": n, **labels}
    for n, labels in [
        (
            "container_some_time_seconds_total",
            {"pod": "somepod", "namespace": "somens", "container": "somecont"},
        ),
        (
            "container_some_count_total",
            {"pod": "somepod", "namespace": "somens", "container": "somecont"},
        ),
        (
            "container_some_usage",
            {"pod": "somepod", "namespace": "somens", "container": "somecont"},
        ),
        ("node_gigawatts", {"kube_node": "somenode"}),
        ("service_proxy_packets", {"kube_service": "somesvc", "kube_namespace": "somens"}),
        (
            "ingress_hits_total",
            {
                "kube_ingress": "someingress",
                "kube_service": "somesvc",
                "kube_pod": "backend1",
                "kube_namespace": "somens",
            },
        ),
        (
            "ingress_hits_total",
            {
                "kube_ingress": "someingress",
                "kube_service": "somesvc",
                "kube_pod": "backend2",
                "kube_namespace": "somens",
            },
        ),
        ("volume_claims_total", {"kube_persistentvolume": "somepv"}),
        (
            "work_queue_wait_seconds_total",
            {"kube_deployment": "somedep", "kube_namespace": "somens"},
        ),
        ("node_fan_seconds_total", {"kube_node": "somenode"}),
    ]
]
_CLUSTER_SCOPED = {GroupResource("", r) for r in ("namespaces", "nodes", "persistentvolumes")}
Registry = dict[tuple[GroupResource, bool, str], tuple[MetricNamer, str]]


def registry(namers: list[MetricNamer]) -> Registry:
    """PA's SetSeries: one entry per (resource, namespaced, metric); the later series wins."""
    entries: Registry = {}
    for namer in namers:
        for series in namer.filter_series(PA_TEST_SERIES):
            name = series["__name__"]
            metric = namer.metric_name_for(name)
            resources, namespaced = namer.resources_for_series(series)
            for gr in resources:
                entries[(gr, namespaced and gr not in _CLUSTER_SCOPED, metric)] = (namer, name)
    return entries


@pytest.fixture(scope="module")
def pa_registry() -> Registry:
    config = load_config(str(CONFIGS / "pa-default.yaml"))
    return registry([MetricNamer(rule, PA_TEST_MAPPER) for rule in config.rules])


def test_pa_default_rules_list_pa_metrics(pa_registry: Registry) -> None:
    core = [
        ("pods", True, "some_count"),
        ("namespaces", False, "some_count"),
        ("pods", True, "some_time"),
        ("namespaces", False, "some_time"),
        ("pods", True, "some_usage"),
        ("namespaces", False, "some_usage"),
        ("services", True, "ingress_hits"),
        ("pods", True, "ingress_hits"),
        ("namespaces", False, "ingress_hits"),
        ("services", True, "service_proxy_packets"),
        ("namespaces", False, "service_proxy_packets"),
        ("namespaces", False, "work_queue_wait"),
        ("nodes", False, "node_gigawatts"),
        ("persistentvolumes", False, "volume_claims"),
        ("nodes", False, "node_fan"),
    ]
    expected = {(GroupResource("", r), ns, m) for r, ns, m in core} | {
        (GroupResource("extensions", "ingresses"), True, "ingress_hits"),
        (GroupResource("extensions", "deployments"), True, "work_queue_wait"),
    }
    assert set(pa_registry) == expected


@pytest.mark.parametrize(
    ("resource", "namespaced", "metric", "namespace", "names", "selector", "query"),
    [
        (
            GroupResource("", "pods"),
            True,
            "some_usage",
            "somens",
            ["somepod1", "somepod2"],
            "",
            "sum(container_some_usage{"
            'namespace="somens",pod=~"somepod1|somepod2",container!="POD"}) by (pod)',
        ),
        (
            GroupResource("", "pods"),
            True,
            "some_count",
            "somens",
            ["somepod1", "somepod2"],
            "",
            "sum(rate(container_some_count_total{"
            'namespace="somens",pod=~"somepod1|somepod2",container!="POD"}[1m])) by (pod)',
        ),
        (
            GroupResource("", "pods"),
            True,
            "some_time",
            "somens",
            ["somepod1", "somepod2"],
            "",
            "sum(rate(container_some_time_seconds_total{"
            'namespace="somens",pod=~"somepod1|somepod2",container!="POD"}[1m])) by (pod)',
        ),
        (
            GroupResource("", "services"),
            True,
            "ingress_hits",
            "somens",
            ["somesvc"],
            "",
            "sum(rate(ingress_hits_total{"
            'kube_namespace="somens",kube_service="somesvc"}[1m])) by (kube_service)',
        ),
        (
            GroupResource("", "services"),
            True,
            "ingress_hits",
            "somens",
            ["somesvc"],
            "param1=value1",
            "sum(rate(ingress_hits_total{"
            'param1="value1",kube_namespace="somens",kube_service="somesvc"}[1m]))'
            " by (kube_service)",
        ),
        (
            GroupResource("extensions", "ingresses"),
            True,
            "ingress_hits",
            "somens",
            ["someingress"],
            "",
            "sum(rate(ingress_hits_total{"
            'kube_namespace="somens",kube_ingress="someingress"}[1m])) by (kube_ingress)',
        ),
        (
            GroupResource("", "pods"),
            True,
            "ingress_hits",
            "somens",
            ["somepod"],
            "",
            "sum(rate(ingress_hits_total{"
            'kube_namespace="somens",kube_pod="somepod"}[1m])) by (kube_pod)',
        ),
        (
            GroupResource("", "services"),
            True,
            "service_proxy_packets",
            "somens",
            ["somesvc"],
            "",
            "sum(service_proxy_packets{"
            'kube_namespace="somens",kube_service="somesvc"}) by (kube_service)',
        ),
        (
            GroupResource("extensions", "deployments"),
            True,
            "work_queue_wait",
            "somens",
            ["somedep"],
            "",
            "sum(rate(work_queue_wait_seconds_total{"
            'kube_namespace="somens",kube_deployment="somedep"}[1m])) by (kube_deployment)',
        ),
        (
            GroupResource("", "nodes"),
            False,
            "node_gigawatts",
            "",
            ["somenode"],
            "",
            'sum(node_gigawatts{kube_node="somenode"}) by (kube_node)',
        ),
        (
            GroupResource("", "persistentvolumes"),
            False,
            "volume_claims",
            "",
            ["somepv"],
            "",
            "sum(rate(volume_claims_total{"
            'kube_persistentvolume="somepv"}[1m])) by (kube_persistentvolume)',
        ),
        (
            GroupResource("", "nodes"),
            False,
            "node_fan",
            "",
            ["somenode"],
            "",
            'sum(rate(node_fan_seconds_total{kube_node="somenode"}[1m])) by (kube_node)',
        ),
    ],
)
def test_pa_registry_queries(
    pa_registry: Registry,
    resource: GroupResource,
    namespaced: bool,
    metric: str,
    namespace: str,
    names: list[str],
    selector: str,
    query: str,
) -> None:
    namer, series = pa_registry[(resource, namespaced, metric)]
    assert (
        namer.query_for_series(series, resource, namespace, parse_selector(selector), names)
        == query
    )


def rule(
    metrics_query: str = "<<.LabelMatchers>>",
    *,
    template: str = "",
    overrides: dict[str, GroupResource] | None = None,
    namespaced: bool | None = None,
    matches: str = "",
    as_: str = "",
    filters: list[RegexFilter] | None = None,
) -> DiscoveryRule:
    return DiscoveryRule(
        series_query="{}",
        series_filters=filters or [],
        resources=ResourceMapping(template, overrides or {}, namespaced),
        name=NameMapping(matches, as_),
        metrics_query=metrics_query,
    )


# PA's metrics_query_test uses a converter whose label is the resource's name: overrides
# that map `resource` and `namespaces` labels to those resources do the same here.
MOCK_MAPPER = ResourceMapper(
    [
        APIResource("group", "v1", "resource", "resource", "Resource", True),
        APIResource("", "v1", "namespaces", "namespace", "Namespace", False),
    ]
)
MOCK_OVERRIDES = {
    "resource": GroupResource("group", "resource"),
    "namespaces": GroupResource("", "namespaces"),
}
RESOURCE = GroupResource("group", "resource")


@pytest.mark.parametrize(
    ("template", "namespace", "selector", "names", "query"),
    [
        ("series <<.Series>>", "", "", ["x"], "series foo"),
        ("<<.LabelMatchers>>", "", "", ["bar", "baz"], 'resource=~"bar|baz"'),
        ("<<.LabelMatchers>>", "", "", ["bar"], 'resource="bar"'),
        ("<<.LabelMatchers>>", "", "metric1=value1", ["bar"], 'metric1="value1",resource="bar"'),
        ('<<index .LabelValuesByName "resource">>', "", "", ["bar"], "bar"),
        ('<<index .LabelValuesByName "resource">>', "", "", ["bar", "baz"], "bar|baz"),
        (
            '<<index .LabelValuesByName "namespaces">> <<index .LabelValuesByName "resource">>',
            "default",
            "",
            ["bar", "baz"],
            "default bar|baz",
        ),
        ("<<.GroupBy>>", "", "", ["x"], "resource"),
        ("<<.GroupBySlice>>", "", "", ["x"], "[resource]"),
        # names keep the order given (the order the Kubernetes list returned)
        ("<<.LabelMatchers>>", "ns", "", ["c", "a", "b"], 'namespaces="ns",resource=~"c|a|b"'),
    ],
)
def test_pa_build_table(
    template: str, namespace: str, selector: str, names: list[str], query: str
) -> None:
    namer = MetricNamer(rule(template, overrides=MOCK_OVERRIDES), MOCK_MAPPER)
    assert (
        namer.query_for_series("foo", RESOURCE, namespace, parse_selector(selector), names) == query
    )


@pytest.mark.parametrize(
    ("template", "namespaced", "namespace", "selector", "query"),
    [
        ("series <<.Series>>", None, "", "", "series foo"),
        ("<<.GroupBy>>|<<.GroupBySlice>>", None, "", "", "|[]"),
        (
            '<<index .LabelValuesByName "namespaces">> <<.GroupBySlice>>',
            None,
            "default",
            "",
            "default []",
        ),
        (
            '<<index .LabelValuesByName "namespaces">> <<.GroupBySlice>>',
            False,
            "default",
            "",
            " []",
        ),
        ("<<.LabelMatchers>>", None, "", "foo=bar", 'foo="bar"'),
        ("<<.LabelMatchers>>", None, "default", "foo=bar", 'foo="bar",namespaces="default"'),
        ("<<.LabelMatchers>>", False, "default", "foo=bar", 'foo="bar"'),
        ("<<.LabelMatchers>>", None, "", "foo=bar,qux in (bar,baz)", 'foo="bar",qux=~"bar|baz"'),
        ("<<.LabelValuesByName>>", None, "", "foo=bar", "map[foo:bar]"),
        ("<<.LabelValuesByName>>", None, "", "foo in (bar,baz)", "map[foo:bar|baz]"),
        ("<<.Series>>{<<.LabelMatchers>>}", False, "default", "", "foo{}"),
    ],
)
def test_pa_build_external_table(
    template: str, namespaced: bool | None, namespace: str, selector: str, query: str
) -> None:
    namer = MetricNamer(
        rule(template, overrides=MOCK_OVERRIDES, namespaced=namespaced), MOCK_MAPPER
    )
    assert namer.query_for_external("foo", namespace, parse_selector(selector)) == query


def test_render_takes_any_group_by() -> None:
    namer = MetricNamer(rule("<<.GroupBy>> <<.GroupBySlice>>"), MOCK_MAPPER)
    assert namer.render("s", [], ["foo", "bar"], {}) == "foo,bar [foo bar]"


def test_pa_docs_walkthrough_example() -> None:
    """docs/config.md: pods/http_requests_per_second for pod1 and pod2 in somens.

    The doc lists the pod matcher first; PA's code puts the namespace first.
    """
    namer = MetricNamer(
        rule(
            "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
            template="<<.Resource>>",
            matches="^(.*)_total$",
            as_="${1}_per_second",
        ),
        BUILTIN_MAPPER,
    )
    labels = {
        "__name__": "http_requests_total",
        "service": "s",
        "pod": "p",
        "ingress": "i",
        "namespace": "n",
        "verb": "GET",
    }
    assert namer.metric_name_for("http_requests_total") == "http_requests_per_second"
    resources, namespaced = namer.resources_for_series(labels)
    assert resources == [
        GroupResource("", "services"),
        GroupResource("", "pods"),
        GroupResource("", "namespaces"),
    ]
    assert namespaced
    query = namer.query_for_series(
        "http_requests_total", GroupResource("", "pods"), "somens", EVERYTHING, ["pod1", "pod2"]
    )
    assert (
        query == 'sum(rate(http_requests_total{namespace="somens",pod=~"pod1|pod2"}[2m])) by (pod)'
    )


# -- filters and names -------------------------------------------------------------------


def names_kept(namer: MetricNamer, *names: str) -> list[str]:
    return [s["__name__"] for s in namer.filter_series([{"__name__": n} for n in names])]


def test_filters_is_and_is_not_and_name_matches() -> None:
    namer = MetricNamer(
        rule(
            filters=[RegexFilter(is_="^container_"), RegexFilter(is_not="_seconds_total$")],
            matches="_total$",
        ),
        BUILTIN_MAPPER,
    )
    kept = names_kept(
        namer,
        "container_cpu_seconds_total",
        "container_net_bytes_total",
        "container_memory_bytes",
        "node_net_bytes_total",
    )
    assert kept == ["container_net_bytes_total"]


def test_filters_are_unanchored() -> None:
    namer = MetricNamer(rule(filters=[RegexFilter(is_="requests")]), BUILTIN_MAPPER)
    assert names_kept(namer, "http_requests_total", "errors_total") == ["http_requests_total"]


def test_no_filters_keep_everything() -> None:
    namer = MetricNamer(rule(), BUILTIN_MAPPER)
    assert names_kept(namer, "a", "b") == ["a", "b"]
    assert namer.metric_name_for("anything") == "anything"  # empty matches is .*, as $0


@pytest.mark.parametrize(
    ("matches", "as_", "series", "name"),
    [
        ("", "", "up", "up"),
        ("^container_(.*)_seconds_total$", "", "container_cpu_seconds_total", "cpu"),  # $1
        ("_total$", "", "http_requests_total", "_total"),  # $0 is the match, not the series
        ("^(.*)_total$", "${1}_per_second", "http_requests_total", "http_requests_per_second"),
        ("^(.*)_total$", "$1_per_second", "http_requests_total", ""),  # reads group 1_per_second
        ("^(a)_(b)$", "$2_$1", "a_b", "a"),  # `$2_` names group "2_": empty
        ("^(a)_(b)$", "${2}_${1}", "a_b", "b_a"),
        ("", "cheesy_goodness", "cheddar", "cheesy_goodness"),
        ("requests", "", "http_requests_total", "requests"),  # the match, not the series
    ],
)
def test_metric_names(matches: str, as_: str, series: str, name: str) -> None:
    assert (
        MetricNamer(rule(matches=matches, as_=as_), BUILTIN_MAPPER).metric_name_for(series) == name
    )


def test_several_groups_need_an_as() -> None:
    with pytest.raises(RuleError, match="must specify an 'as' value") as err:
        MetricNamer(rule(matches="^(a)(b)$"), BUILTIN_MAPPER)
    assert err.value.key == "name.as"


def test_a_series_that_does_not_match_cannot_be_named() -> None:
    namer = MetricNamer(rule(matches="^(.*)_total$"), BUILTIN_MAPPER)
    with pytest.raises(ValueError, match='series name "up" did not match expected pattern'):
        namer.metric_name_for("up")


# -- resources and labels -----------------------------------------------------------------


def test_overrides_are_normalized_through_the_mapper() -> None:
    namer = MetricNamer(
        rule(
            overrides={
                "kube_pod": GroupResource("", "pod"),
                "app": GroupResource("apps", "deployment"),
                "ns": GroupResource("", "ns"),  # a short name
            }
        ),
        BUILTIN_MAPPER,
    )
    resources, _ = namer.resources_for_series({"kube_pod": "p", "app": "a", "ns": "n"})
    assert resources == [
        GroupResource("", "pods"),
        GroupResource("apps", "deployments"),
        GroupResource("", "namespaces"),
    ]
    assert namer.label_for_resource(GroupResource("apps", "deployments")) == "app"
    assert namer.namespace_label() == "ns"


def test_an_override_the_cluster_does_not_serve_is_refused() -> None:
    with pytest.raises(RuleError) as err:
        MetricNamer(rule(overrides={"brand": GroupResource("cheese.io", "brand")}), BUILTIN_MAPPER)
    assert err.value.key == "resources.overrides.brand"
    assert "cheese.io" in err.value.message


def test_template_labels_name_every_served_resource() -> None:
    namer = MetricNamer(rule(template="<<.Resource>>"), BUILTIN_MAPPER)
    labels = {
        "__name__": "x",
        "namespace": "n",
        "pod": "p",
        "service": "s",
        "deployment": "d",
        "node": "n1",
        "job": "j",  # batch/v1 jobs: PA counts it too
        "container": "c",
        "instance": "i",
        "le": "0.5",
    }
    resources, namespaced = namer.resources_for_series(labels)
    assert resources == [
        GroupResource("", "namespaces"),
        GroupResource("", "pods"),
        GroupResource("", "services"),
        GroupResource("apps", "deployments"),
        GroupResource("", "nodes"),
        GroupResource("batch", "jobs"),
    ]
    assert namespaced


def test_template_with_group_and_prefix() -> None:
    namer = MetricNamer(rule(template="kube_<<.Group>>_<<.Resource>>"), BUILTIN_MAPPER)
    resources, _ = namer.resources_for_series({"kube_apps_deployment": "d", "kube_deployment": "x"})
    assert resources == [GroupResource("apps", "deployments")]
    assert namer.label_for_resource(GroupResource("apps", "deployments")) == "kube_apps_deployment"
    assert namer.label_for_resource(GroupResource("", "pods")) == "kube__pod"


def test_label_template_sanitizes_the_group() -> None:
    mapper = ResourceMapper(
        [APIResource("cheese.example-io", "v1", "brands", "brand", "Brand", True)]
    )
    namer = MetricNamer(rule(template="<<.Group>>_<<.Resource>>"), mapper)
    assert (
        namer.label_for_resource(GroupResource("cheese.example-io", "brands"))
        == "cheese_example_io_brand"
    )


def test_an_override_wins_over_the_template() -> None:
    namer = MetricNamer(
        rule(template="<<.Resource>>", overrides={"k8s_pod": GroupResource("", "pod")}),
        BUILTIN_MAPPER,
    )
    assert namer.label_for_resource(GroupResource("", "pods")) == "k8s_pod"
    assert namer.label_for_resource(GroupResource("", "services")) == "service"


def test_no_label_form_is_a_query_error() -> None:
    """PA: "no generic resource label form specified for this metric" (a 500 for externals)."""
    namer = MetricNamer(rule(overrides={"pod": GroupResource("", "pod")}), BUILTIN_MAPPER)
    with pytest.raises(QueryError, match="no generic resource label form specified"):
        namer.label_for_resource(GroupResource("", "services"))
    with pytest.raises(QueryError, match="unable to convert resource namespaces into label"):
        namer.query_for_external("queue_depth", "default", EVERYTHING)


@pytest.mark.parametrize(
    ("template", "labels", "namespaced"),
    [
        # overrides only: every label that is not namespace/node/pv makes it namespaced
        ("", {"namespace": "n"}, False),
        ("", {"namespace": "n", "node": "x"}, False),
        ("", {"namespace": "n", "instance": "i"}, True),  # maps to nothing, still counts
        ("", {"node": "x", "pod": "p"}, True),
        # a template: a label of its form that names no resource is skipped whole
        ("<<.Resource>>", {"namespace": "n", "instance": "i"}, False),
        ("<<.Resource>>", {"node": "x", "persistentvolume": "v"}, False),
        ("kube_<<.Resource>>", {"kube_node": "x", "instance": "i"}, True),  # not its form
        ("kube_<<.Resource>>", {"kube_node": "x", "kube_thing": "i"}, False),
    ],
)
def test_namespaced_flag_as_pa_computes_it(
    template: str, labels: dict[str, str], namespaced: bool
) -> None:
    overrides = {
        "namespace": GroupResource("", "namespace"),
        "node": GroupResource("", "node"),
        "pod": GroupResource("", "pod"),
    }
    namer = MetricNamer(
        rule(template=template, overrides=None if template else overrides), BUILTIN_MAPPER
    )
    assert namer.resources_for_series({"__name__": "m", **labels})[1] is namespaced


# -- queries -------------------------------------------------------------------------------


def pods_namer(template: str = "<<.LabelMatchers>>") -> MetricNamer:
    return MetricNamer(
        rule(
            template,
            overrides={
                "namespace": GroupResource("", "namespace"),
                "pod": GroupResource("", "pod"),
            },
        ),
        BUILTIN_MAPPER,
    )


PODS = GroupResource("", "pods")


def test_matcher_order_selector_then_namespace_then_resource() -> None:
    query = pods_namer().query_for_series(
        "m", PODS, "ns", parse_selector("zone in (b,a),app=web,!canary,tier"), ["p2", "p1"]
    )
    assert query == 'app="web",canary="",tier!="",zone=~"a|b",namespace="ns",pod=~"p2|p1"'


def test_label_values_by_name_holds_every_matcher_label() -> None:
    namer = pods_namer("<<.LabelValuesByName>>")
    query = namer.query_for_series(
        "m", PODS, "ns", parse_selector("verb in (GET,PUT),code"), ["a", "b"]
    )
    assert query == "map[code: namespace:ns pod:a|b verb:GET|PUT]"


def test_values_are_quoted_as_go_quotes_them() -> None:
    query = pods_namer().query_for_series("m", PODS, "", EVERYTHING, ['we"ird\\pod'])
    assert query == r'pod="we\"ird\\pod"'


@pytest.mark.parametrize("selector", ["replicas>1", "replicas<1"])
def test_gt_lt_selectors_are_refused(selector: str) -> None:
    with pytest.raises(UnsupportedOperator):
        pods_namer().query_for_series("m", PODS, "ns", parse_selector(selector), ["p"])
    with pytest.raises(QueryError):
        pods_namer().query_for_external("m", "ns", parse_selector(selector))


def test_an_empty_rendered_query_is_refused() -> None:
    namer = pods_namer("<<if .LabelValuesByName.nothing>>x<<end>>")
    with pytest.raises(QueryError, match=r"^empty query produced by metrics query template$"):
        namer.query_for_series("m", PODS, "ns", EVERYTHING, ["p"])


def test_a_failing_template_is_a_query_error() -> None:
    namer = pods_namer("max by (<<index .GroupBySlice 0>>) (<<.Series>>)")
    assert namer.query_for_series("m", PODS, "ns", EVERYTHING, ["p"]) == "max by (pod) (m)"
    with pytest.raises(QueryError, match="index out of range: 0"):
        namer.query_for_external("m", "ns", EVERYTHING)


def test_widened_parts_leave_out_only_the_resource_matcher() -> None:
    namer = pods_namer("sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)")
    narrow = namer.custom_query_parts(PODS, "ns", parse_selector("verb=GET"), ["a", "b"])
    wide = namer.custom_query_parts(PODS, "ns", parse_selector("verb=GET"), None)
    assert narrow.matchers == ('verb="GET"', 'namespace="ns"', 'pod=~"a|b"')
    assert wide.matchers == narrow.matchers[:-1]
    assert wide.group_by == narrow.group_by == ("pod",)
    assert dict(wide.values_by_name) == {"verb": "GET", "namespace": "ns"}
    rendered = namer.render("m", wide.matchers, wide.group_by, wide.values_by_name)
    assert rendered == 'sum(m{verb="GET",namespace="ns"}) by (pod)'
    assert namer.widenable
    assert not pods_namer('<<index .LabelValuesByName "pod">>').widenable


def test_single_name_uses_equality_even_with_regex_characters() -> None:
    assert pods_namer().query_for_series("m", PODS, "", EVERYTHING, ["a.b"]) == 'pod="a.b"'
    assert pods_namer().query_for_series("m", PODS, "", EVERYTHING, ["a.b", "c"]) == 'pod=~"a.b|c"'


def test_namer_problems_name_unserved_overrides_with_their_line() -> None:
    path = str(CONFIGS / "pa-sample.yaml")
    config = load_config(path)
    assert namer_problems(config, BUILTIN_MAPPER) == [
        f"{path}:31: rules[3].resources.overrides.brand: unable to normalize group-resource "
        'brand.cheese.io: the cluster serves no resource "brand" in group "cheese.io"'
    ]
    cheese = ResourceMapper(
        [*BUILTIN, APIResource("cheese.io", "v1", "brands", "brand", "Brand", True)]
    )
    assert namer_problems(config, cheese) == []
