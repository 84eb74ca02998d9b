"""Label matchers for metricsQuery templates, built from selectors as prometheus-adapter does.

Values are quoted with Go's %q (strconv.Quote), which PromQL's string literals accept.
Set values are joined with `|` into one regex and are NOT regex-escaped: PA passes them
through so a single `in (a.*)` value works as a regex, and Surge keeps that contract.
"""

from __future__ import annotations

from collections.abc import Iterable

from adapter.go.fmt import quote
from apiservice.selectors import Op, Requirement, Selector


class QueryError(Exception):
    """A query that cannot be built; PA answers 404 for custom and 500 for external metrics."""


class UnsupportedOperator(QueryError):
    """`<` and `>` selector requirements: Prometheus has no label matcher for them."""

    def __init__(self) -> None:
        super().__init__("operator not supported by prometheus")


def label_eq(label: str, value: str) -> str:
    return f"{label}={quote(value)}"


def label_neq(label: str, value: str) -> str:
    return f"{label}!={quote(value)}"


def label_matches(label: str, regex: str) -> str:
    return f"{label}=~{quote(regex)}"


def label_not_matches(label: str, regex: str) -> str:
    return f"{label}!~{quote(regex)}"


def matcher_for(requirement: Requirement) -> str:
    """One matcher: `=`/`==` one value -> `k="v"`, `in` -> `k=~"a|b"`, exists -> `k!=""`."""
    op, values = requirement.op, requirement.values
    if op in (Op.GREATER_THAN, Op.LESS_THAN):
        raise UnsupportedOperator()
    if not requirement.key:
        raise QueryError("label not specified")
    if op is Op.EXISTS:
        return label_neq(requirement.key, "")
    if op is Op.DOES_NOT_EXIST:
        return label_eq(requirement.key, "")
    if not values:
        raise QueryError("operator requires values")
    target = "|".join(values)
    if len(values) == 1 and op in (Op.EQUALS, Op.DOUBLE_EQUALS):
        return label_eq(requirement.key, target)
    if len(values) == 1 and op is Op.NOT_EQUALS:
        return label_neq(requirement.key, target)
    if op in (Op.EQUALS, Op.DOUBLE_EQUALS, Op.IN):
        return label_matches(requirement.key, target)
    return label_not_matches(requirement.key, target)


def selector_matchers(selector: Selector) -> tuple[list[str], dict[str, str]]:
    """Matchers in the selector's (key-sorted) order, and each label's values joined by `|`.

    The second part is the template's LabelValuesByName; exists/does-not-exist give "".
    """
    matchers: list[str] = []
    values_by_name: dict[str, str] = {}
    for requirement in selector.requirements:
        matchers.append(matcher_for(requirement))
        values_by_name[requirement.key] = "|".join(requirement.values)
    return matchers, values_by_name


def matchers_string(matchers: Iterable[str]) -> str:
    """The template's LabelMatchers: matchers joined with `,` and nothing else."""
    return ",".join(matchers)
