"""What `surge tune` may change in an HPA, and the HPA document each choice gives.

A choice (`Knobs`) is a multiplier per metric target, a minReplicas and a variant per
scaling direction of `behavior`; `apply` writes it into a copy of the HPA's own YAML
document, so the recommendation differs from what the team applied only in tuned fields.
maxReplicas is never among them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from apiservice.quantity import Quantity
from autoscaler.cases import read_scaling_rules
from autoscaler.core.behavior import generate_scale_down_rules, generate_scale_up_rules
from autoscaler.core.metrictypes import MetricSourceType

# --keep takes these, or a metric's name (its target then stays).
KEEP_WORDS = ("targets", "minReplicas", "behavior", "scaleUp", "scaleDown")
# Server-side fields an applyable manifest does not carry.
SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation")

# Behavior variants tried per direction: (name, the direction's new rules). Kubernetes'
# defaults for comparison: scale up 100% or 4 pods per 15 s, no window; scale down 100% per
# 15 s after a 300 s window.
SCALE_DOWN_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("window 60s", {"stabilizationWindowSeconds": 60}),
    ("window 120s", {"stabilizationWindowSeconds": 120}),
    ("window 600s", {"stabilizationWindowSeconds": 600}),
    (
        "window 120s, 50%/min",
        {
            "stabilizationWindowSeconds": 120,
            "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
        },
    ),
)
SCALE_UP_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "100% or 4 pods per 15s",
        {
            "stabilizationWindowSeconds": 0,
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15},
                {"type": "Pods", "value": 4, "periodSeconds": 15},
            ],
            "selectPolicy": "Max",
        },
    ),
    (
        "200% or 8 pods per 15s",
        {
            "stabilizationWindowSeconds": 0,
            "policies": [
                {"type": "Percent", "value": 200, "periodSeconds": 15},
                {"type": "Pods", "value": 8, "periodSeconds": 15},
            ],
            "selectPolicy": "Max",
        },
    ),
)
AS_IS = "as applied"


class SpaceError(ValueError):
    """A --keep word that names nothing; one line, exit 2."""


@dataclass(frozen=True)
class Target:
    """One metric's target in the document: where it is and what it says."""

    index: int
    name: str
    kind: str  # Utilization, AverageValue or Value
    value: float  # percent, or the quantity as a number


@dataclass(frozen=True)
class Knobs:
    factors: tuple[float, ...]  # per Target, the multiplier of its value as applied
    min_replicas: int
    scale_up: str = AS_IS
    scale_down: str = AS_IS

    def scaled(self, factor: float, tunable: Sequence[bool]) -> Knobs:
        """Every tunable target multiplied by `factor` more."""
        factors = tuple(
            f * factor if ok else f for f, ok in zip(self.factors, tunable, strict=True)
        )
        return replace(self, factors=factors)


def targets(document: Mapping[str, Any]) -> tuple[Target, ...]:
    """The targets of the HPA's metrics, in the spec's order."""
    out = []
    for i, metric in enumerate(document["spec"].get("metrics") or ()):
        kind = MetricSourceType(metric["type"])
        section = metric[kind.key]
        target = section["target"]
        per_resource = kind in (MetricSourceType.RESOURCE, MetricSourceType.CONTAINER_RESOURCE)
        name = section["name"] if per_resource else section["metric"]["name"]
        if target["type"] == "Utilization":
            out.append(Target(i, name, "Utilization", float(target["averageUtilization"])))
        elif target["type"] == "AverageValue":
            out.append(Target(i, name, "AverageValue", _number(target["averageValue"])))
        else:
            out.append(Target(i, name, "Value", _number(target["value"])))
    return tuple(out)


def _number(text: Any) -> float:
    """A Kubernetes quantity (already validated by the HPA reader) as a number."""
    return float(Quantity.parse(str(text)))


def quantity(value: float) -> str:
    """Three significant digits (whole numbers from 100), as kubectl prints them ("4350m")."""
    if value <= 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(value)))
    return str(Quantity(Decimal(f"{round(value, digits):.{digits}f}")))


def tunable(targets_: Sequence[Target], keep: frozenset[str]) -> tuple[bool, ...]:
    return tuple("targets" not in keep and t.name not in keep for t in targets_)


def check_keep(keep: frozenset[str], targets_: Sequence[Target]) -> None:
    names = {t.name for t in targets_}
    for word in sorted(keep):
        if word not in KEEP_WORDS and word not in names:
            raise SpaceError(
                f"--keep {word}: not one of {', '.join(KEEP_WORDS)} or a metric of the HPA "
                f"({', '.join(sorted(names))})"
            )


def apply(document: Mapping[str, Any], targets_: Sequence[Target], knobs: Knobs) -> dict[str, Any]:
    """A copy of the document with the choice written in; nothing else changes."""
    out = copy.deepcopy(dict(document))
    out.pop("status", None)
    metadata = out.get("metadata") or {}
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    spec = out["spec"]
    for target, factor in zip(targets_, knobs.factors, strict=True):
        if factor == 1.0:
            continue
        metric = spec["metrics"][target.index]
        rule = metric[MetricSourceType(metric["type"]).key]["target"]
        value = target.value * factor
        if target.kind == "Utilization":
            rule["averageUtilization"] = max(1, round(value))
        elif target.kind == "AverageValue":
            rule["averageValue"] = quantity(value)
        else:
            rule["value"] = quantity(value)
    if knobs.min_replicas != spec.get("minReplicas", 1):
        spec["minReplicas"] = knobs.min_replicas
    for direction, variant, variants in (
        ("scaleUp", knobs.scale_up, SCALE_UP_VARIANTS),
        ("scaleDown", knobs.scale_down, SCALE_DOWN_VARIANTS),
    ):
        if variant == AS_IS:
            continue
        # A behavior, even one holding only Kubernetes' defaults, moves the HPA to the
        # controller's behavior path: it stays, while a field that changes nothing goes.
        behavior = spec.setdefault("behavior", {})
        old = behavior.get(direction)
        rules = dict(variants)[variant]
        new = {**(old or {}), **copy.deepcopy(rules)}
        for key in rules:
            kept = {k: (old or {}).get(k, v) if k == key else v for k, v in new.items()}
            if old is None or key not in old:
                kept.pop(key)
            if _effect(direction, kept) == _effect(direction, new):
                new = kept
        if _effect(direction, new) != _effect(direction, old):
            behavior[direction] = new
    return out


def _effect(direction: str, rules: Any) -> tuple[Any, ...]:
    """A direction's rules as the API server defaults them: the default rules written out
    are the same rules as none."""
    given = read_scaling_rules(rules, f"spec.behavior.{direction}")
    generate = generate_scale_up_rules if direction == "scaleUp" else generate_scale_down_rules
    filled = generate(given)
    return (
        filled.stabilization_window_seconds,
        filled.select_policy,
        frozenset(filled.policies or ()),
        given.tolerance if given else None,
    )


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each field of the spec that differs: its path, and the value before and after."""
    old, new = dict(_flatten(before["spec"], "spec")), dict(_flatten(after["spec"], "spec"))
    out = []
    for path in sorted(old.keys() | new.keys(), key=_order(old, new)):
        if old.get(path) != new.get(path):
            out.append({"field": path, "before": old.get(path), "after": new.get(path)})
    return out


def _order(old: Mapping[str, Any], new: Mapping[str, Any]) -> Any:
    keys = list(old) + [k for k in new if k not in old]
    return keys.index


def _flatten(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:  # an empty one ("behavior: {}") is a value
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}")
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if path.endswith(".policies"):  # a policy list is one rule: compared whole
            yield path, value
            return
        for i, item in enumerate(value):
            yield from _flatten(item, f"{path}[{i}]")
    else:
        yield path, value
