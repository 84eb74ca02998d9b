"""Go (flags) and Prometheus (resourceRules.window) durations, with Go's error texts."""

from __future__ import annotations

import pytest

from adapter.go.durations import (
    DurationError,
    format_duration,
    parse_duration,
    parse_prometheus_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("15s", 15.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("1h2m3.5s", 3723.5),
        (".5s", 0.5),
        ("5.s", 5.0),
        ("300us", 0.0003),
        ("300µs", 0.0003),
        ("300μs", 0.0003),
        ("250ns", 2.5e-7),
        ("0", 0.0),
        ("-1m", -60.0),
        ("+2s", 2.0),
        ("1m1m", 120.0),  # Go accepts repeated units
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("5", 'time: missing unit in duration "5"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("ten seconds", 'time: invalid duration "ten seconds"'),
        ("-", 'time: invalid duration "-"'),
        (".s", 'time: invalid duration ".s"'),
        ("9999999999h", 'time: invalid duration "9999999999h"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError) as err:
        parse_duration(text)
    assert str(err.value) == message
    assert isinstance(err.value, ValueError)  # what argparse type functions catch


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("2w", 1209600.0),
        ("1y", 31536000.0),
        ("100ms", 0.1),
        ("0", 0.0),
        ("1d2h", 93600.0),
    ],
)
def test_parse_prometheus_duration(text: str, seconds: float) -> None:
    assert parse_prometheus_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration string"),
        ("1.5m", 'unknown unit "." in duration "1.5m"'),  # no fractions
        ("30m1h", 'not a valid duration string: "30m1h"'),  # units biggest first
        ("5x", 'unknown unit "x" in duration "5x"'),
        ("5", 'not a valid duration string: "5"'),
        ("-5m", 'not a valid duration string: "-5m"'),
    ],
)
def test_parse_prometheus_duration_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError, match="^" + message.replace(".", r"\.") + "$"):
        parse_prometheus_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (1.5, "1.5s"),
        (90, "1m30s"),
        (5400, "1h30m0s"),
        (0.0003, "300µs"),
        (2.5e-7, "250ns"),
        (-60, "-1m0s"),
        (3723.004, "1h2m3.004s"),
    ],
)
def test_format_duration_is_go_duration_string(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
