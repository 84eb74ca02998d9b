"""How two answers are compared: everything exactly, except each server's own "now"."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

# metav1.Time as Kubernetes writes it: RFC 3339, whole seconds, UTC.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NOW_TOLERANCE = timedelta(minutes=1)
PLACEHOLDER = "<now>"


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
