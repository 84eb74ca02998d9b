"""Widening: one query for every object of a rule, when that cannot change any answer.

prometheus-adapter renders a query per request with the objects' names in a regex. If a
rule's query keeps each object's series apart (every aggregation groups by the object's
label, nothing mixes series across objects), then dropping the name and namespace
matchers and grouping by namespace as well gives, for each object, exactly the value the
per-request query would. This module renders that widened query and decides, from the
rendered text, whether the rule qualifies. When unsure, it says no.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapter import promql
from adapter.naming import MetricNamer
from apiservice.provider import GroupResource
from apiservice.selectors import Selector

AGGREGATIONS = frozenset(
    "sum avg min max count stddev stdvar group topk bottomk limitk limit_ratio quantile "
    "count_values".split()
)
# Functions that mix or invent series regardless of grouping.
MIXERS = frozenset(
    "scalar vector absent absent_over_time label_replace label_join sort_by_label "
    "sort_by_label_desc".split()
)

_TOKEN = re.compile(
    r"""\s+|(?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)"""
    r"""|(?P<ident>[A-Za-z_:][A-Za-z0-9_:.]*)|(?P<num>[0-9][0-9a-zA-Z_.]*)"""
    r"""|(?P<op>==|!=|=~|!~|>=|<=|[-+*/%^<>=(){}\[\],@:])"""
)


class NotWidenable(Exception):
    """Why a rule falls back to per-request queries; logged once per rule."""


def tokens(query: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if match is None:
            raise NotWidenable(f"cannot read the query at {query[pos : pos + 20]!r}")
        if match.group().strip():
            out.append(match.group())
        pos = match.end()
    return out


def _closing(toks: list[str], start: int) -> int:
    """Index of the `)` matching the `(` at `start`."""
    depth = 0
    for i in range(start, len(toks)):
        if toks[i] in ("(", "{", "["):
            depth += 1
        elif toks[i] in (")", "}", "]"):
            depth -= 1
            if depth == 0:
                return i
    raise NotWidenable("unbalanced parentheses")


def _labels(toks: list[str], start: int) -> tuple[set[str], int]:
    """The label list `( a, b )` starting at `start`, and the index after it."""
    end = _closing(toks, start)
    return {t.strip("\"'`") for t in toks[start + 1 : end] if t != ","}, end + 1


def check_separable(query: str, keys: tuple[str, ...]) -> None:
    """Raise NotWidenable unless every step of `query` keeps series with different `keys`
    labels apart. Inside `{...}` only matchers appear, so braces are skipped whole."""
    toks = tokens(query)
    needed = set(keys)
    i = 0
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if tok == "{":
            i = _closing(toks, i) + 1
            continue
        if tok in MIXERS and nxt == "(":
            raise NotWidenable(f"{tok}() mixes series across objects")
        if tok in AGGREGATIONS and nxt in ("(", "by", "without"):
            _check_grouping(toks, i, needed)
        elif tok in ("on", "ignoring") and nxt == "(":
            labels, _ = _labels(toks, i + 1)
            if tok == "on" and not needed <= labels:
                raise NotWidenable(f"on({', '.join(sorted(labels))}) matches across objects")
            if tok == "ignoring" and needed & labels:
                raise NotWidenable("ignoring() drops an object label")
        i += 1


def _check_grouping(toks: list[str], i: int, needed: set[str]) -> None:
    name = toks[i]
    j = i + 1
    clause: tuple[str, set[str]] | None = None
    if toks[j] in ("by", "without"):
        labels, j = _labels(toks, j + 1)
        clause = (toks[i + 1], labels)
    if j >= len(toks) or toks[j] != "(":
        raise NotWidenable(f"cannot read the arguments of {name}")
    after = _closing(toks, j) + 1
    if clause is None and after < len(toks) and toks[after] in ("by", "without"):
        labels, _ = _labels(toks, after + 1)
        clause = (toks[after], labels)
    if clause is None:
        raise NotWidenable(f"{name}() without by() aggregates across objects")
    kind, labels = clause
    if kind == "by" and not needed <= labels:
        missing = ", ".join(sorted(needed - labels))
        raise NotWidenable(f"{name} by ({', '.join(sorted(labels))}) does not keep {missing}")
    if kind == "without" and needed & labels:
        raise NotWidenable(f"{name} without (...) drops an object label")


@dataclass(frozen=True)
class Widened:
    """A rule's query for every object at once, and the labels that identify an object."""

    query: str
    namespace_label: str | None  # None for cluster-scoped objects
    resource_label: str


def widen(
    namer: MetricNamer,
    series_name: str,
    gr: GroupResource,
    metric_selector: Selector,
    *,
    namespaced: bool,
    within: str = "",
) -> Widened:
    """Render the widened query, or raise NotWidenable saying why the rule cannot be.

    `within` names one namespace: the part of the widened query that answers it (asked
    when the whole batch fails; see adapter/engine.py)."""
    if not namer.widenable:
        raise NotWidenable("the template reads LabelValuesByName")
    resource_label = namer.label_for_resource(gr)
    namespace_label = namer.namespace_label() if namespaced else None
    if namespace_label == resource_label:
        namespace_label = None
    keys = (namespace_label, resource_label) if namespace_label else (resource_label,)
    parts = namer.custom_query_parts(gr, "", metric_selector, None)
    # In place of the namespace and name matchers, what they implied: the labels are set.
    # It also keeps `{<<.LabelMatchers>>,x}` valid when there is no other matcher.
    present = tuple(
        promql.label_eq(label, within)
        if within and label == namespace_label
        else promql.label_neq(label, "")
        for label in keys
    )
    query = namer.render(series_name, parts.matchers + present, keys, parts.values_by_name)
    check_separable(query, keys)
    return Widened(query, namespace_label, resource_label)
