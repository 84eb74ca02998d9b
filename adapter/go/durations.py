"""Durations as Kubernetes and prometheus-adapter write them.

Flags take Go durations (time.ParseDuration: `500ms`, `15s`, `1h30m`, `1.5h`), as
prometheus-adapter's and Kubernetes' flags do. The config file's `resourceRules.window` is
a Prometheus duration (model.ParseDuration: `5m`, `1h30m`, `1d`, no fractions), because
that is the type prometheus-adapter decodes it into.
"""

from __future__ import annotations

from adapter.go.fmt import quote

_NS_PER_S = 1_000_000_000
_MAX = 1 << 63  # time.Duration is an int64 count of nanoseconds

_GO_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": _NS_PER_S,
    "m": 60 * _NS_PER_S,
    "h": 3600 * _NS_PER_S,
}

# Prometheus' units, biggest first; a duration must use them in this order.
_PROM_UNITS = {
    "y": 365 * 24 * 3600 * _NS_PER_S,
    "w": 7 * 24 * 3600 * _NS_PER_S,
    "d": 24 * 3600 * _NS_PER_S,
    "h": 3600 * _NS_PER_S,
    "m": 60 * _NS_PER_S,
    "s": _NS_PER_S,
    "ms": 1_000_000,
}


class DurationError(ValueError):
    """A duration that does not parse; the message is Go's, word for word."""


def _leading_digits(s: str) -> tuple[str, str]:
    i = 0
    while i < len(s) and s[i].isascii() and s[i].isdigit():
        i += 1
    return s[:i], s[i:]


def parse_duration_ns(text: str) -> int:
    """time.ParseDuration: a signed sequence of decimal numbers, each with a unit suffix."""
    invalid = DurationError(f"time: invalid duration {quote(text)}")
    s = text
    negative = False
    if s[:1] in ("-", "+"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or (s[0].isascii() and s[0].isdigit())):
            raise invalid
        whole, s = _leading_digits(s)
        fraction = ""
        has_fraction = False
        if s[:1] == ".":
            fraction, s = _leading_digits(s[1:])
            has_fraction = bool(fraction)
        if not whole and not has_fraction:
            raise invalid
        i = 0
        while i < len(s) and s[i] != "." and not (s[i].isascii() and s[i].isdigit()):
            i += 1
        if i == 0:
            raise DurationError(f"time: missing unit in duration {quote(text)}")
        unit_name, s = s[:i], s[i:]
        unit = _GO_UNITS.get(unit_name)
        if unit is None:
            raise DurationError(f"time: unknown unit {quote(unit_name)} in duration {quote(text)}")
        value = int(whole or "0")
        if value > _MAX // unit:
            raise invalid
        value *= unit
        if has_fraction:
            # Go keeps the fraction's digits while they fit in an int64, then scales.
            digits = fraction
            while len(digits) > 1 and int(digits) >= _MAX:
                digits = digits[:-1]
            value += int(int(digits) * (unit / 10 ** len(digits)))
            if value > _MAX:
                raise invalid
        total += value
        if total > _MAX:
            raise invalid
    if negative:
        return -total
    if total > _MAX - 1:
        raise invalid
    return total


def parse_duration(text: str) -> float:
    """A Go duration in seconds (for flags and timers)."""
    return parse_duration_ns(text) / _NS_PER_S


def parse_prometheus_duration(text: str) -> float:
    """model.ParseDuration in seconds: `[0-9]+` + unit, units from y down to ms, in order."""
    if text == "0":
        return 0.0
    if text == "":
        raise DurationError("empty duration string")
    invalid = DurationError(f"not a valid duration string: {quote(text)}")
    s = text
    total = 0
    last = -1
    order = list(_PROM_UNITS)
    while s:
        digits, s = _leading_digits(s)
        if not digits:
            raise invalid
        i = 0
        while i < len(s) and not (s[i].isascii() and s[i].isdigit()):
            i += 1
        if i == 0:
            raise invalid
        unit_name, s = s[:i], s[i:]
        if unit_name not in _PROM_UNITS:
            raise DurationError(f"unknown unit {quote(unit_name)} in duration {quote(text)}")
        position = order.index(unit_name)
        if position <= last:
            raise invalid
        last = position
        unit = _PROM_UNITS[unit_name]
        value = int(digits)
        if value > _MAX // unit:
            raise DurationError("duration out of range")
        total += value * unit
        if total > _MAX - 1:
            raise DurationError("duration out of range")
    return total / _NS_PER_S


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """Go's fmtFrac: `.digits` with trailing zeros dropped, and the integer part."""
    digits = []
    printed = False
    for _ in range(precision):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        value //= 10
    text = "." + "".join(reversed(digits)) if printed else ""
    return text, value


def format_duration(seconds: float) -> str:
    """time.Duration.String: `1h30m0s`, `1.5s`, `500ms`, `0s`; for help texts and logs."""
    ns = round(seconds * _NS_PER_S)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < _NS_PER_S:
        for unit, scale, precision in (("ns", 1, 0), ("µs", 1_000, 3), ("ms", 1_000_000, 6)):
            if u < scale * 1000:
                frac, whole = _fraction(u, precision)
                return f"{sign}{whole}{frac}{unit}"
    frac, whole_seconds = _fraction(u, 9)
    text = f"{whole_seconds % 60}{frac}s"
    minutes = whole_seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text
