"""metav1.LabelSelector as the HPA controller sees it: converted to a Selector, and printed.

The controller's messages print a metric's selector with Go's `%+v`, which calls the
generated String() of the protobuf type; users compare those messages with
`kubectl describe hpa`, so the printed form must be Go's, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apiservice.selectors import Selector, SelectorError, parse_selector

_OPERATORS = {"In": "in", "NotIn": "notin"}


@dataclass(frozen=True)
class LabelSelectorRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    """metav1.LabelSelector; matchLabels and matchExpressions AND together."""

    match_labels: Mapping[str, str]
    match_expressions: Sequence[LabelSelectorRequirement] = ()


def as_selector(selector: LabelSelector | None) -> Selector:
    """metav1.LabelSelectorAsSelector; raises SelectorError when a requirement is invalid."""
    if selector is None:
        return Selector()
    parts = [f"{key}={value}" for key, value in selector.match_labels.items()]
    for req in selector.match_expressions:
        if req.operator in _OPERATORS:
            if not req.values:
                raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
            parts.append(f"{req.key} {_OPERATORS[req.operator]} ({','.join(req.values)})")
        elif req.operator == "Exists":
            parts.append(req.key)
        elif req.operator == "DoesNotExist":
            parts.append(f"!{req.key}")
        else:
            raise SelectorError(f'"{req.operator}" is not a valid label selector operator')
    return parse_selector(",".join(parts))


def go_string(selector: LabelSelector | None) -> str:
    """The generated LabelSelector.String(), which `%+v` prints: `nil` for no selector."""
    if selector is None:
        return "nil"
    labels = "".join(f"{k}: {selector.match_labels[k]}," for k in sorted(selector.match_labels))
    expressions = "".join(
        f"LabelSelectorRequirement{{Key:{r.key},Operator:{r.operator},"
        f"Values:[{' '.join(r.values)}],}},"
        for r in selector.match_expressions
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}"
    )
