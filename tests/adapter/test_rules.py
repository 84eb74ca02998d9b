"""The PA config file: strict loading into dataclasses, and every problem with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.config import AdapterConfig, DiscoveryRule, NameMapping, RegexFilter, ResourceMapping
from adapter.rules import ConfigError, check_text, load_config, parse_config, read_file
from apiservice.provider import GroupResource

CONFIGS = Path(__file__).parent / "configs"


NO_QUERY = (
    "no metricsQuery: its metrics are listed but every request for them answers 404 "
    '(prometheus-adapter logs "empty query produced by metrics query template")'
)


def problems(text: str) -> list[str]:
    """What `surge check` prints: errors, then warnings."""
    check = check_text(text, "c.yaml")
    return check.errors + check.warning_lines


def test_pa_default_rules_load_into_dataclasses() -> None:
    config = load_config(str(CONFIGS / "pa-default.yaml"))
    assert len(config.rules) == 6
    assert config.external_rules == []
    first = config.rules[0]
    assert first == DiscoveryRule(
        series_query='{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}',
        series_filters=[],
        resources=ResourceMapping(
            overrides={
                "namespace": GroupResource("", "namespace"),
                "pod": GroupResource("", "pod"),
            }
        ),
        name=NameMapping(matches="^container_(.*)_seconds_total$"),
        metrics_query=(
            'sum(rate(<<.Series>>{<<.LabelMatchers>>,container!="POD"}[1m])) by (<<.GroupBy>>)'
        ),
        line=4,
        where="rules[0]",
        lines=first.lines,
    )
    assert first.line_of("name.matches") == 9
    assert first.line_of("resources.overrides.pod") == 8
    assert config.rules[1].series_filters == [RegexFilter(is_not="^container_.*_seconds_total$")]
    assert config.rules[3].resources == ResourceMapping(template="kube_<<.Resource>>")
    rules = config.resource_rules
    assert rules is not None
    assert rules.window == 60.0
    assert rules.cpu.container_label == "kube_container"
    assert rules.memory.resources.overrides["instance"] == GroupResource("", "node")
    assert "id='/'" in rules.cpu.node_query


def test_pa_deploy_resource_rules_load() -> None:
    config = load_config(str(CONFIGS / "resource-rules.yaml"))
    assert config.rules == []
    rules = config.resource_rules
    assert rules is not None
    assert rules.window == 300.0
    assert rules.cpu.container_query.startswith("sum by (<<.GroupBy>>) (\n  irate (")
    assert set(rules.memory.resources.overrides) == {"node", "namespace", "pod"}


def test_pa_sample_rules_load() -> None:
    config = load_config(str(CONFIGS / "pa-sample.yaml"))
    assert [r.name for r in config.rules][3] == NameMapping(as_="cheesy_goodness")
    assert config.rules[3].resources.overrides == {"brand": GroupResource("cheese.io", "brand")}
    assert [r.resources.namespaced for r in config.external_rules] == [None, False]
    assert config.external_rules[0].where == "externalRules[0]"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "~\n", "{}\n"])
def test_an_empty_config_is_valid(text: str) -> None:
    assert parse_config(text, "c.yaml") == AdapterConfig(source="c.yaml")


def test_only_the_first_document_counts_as_yaml_v2_reads_it() -> None:
    config = parse_config("rules: []\n---\nnot: [valid, config\n", "c.yaml")
    assert config.rules == []


def test_scalars_decode_into_string_fields_as_written() -> None:
    config = parse_config(
        "rules:\n- seriesQuery: 12\n  name: {as: true}\n  metricsQuery: 'x'\n", "c.yaml"
    )
    assert config.rules[0].series_query == "12"
    assert config.rules[0].name.as_ == "true"


def test_null_sections_are_zero_values() -> None:
    config = parse_config(
        "rules:\n- seriesQuery: x\n  seriesFilters:\n  resources:\n  name:\n  metricsQuery: y\n"
        "externalRules:\nresourceRules:\n",
        "c.yaml",
    )
    assert config.rules[0].series_filters == []
    assert config.rules[0].resources == ResourceMapping()
    assert config.rules[0].name == NameMapping()
    assert config.resource_rules is None


def test_yaml_merge_keys_and_anchors() -> None:
    text = (
        "x-defaults: &defaults\n"
        "  resources: {overrides: {pod: {resource: pod}}}\n"
        "  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n"
        "rules:\n"
        "- <<: *defaults\n"
        "  seriesQuery: a\n"
    )
    # PA is strict: the anchor's holder is an unknown top-level field.
    assert problems(text) == ['c.yaml:1: unknown field "x-defaults"']
    text = (
        "rules:\n"
        "- &first\n"
        "  seriesQuery: a\n"
        "  resources: {overrides: {pod: {resource: pod}}}\n"
        "  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n"
        "- <<: *first\n"
        "  seriesQuery: b\n"
    )
    config = parse_config(text, "c.yaml")
    assert [r.series_query for r in config.rules] == ["a", "b"]
    assert config.rules[1].resources == config.rules[0].resources
    assert config.rules[1].metrics_query == config.rules[0].metrics_query


def test_broken_config_reports_every_problem_with_its_line() -> None:
    path = str(CONFIGS / "broken.yaml")
    f = f"{path}:"
    expected = [
        f + '4: rules[0]: unknown field "seriesQeury" (did you mean "seriesQuery"?)',
        f + "6: rules[1].seriesQuery: expected a string, got a list",
        f + "10: rules[2].seriesFilters[0]: cannot have both an `is` and an `isNot` "
        "expression in a single filter",
        f + "12: rules[2].seriesFilters[1]: must have either an `is` or an `isNot` expression",
        f + '13: rules[2].seriesFilters[2]: unable to compile series filter "(?=lookahead)": '
        "error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
        f + "17: rules[3].name.as: must specify an 'as' value for name matcher "
        '"^(.*)_(.*)_total$"',
        f + "21: rules[4].resources.template: unable to generate label format from template: "
        "must include at least `<<.Resource>>`",
        f + '23: rules[4].resources.overrides.pod: missing required field "resource"',
        f + "24: rules[4].resources.namespaced: expected true or false, got a string",
        f + "25: rules[4].metricsQuery: unable to parse metrics query template: "
        "template: metrics-query:1: bad character U+003E '>'",
        f + "28: rules[6].metricsQuery: the template fails on every request: "
        'template: metrics-query:1:2: executing "metrics-query" at <.Nope>: '
        "can't evaluate field Nope in type naming.queryTemplateArgs",
        f + '31: rules[6].name: duplicate key "matches" (first at line 30)',
        f + "34: externalRules[0].metricsQuery: the template fails on every request: "
        'template: metrics-query:1:10: executing "metrics-query" at <index .GroupBySlice 0>: '
        "error calling index: index out of range: 0",
        f + '36: resourceRules: missing required field "memory"',
        f + '37: resourceRules.cpu: missing required field "nodeQuery"',
        f + "37: resourceRules.cpu: resources: needs a template or overrides naming pods, "
        "namespaces and nodes",
        f + '39: resourceRules.window: unknown unit " minutes" in duration "5 minutes"',
    ]
    check = check_text(read_file(path), path)
    assert check.errors == expected
    assert check.warning_lines == [f + "26: warning: rules[5]: " + NO_QUERY]
    # prometheus-adapter starts on what fails only at query time: so does Surge
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).splitlines() == [e for e in expected if "fails on every request" not in e]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n", ["c.yaml:1: expected a mapping at the top level, got a list"]),
        ("just text\n", ["c.yaml:1: expected a mapping at the top level, got a string"]),
        ("rules: 5\n", ["c.yaml:1: rules: expected a list, got a number"]),
        ("rules: {}\n", ["c.yaml:1: rules: expected a list, got a mapping"]),
        ("rules:\n- 3\n", ["c.yaml:2: rules[0]: expected a mapping, got a number"]),
        ("rules: []\nrules: []\n", ['c.yaml:2: duplicate key "rules" (first at line 1)']),
        ("rule: []\n", ['c.yaml:1: unknown field "rule" (did you mean "rules"?)']),
        ("metricsQuery: x\n", ['c.yaml:1: unknown field "metricsQuery"']),
        ("rules:\n- seriesQuery: x\n", ["c.yaml:2: warning: rules[0]: " + NO_QUERY]),
        (
            "rules:\n- metricsQuery: x\n",
            ['c.yaml:2: rules[0]: missing required field "seriesQuery"'],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: '   '\n",
            ["c.yaml:2: warning: rules[0]: " + NO_QUERY],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: {a: b}\n",
            ["c.yaml:3: rules[0].metricsQuery: expected a string, got a mapping"],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: y\n  seriesFilters: {is: a}\n",
            ["c.yaml:4: rules[0].seriesFilters: expected a list, got a mapping"],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: y\n  seriesFilters: [{is: a, isnt: b}]\n",
            ['c.yaml:4: rules[0].seriesFilters[0]: unknown field "isnt" (did you mean "isNot"?)'],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: y\n  name: {matches: '(a'}\n",
            [
                "c.yaml:4: rules[0].name.matches: unable to compile series name match expression "
                '"(a": error parsing regexp: missing closing ): `(a`'
            ],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: y\n  resources:\n"
            "    overrides: {pod: {resource: pod, version: v1}}\n",
            ['c.yaml:5: rules[0].resources.overrides.pod: unknown field "version"'],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: y\n  resources: {template: 'x_<<.Foo>>'}\n",
            [
                "c.yaml:4: rules[0].resources.template: unable to generate label format from "
                "template: unable to convert label template to matcher: template: "
                'resource-label:1:4: executing "resource-label" at <.Foo>: '
                "can't evaluate field Foo in type schema.GroupResource"
            ],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: y\n"
            "  resources: {template: '<<.Resource>>('}\n",
            [
                "c.yaml:4: rules[0].resources.template: unable to generate label format from "
                "template: unable to convert label template to matcher: error parsing regexp: "
                "missing closing ): `^(?P<resource>.+?)($`"
            ],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: '<<if .GroupBy>><<end>>'\n",
            ["c.yaml:3: rules[0].metricsQuery: the template renders an empty query"],
        ),
        (
            "resourceRules:\n  cpu: {containerQuery: a, nodeQuery: b, resources: {template: "
            "'<<.Resource>>'}}\n  memory: {containerQuery: a, nodeQuery: b, resources: "
            "{template: '<<.Resource>>'}}\n  window: 1.5m\n",
            ['c.yaml:4: resourceRules.window: unknown unit "." in duration "1.5m"'],
        ),
        (
            "rules:\n- seriesQuery: x\n  metricsQuery: y\n\tname: z\n",
            [
                "c.yaml:4: invalid YAML: found character '\\t' that cannot start any token "
                "(while scanning for the next token)"
            ],
        ),
        (
            "rules:\n- <<: 5\n  seriesQuery: x\n",
            [
                "c.yaml:2: rules[0]: invalid YAML merge: expected a mapping or list of mappings "
                "for merging, but found scalar"
            ],
        ),
        ("rules:\n- <<: [*a]\n", ["c.yaml:2: invalid YAML: found undefined alias 'a'"]),
        ("rules: []\n\x00\n", ["c.yaml:2: invalid YAML: unacceptable character #x0000"]),
        (
            'rules:\n- seriesQuery: "a"b"\n',
            [
                "c.yaml:2: invalid YAML: expected <block end>, but found '<scalar>' "
                "(while parsing a block mapping)"
            ],
        ),
    ],
)
def test_problems(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_templates_are_checked_with_the_inputs_of_their_kind() -> None:
    """`index .GroupBySlice 0` works for custom metrics (one group-by label) only."""
    query = "'max by (<<index .GroupBySlice 0>>) (<<.Series>>)'"
    config = parse_config(f"rules:\n- seriesQuery: x\n  metricsQuery: {query}\n", "c.yaml")
    assert len(config.rules) == 1
    assert len(problems(f"externalRules:\n- seriesQuery: x\n  metricsQuery: {query}\n")) == 1


def test_unreadable_files_are_one_problem(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"rules: []\n# caf\xe9\n")
    for path, problem in (
        (tmp_path / "missing.yaml", "No such file or directory"),
        (tmp_path, "Is a directory"),
        (latin1, "not UTF-8 (invalid continuation byte)"),
    ):
        with pytest.raises(ConfigError) as err:
            read_file(str(path))
        assert err.value.problems == [f"{path}: unable to read the config file: {problem}"]


def test_load_config_returns_the_source() -> None:
    path = str(CONFIGS / "rich.yaml")
    assert load_config(path).source == path


UNBALANCED = """\
rules:
- seriesQuery: 'http_requests_waiting{namespace!="",pod!=""}'
  resources: {template: <<.Resource>>}
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>} by (<<.GroupBy>>)'
"""


def test_rendered_queries_are_parsed_as_promql_yet_load_as_prometheus_adapter_loads_them() -> None:
    assert problems(UNBALANCED) == [
        "c.yaml:4: rules[0].metricsQuery: not valid PromQL once rendered (unclosed left "
        'parenthesis): sum(surge_check_series_total{namespace="default",pod="surge-check-pod"} '
        "by (pod)"
    ]
    assert len(parse_config(UNBALANCED, "c.yaml").rules) == 1  # it fails at query time


@pytest.mark.parametrize(
    ("series_query", "expected"),
    [
        ("'up{job=\"a\"'", "not valid PromQL (unexpected end of input inside braces)"),
        ("'sum(up)'", "not a series selector (`name{label=...}`), as match[] needs"),
    ],
)
def test_series_queries_must_be_selectors(series_query: str, expected: str) -> None:
    text = f"rules:\n- seriesQuery: {series_query}\n  metricsQuery: 'sum(<<.Series>>)'\n"
    assert problems(text) == [f"c.yaml:2: rules[0].seriesQuery: {expected}"]


def test_a_rule_without_metrics_query_is_a_warning_not_an_error() -> None:
    text = "rules:\n- seriesQuery: 'gpu_utilisation'\n  resources: {template: <<.Resource>>}\n"
    check = check_text(text, "c.yaml")
    assert check.errors == [] and check.config is not None
    assert check.warning_lines == ["c.yaml:2: warning: rules[0]: " + NO_QUERY]
