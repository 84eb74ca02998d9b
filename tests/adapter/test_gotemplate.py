"""Go text/template with `<<`/`>>`: the language PA's metricsQuery and label templates use."""

from __future__ import annotations

import pytest

from adapter.go.fmt import GoStruct
from adapter.go.template import TemplateError, parse

ARGS = GoStruct(
    "naming.queryTemplateArgs",
    {
        "Series": "http_requests_total",
        "LabelMatchers": 'namespace="somens",pod=~"pod1|pod2"',
        "LabelValuesByName": {"namespace": "somens", "pod": "pod1|pod2"},
        "GroupBy": "pod",
        "GroupBySlice": ["pod"],
    },
)
EXTERNAL = GoStruct(
    "naming.queryTemplateArgs",
    {
        "Series": "queue_depth",
        "LabelMatchers": "",
        "LabelValuesByName": {},
        "GroupBy": "",
        "GroupBySlice": [],
    },
)


def render(text: str, data: object = ARGS) -> str:
    return parse(text).execute(data)


@pytest.mark.parametrize(
    ("template", "out"),
    [
        # PA's documented templates (docs/config.md, docs/sample-config.yaml)
        (
            'sum(rate(<<.Series>>{<<.LabelMatchers>>,container!="POD"}[2m])) by (<<.GroupBy>>)',
            'sum(rate(http_requests_total{namespace="somens",pod=~"pod1|pod2",container!="POD"}'
            "[2m])) by (pod)",
        ),
        ('count(cheddar{sharp="true"})', 'count(cheddar{sharp="true"})'),
        (
            "sum(<<.Series>>{<<.LabelMatchers>>}) by (name)",
            'sum(http_requests_total{namespace="somens",pod=~"pod1|pod2"}) by (name)',
        ),
        # fields, maps, slices
        ("<<.GroupBySlice>>", "[pod]"),
        ("<<.LabelValuesByName>>", "map[namespace:somens pod:pod1|pod2]"),
        ("<<.LabelValuesByName.pod>>", "pod1|pod2"),
        ("<<.LabelValuesByName.missing>>", "<no value>"),
        ('<<index .LabelValuesByName "pod">>', "pod1|pod2"),
        ('[<<index .LabelValuesByName "missing">>]', "[]"),  # index gives the zero value
        ("<<index .GroupBySlice 0>>", "pod"),
        (
            "<<.>>",
            '{http_requests_total namespace="somens",pod=~"pod1|pod2" '
            "map[namespace:somens pod:pod1|pod2] pod [pod]}",
        ),
        ("<<$.Series>>", "http_requests_total"),
        # control structures
        ("<<range .GroupBySlice>>[<<.>>]<<end>>", "[pod]"),
        ("<<range $i, $v := .GroupBySlice>><<$i>>=<<$v>><<end>>", "0=pod"),
        ("<<range $v := .GroupBySlice>><<$v>><<end>>", "pod"),
        (
            "<<range $k, $v := .LabelValuesByName>><<$k>>:<<$v>>;<<end>>",
            "namespace:somens;pod:pod1|pod2;",
        ),
        ("<<range .LabelValuesByName>><<.>>,<<end>>", "somens,pod1|pod2,"),
        ("<<range 3>><<.>><<end>>", "012"),
        ("<<range .LabelValuesByName.missing>>x<<else>>none<<end>>", "none"),
        ("<<range $i, $v := .GroupBySlice>><<if $i>>,<<end>><<$v>><<end>>", "pod"),
        ('<<range (slice "abcde" 1 3 | len | print "2" | len)>>x<<end>>', "xx"),
        ("<<range .GroupBySlice>>a<<break>>b<<end>>", "a"),
        ("<<range $x := .GroupBySlice>>a<<continue>>b<<end>>", "a"),
        ("<<if .GroupBy>>by <<.GroupBy>><<else>>total<<end>>", "by pod"),
        ('<<if eq .GroupBy "node">>N<<else if eq .GroupBy "pod">>P<<else>>O<<end>>', "P"),
        ("<<with .GroupBySlice>><<index . 0>><<else>>none<<end>>", "pod"),
        ("<<with .LabelValuesByName.missing>>x<<else with .GroupBy>><<.>><<end>>", "pod"),
        # variables
        ('<<$x := "a">><<$x = "b">><<$x>>', "b"),
        ("<<$x := 1>><<if true>><<$x := 2>><<$x>><<end>><<$x>>", "21"),
        # trim markers and comments
        ("a  <<- .GroupBy ->>  b", "apodb"),
        ("a <<- /* gone */ ->> b", "ab"),
        ("<<.GroupBy | >>", "pod"),  # Go ignores a trailing pipe
        ("a<</* comment */>>b", "ab"),
        ("sum by (\n  <<- .GroupBy ->>\n)", "sum by (pod)"),
        ("<<-3>>", "-3"),  # no space after the dash: a number, not a trim marker
        # pipelines and builtins
        ("<<.Series | len>>", "19"),
        ("<<len .GroupBySlice>>", "1"),
        (
            '<<printf "%s{%s}" .Series .LabelMatchers>>',
            'http_requests_total{namespace="somens",pod=~"pod1|pod2"}',
        ),
        ('<<printf "%q %d %v %5.1f" .GroupBy 3 .GroupBySlice 2.25>>', '"pod" 3 [pod]   2.2'),
        ('<<print 1 2 "a" "b" 3>>', "1 2ab3"),
        ("<<println .GroupBy>>", "pod\n"),
        ('<<and 1 0 2>> <<and 1 2>> <<or 0 "" "z">> <<or 0 "">>', "0 2 z "),
        ("<<not 0>> <<not .GroupBy>>", "true false"),
        (
            '<<eq .GroupBy "x" "pod">> <<ne 1 2>> <<lt 1 2>> <<le 2 2>> <<gt "b" "a">> <<ge 1 2>>',
            "true true true true true false",
        ),
        ("<<slice .Series 0 4>> <<slice .GroupBySlice 1>>", "http []"),
        ('<<html "<a&b>">> <<urlquery "a b/c">> <<js "it\'s">>', "&lt;a&amp;b&gt; a+b%2Fc it\\'s"),
        ("<<(index .GroupBySlice 0)>>", "pod"),
        ("<<(.LabelValuesByName).pod>>", "pod1|pod2"),
        # literals
        ("<<1.5>> <<1e6>> <<0x1F>> <<017>> <<1_000>> <<'a'>> <<-2>>", "1.5 1e+06 31 15 1000 97 -2"),
        ('<<"tab\\tq\\"">>|<<`raw\\t`>>', 'tab\tq"|raw\\t'),
        ("<<true>> <<false>>", "true false"),
    ],
)
def test_renders_as_go(template: str, out: str) -> None:
    assert render(template) == out


def test_external_arguments_have_an_empty_group_by() -> None:
    assert render("sum(<<.Series>>{<<.LabelMatchers>>}) by (name)", EXTERNAL) == (
        "sum(queue_depth{}) by (name)"
    )
    assert render("<<.GroupBySlice>>|<<.GroupBy>>|<<.LabelValuesByName>>", EXTERNAL) == "[]||map[]"


def test_fields_lists_every_field_the_template_reads() -> None:
    template = parse('<<.Series>><<if .GroupBy>><<index $.LabelValuesByName "pod">><<end>>')
    assert template.fields == {"Series", "GroupBy", "LabelValuesByName"}
    assert "LabelValuesByName" not in parse("<<.Series>>{<<.LabelMatchers>>}").fields


def test_label_template_is_executed_with_a_group_resource() -> None:
    data = GoStruct("schema.GroupResource", {"Group": "apps", "Resource": "deployment"})
    assert render("kube_<<.Group>>_<<.Resource>>", data) == "kube_apps_deployment"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("<<foo>>", 'template: t:1: function "foo" not defined'),
        ("<<if>>x<<end>>", "template: t:1: missing value for if"),
        ("<<end>>", "template: t:1: unexpected {{end}}"),
        ("<<else>>", "template: t:1: unexpected {{else}}"),
        ("<<range .X>>", "template: t:1: unexpected EOF"),
        ("<<.Series", "template: t:1: unclosed action"),
        ("<<(.Series>>", "template: t:1: unclosed left paren"),
        ("<<.Series)>>", "template: t:1: unexpected right paren"),
        ("<<$y>>", 'template: t:1: undefined variable "$y"'),
        ("<<break>>", "template: t:1: {{break}} outside {{range}}"),
        ('<<"a" | "b">>', "template: t:1: non executable command in pipeline stage 2"),
        ("<<3x>>", 'template: t:1: bad number syntax: "3x"'),
        ('<<"abc>>', "template: t:1: unterminated quoted string"),
        ("<</* x >>", "template: t:1: unclosed comment"),
        ("<<.A#>>", "template: t:1: bad character U+0023 '#'"),
        ("<<range $a, $b, $c := .X>><<end>>", "template: t:1: too many declarations in range"),
        ("<<if $a, $b := .X>><<end>>", "template: t:1: too many declarations in if"),
        ("<<true.X>>", 'template: t:1: unexpected . after term "true"'),
        ("a\n<<>>", "template: t:2: missing value for command"),
        (
            "<<-/* x */>>",
            'template: t:1: illegal number syntax: "-"',
        ),  # no space: not a trim marker
        ('<<define "x">>y<<end>>', "template: t:1: {{define}} is not supported by Surge"),
        ('<<template "x">>', "template: t:1: {{template}} is not supported by Surge"),
    ],
)
def test_parse_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        parse(template, "t")
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("template", "data", "where", "context", "message"),
    [
        (
            "<<.Foo>>",
            ARGS,
            "1:2",
            ".Foo",
            "can't evaluate field Foo in type naming.queryTemplateArgs",
        ),
        (
            "<<index .GroupBySlice 0>>",
            EXTERNAL,
            "1:2",
            "index .GroupBySlice 0",
            "error calling index: index out of range: 0",
        ),
        ("ab\n<<.GroupBy.X>>", ARGS, "2:2", ".GroupBy.X", "can't evaluate field X in type string"),
        (
            "<<.Series 1>>",
            ARGS,
            "1:2",
            ".Series",
            "Series has arguments but cannot be invoked as function",
        ),
        ("<<nil>>", ARGS, "1:2", "nil", "nil is not a command"),
        (
            "<<index>>",
            ARGS,
            "1:2",
            "index",
            "wrong number of args for index: want at least 1 got 0",
        ),
        ("<<not 1 2>>", ARGS, "1:2", "not", "wrong number of args for not: want 1 got 2"),
        ("<<printf 3>>", ARGS, "1:2", "printf 3", "wrong type for value; expected string; got int"),
        (
            '<<lt 1 "a">>',
            ARGS,
            "1:2",
            'lt 1 "a"',
            "error calling lt: incompatible types for comparison",
        ),
        ("<<eq 1>>", ARGS, "1:2", "eq 1", "error calling eq: missing argument for comparison"),
        ("<<len 3>>", ARGS, "1:2", "len 3", "error calling len: len of type int"),
        (
            "<<range .Series>><<end>>",
            ARGS,
            "1:8",
            ".Series",
            "range can't iterate over http_requests_total",
        ),
        (
            "<<not .LabelValuesByName.x>>",
            ARGS,
            "1:6",
            ".LabelValuesByName.x",
            "invalid value; expected reflect.Value",
        ),
        ("<<$x = 1>>", ARGS, "1:7", "1", "undefined variable: $x"),
    ],
)
def test_exec_errors(template: str, data: object, where: str, context: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        parse(template, "t").execute(data)
    assert str(err.value) == f'template: t:{where}: executing "t" at <{context}>: {message}'
