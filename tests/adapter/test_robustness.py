"""Arbitrary input never crashes the config loader, the template engine or the regex
translator: each answers with its own error, and Go's quoting round-trips."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.go.fmt import GoStruct, quote
from adapter.go.regex import GoRegexError, compile_go
from adapter.go.template import TemplateError, parse
from adapter.rules import ConfigError, parse_config

ARGS = GoStruct(
    "naming.queryTemplateArgs",
    {
        "Series": "s",
        "LabelMatchers": 'pod="p"',
        "LabelValuesByName": {"pod": "p"},
        "GroupBy": "pod",
        "GroupBySlice": ["pod"],
    },
)
TEMPLATE_ALPHABET = st.sampled_from(
    [*"<>.$|()\"'` -,:=01aXyz\n", "<<", ">>", "if", "end", "range", "index", ".Series"]
)
YAML_PIECES = st.sampled_from(
    [
        "rules:",
        "\n",
        "- ",
        "  ",
        "seriesQuery: ",
        "metricsQuery: ",
        "name:",
        "matches: ",
        "'",
        '"',
        "<<",
        ">>",
        "{",
        "}",
        "[",
        "]",
        ":",
        "&a",
        "*a",
        "<<: ",
        "x",
        "(",
        "resources:",
        "overrides:",
        "template: ",
        "resource: pod",
        "\t",
        "#",
        "---",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(YAML_PIECES, max_size=40).map("".join))
def test_config_loader_answers_every_input(text: str) -> None:
    try:
        parse_config(text, "f.yaml")
    except ConfigError as err:
        assert err.problems
        assert all(p.startswith("f.yaml") and "\n" not in p for p in err.problems)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEMPLATE_ALPHABET, max_size=30).map("".join))
def test_templates_fail_only_with_template_errors(text: str) -> None:
    try:
        template = parse(text)
    except TemplateError as err:
        assert str(err).startswith("template: ")
        return
    try:
        template.execute(ARGS)
    except TemplateError as err:
        assert str(err).startswith("template: ")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("()[]{}?*+|^$\\.:-<>Pi,0123az_=!")), max_size=20))
def test_regexes_compile_or_fail_with_go_errors(pattern: str) -> None:
    try:
        regex = compile_go(pattern)
    except GoRegexError as err:
        assert str(err).startswith("error parsing regexp: ")
        return
    assert isinstance(regex.compiled, re.Pattern)
    assert len(regex.subexp_names) == regex.compiled.groups + 1


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_go_quote_round_trips_through_a_template_string_literal(text: str) -> None:
    assert parse("<<" + quote(text) + ">>").execute(None) == text
