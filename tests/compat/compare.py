"""How two answers are compared: everything exactly, except each server's own "now" (its
timestamps, and the last digit of a value computed by rate() at that instant)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

# metav1.Time as Kubernetes writes it: RFC 3339, whole seconds, UTC.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NOW_TOLERANCE = timedelta(minutes=1)
PLACEHOLDER = "<now>"
# A Quantity as both servers write a metric value: an integer number of milli-units,
# with the suffix of the largest power of 1000 that divides it.
QUANTITY = re.compile(r"^(-?\d+)(m|k|M|G|T|P|E)?$")
_SCALE = {"m": 1, None: 1000, "k": 10**6, "M": 10**9, "G": 10**12, "T": 10**15, "P": 10**18}
_SCALE["E"] = 10**21


def parse(body: str, who: str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        raise AssertionError(f"{who} answered something that is not JSON: {body[:500]!r}") from None


def normalize(body: Any, now: datetime, who: str) -> Any:
    """`body` with every `timestamp` checked (metav1.Time shape, within a minute of `now`)
    and replaced by a placeholder, and a discovery list's resources sorted by name:
    prometheus-adapter lists them in Go map order, which changes from run to run."""
    if isinstance(body, list):
        return [normalize(item, now, who) for item in body]
    if not isinstance(body, dict):
        return body
    out = {}
    for key, value in body.items():
        if key == "timestamp":
            _check_timestamp(value, now, who)
            out[key] = PLACEHOLDER
        else:
            out[key] = normalize(value, now, who)
    if out.get("kind") == "APIResourceList" and isinstance(out.get("resources"), list):
        out["resources"] = sorted(out["resources"], key=lambda r: str(r.get("name")))
    return out


def _check_timestamp(value: object, now: datetime, who: str) -> None:
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        raise AssertionError(
            f"{who}: timestamp {value!r} is not RFC 3339 like 2006-01-02T15:04:05Z"
        )
    at = datetime.fromisoformat(value)
    if abs(at - now) > NOW_TOLERANCE:
        raise AssertionError(f"{who}: timestamp {value} is not within a minute of {now:%H:%M:%S}")


def dumps(body: Any) -> str:
    """The parsed body as text in its own key order, so an order difference shows."""
    return json.dumps(body, indent=1)


def resource_difference(expected: Any, got: Any) -> str:
    """For two discovery lists, which resource names only one of them has."""
    if not all(isinstance(b, dict) and b.get("kind") == "APIResourceList" for b in (expected, got)):
        return ""
    names = [{str(r.get("name")) for r in b.get("resources", [])} for b in (expected, got)]
    return (
        f"\nonly prometheus-adapter lists: {sorted(names[0] - names[1])}"
        f"\nonly Surge lists: {sorted(names[1] - names[0])}"
    )


def milli(text: object) -> int | None:
    """A value Quantity as milli-units; None when `text` is not one."""
    found = QUANTITY.match(text) if isinstance(text, str) else None
    return int(found[1]) * _SCALE[found[2]] if found else None


def canonical(milli_units: int) -> str:
    """The DecimalSI Quantity Kubernetes writes for `milli_units` milli-units."""
    if milli_units % 1000:
        return f"{milli_units}m"
    units, suffix = milli_units // 1000, ""
    for bigger in ("k", "M", "G", "T", "P", "E"):
        if units == 0 or units % 1000:
            break
        units, suffix = units // 1000, bigger
    return f"{units}{suffix}"


def forgive_rate_noise(expected: Any, got: Any) -> Any:
    """`got` with each `value` one milli-unit away from `expected`'s replaced by it, when
    `got`'s is canonical. Each server runs the query at its own now; rate() over samples
    aligned differently to that instant gives 5.9999999999 or 6.0000000001, which
    int64(v*1000) truncates to 5999m or 6. Any other difference stays."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out = {}
        for key, value in got.items():
            if key == "value":
                near = milli(expected.get(key)), milli(value)
                if None not in near and abs(near[0] - near[1]) == 1 and value == canonical(near[1]):
                    value = expected[key]
            else:
                value = forgive_rate_noise(expected.get(key), value)
            out[key] = value
        return out
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [forgive_rate_noise(e, g) for e, g in zip(expected, got, strict=True)]
    return got
