"""Serializers: label selectors, RFC 3339 times, Go's JSON escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from apiservice.selectors import parse_selector
from apiservice.types import (
    UnconvertibleSelector,
    encode,
    label_selector,
    metric_value_list,
    rfc3339,
)


def expression(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": operator} | ({"values": list(values)} if values else {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b,c==d", {"matchLabels": {"a": "b", "c": "d"}}),
        ("x in (b,a)", {"matchExpressions": [expression("x", "In", "a", "b")]}),
        ("x notin ()", {"matchExpressions": [expression("x", "NotIn", "")]}),
        (
            "x,!y",
            {"matchExpressions": [expression("x", "Exists"), expression("y", "DoesNotExist")]},
        ),
        ("a=1,a=2", {"matchLabels": {"a": "2"}}),  # the later requirement wins, as in Go
    ],
)
def test_label_selector(text: str, expected: dict[str, Any]) -> None:
    assert label_selector(parse_selector(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a!=b", '"!=" is not a valid label selector operator'),
        ("a>1", '"gt" isn\'t supported in label selectors'),
        ("a<1", '"lt" isn\'t supported in label selectors'),
    ],
)
def test_label_selector_without_a_form(text: str, message: str) -> None:
    with pytest.raises(UnconvertibleSelector) as caught:
        label_selector(parse_selector(text))
    assert (caught.value.code, caught.value.reason, caught.value.message) == (500, "", message)


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (datetime(2026, 1, 1, 12, 0, 0, 999999, tzinfo=UTC), "2026-01-01T12:00:00Z"),
        (
            datetime(2026, 1, 1, 14, 30, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-01T12:30:05Z",
        ),
        (datetime(2026, 1, 1, 12, 0, 0), "2026-01-01T12:00:00Z"),  # naive: taken as UTC
    ],
)
def test_rfc3339(timestamp: datetime, text: str) -> None:
    assert rfc3339(timestamp) == text


def test_encode_escapes_as_go_does() -> None:
    text = {"k": "<a> & b \u2028\u2029 é \n\t\x01"}
    assert (
        encode(text)
        == '{"k":"\\u003ca\\u003e \\u0026 b \\u2028\\u2029 é \\n\\t\\u0001"}\n'.encode()
    )
    # each escape alone, in an ASCII body and in a wider one
    assert encode({"k": "a&b"}) == b'{"k":"a\\u0026b"}\n'
    assert encode({"k": "a>b"}) == b'{"k":"a\\u003eb"}\n'
    assert encode({"k": "é\u2029"}) == '{"k":"é\\u2029"}\n'.encode()
    assert encode({"k": "é"}) == '{"k":"é"}\n'.encode()


def test_unknown_custom_version_is_refused() -> None:
    with pytest.raises(ValueError, match="v1beta3"):
        metric_value_list([], "v1beta3")
