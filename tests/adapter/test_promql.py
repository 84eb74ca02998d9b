"""Selector requirements to PromQL matchers, exactly as PA's selectMatcher/selectTargetValue."""

from __future__ import annotations

import pytest

from adapter.promql import (
    QueryError,
    UnsupportedOperator,
    matcher_for,
    matchers_string,
    selector_matchers,
)
from apiservice.selectors import Op, Requirement, parse_selector


@pytest.mark.parametrize(
    ("selector", "matcher"),
    [
        ("verb=GET", 'verb="GET"'),
        ("verb==GET", 'verb="GET"'),
        ("verb!=GET", 'verb!="GET"'),
        ("verb in (GET)", 'verb=~"GET"'),
        ("verb notin (GET)", 'verb!~"GET"'),
        ("verb in (PUT,GET,POST)", 'verb=~"GET|POST|PUT"'),  # values sorted, as labels.Parse
        ("verb notin (PUT,GET)", 'verb!~"GET|PUT"'),
        ("verb", 'verb!=""'),
        ("!verb", 'verb=""'),
        ("verb=", 'verb=""'),
        ("app.kubernetes.io/name=x", 'app.kubernetes.io/name="x"'),
        ("v in (a.b,c-d)", 'v=~"a.b|c-d"'),  # regex metacharacters pass through unescaped
    ],
)
def test_matcher_for_each_operator(selector: str, matcher: str) -> None:
    (requirement,) = parse_selector(selector).requirements
    assert matcher_for(requirement) == matcher


@pytest.mark.parametrize("selector", ["replicas>1", "replicas<3"])
def test_gt_and_lt_are_refused_as_pa_refuses_them(selector: str) -> None:
    (requirement,) = parse_selector(selector).requirements
    with pytest.raises(UnsupportedOperator, match=r"^operator not supported by prometheus$"):
        matcher_for(requirement)


def test_values_are_go_quoted() -> None:
    requirement = Requirement("path", Op.EQUALS, ('a"b\\c\n',))
    assert matcher_for(requirement) == r'path="a\"b\\c\n"'


def test_malformed_requirements_are_query_errors() -> None:
    with pytest.raises(QueryError, match="operator requires values"):
        matcher_for(Requirement("k", Op.IN, ()))
    with pytest.raises(QueryError, match="label not specified"):
        matcher_for(Requirement("", Op.EQUALS, ("v",)))


def test_selector_matchers_keep_key_order_and_join_values() -> None:
    matchers, values = selector_matchers(parse_selector("zone in (b,a),app=web,tier"))
    assert matchers == ['app="web"', 'tier!=""', 'zone=~"a|b"']
    assert values == {"app": "web", "tier": "", "zone": "a|b"}
    assert matchers_string(matchers) == 'app="web",tier!="",zone=~"a|b"'


def test_empty_selector_gives_no_matchers() -> None:
    assert selector_matchers(parse_selector("")) == ([], {})
    assert matchers_string([]) == ""
