"""Normalization of a metrics proposal: stabilization, scaling rules, min and max.

A port of the logic of horizontal.go (release 1.34): the path for HPAs without
`behavior` (downscale stabilization window, then a fixed scale-up limit of
max(2 x current, 4)) and the behavior path (stabilization windows up and down, then
Pods/Percent policies per period chosen by selectPolicy, measured against the scale
events of each period). The controller's memory is passed in and a new one returned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from autoscaler.core import conditions as c
from autoscaler.core.objects import Behavior, ScalingPolicy, ScalingRules

MAX_INT32 = 2**31 - 1
MIN_INT32 = -(2**31)
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0

DEFAULT_SCALE_UP_RULES = ScalingRules(
    stabilization_window_seconds=0,
    select_policy="Max",
    policies=(ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)),
)
# The scale-down window is left out: the controller's downscale window fills it.
DEFAULT_SCALE_DOWN_RULES = ScalingRules(
    stabilization_window_seconds=None,
    select_policy="Max",
    policies=(ScalingPolicy("Percent", 100, 15),),
)


@dataclass(frozen=True)
class Recommendation:
    replicas: int
    timestamp: datetime


@dataclass(frozen=True)
class ScaleEvent:
    replica_change: int  # absolute value
    timestamp: datetime
    outdated: bool = False


@dataclass(frozen=True)
class History:
    """The controller's in-memory state for one HPA."""

    recommendations: tuple[Recommendation, ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()


@dataclass(frozen=True)
class Rules:
    """Scaling rules with every field known."""

    stabilization_window_seconds: int
    select_policy: str
    policies: tuple[ScalingPolicy, ...]


@dataclass(frozen=True)
class Normalized:
    """The normalized replicas, the conditions they imply, and the updated recommendations."""

    replicas: int
    able_to_scale: tuple[str, str]
    limited: bool
    limit: tuple[str, str]
    recommendations: tuple[Recommendation, ...]


def _fill(given: ScalingRules | None, defaults: ScalingRules) -> ScalingRules:
    if given is None:
        return defaults
    return ScalingRules(
        stabilization_window_seconds=(
            given.stabilization_window_seconds
            if given.stabilization_window_seconds is not None
            else defaults.stabilization_window_seconds
        ),
        select_policy=given.select_policy or defaults.select_policy,
        policies=given.policies if given.policies is not None else defaults.policies,
    )


def generate_scale_up_rules(given: ScalingRules | None) -> ScalingRules:
    """GenerateHPAScaleUpRules: the API defaults for fields left out."""
    return _fill(given, DEFAULT_SCALE_UP_RULES)


def generate_scale_down_rules(given: ScalingRules | None) -> ScalingRules:
    """GenerateHPAScaleDownRules: the API defaults; the window may stay unset."""
    return _fill(given, DEFAULT_SCALE_DOWN_RULES)


def resolve_behavior(behavior: Behavior, downscale_window_seconds: int) -> tuple[Rules, Rules]:
    """Scale-up and scale-down rules of a behavior, defaulted as the API server would."""
    up = generate_scale_up_rules(behavior.scale_up)
    down = generate_scale_down_rules(behavior.scale_down)
    down_window = down.stabilization_window_seconds
    return (
        Rules(up.stabilization_window_seconds or 0, up.select_policy or "Max", up.policies or ()),
        Rules(
            downscale_window_seconds if down_window is None else down_window,
            down.select_policy or "Max",
            down.policies or (),
        ),
    )


def stabilize_recommendation(
    recommendations: Sequence[Recommendation],
    prenormalized: int,
    window_seconds: int,
    now: datetime,
) -> tuple[int, tuple[Recommendation, ...]]:
    """stabilizeRecommendation: the highest recommendation within the downscale window.

    The new recommendation replaces the last one older than the window, or is appended.
    """
    highest = prenormalized
    old_index: int | None = None
    cutoff = now - timedelta(seconds=window_seconds)
    for i, rec in enumerate(recommendations):
        if rec.timestamp < cutoff:
            old_index = i
        elif rec.replicas > highest:
            highest = rec.replicas
    return highest, _record(recommendations, old_index, Recommendation(prenormalized, now))


def _record(
    recommendations: Sequence[Recommendation], old_index: int | None, new: Recommendation
) -> tuple[Recommendation, ...]:
    if old_index is None:
        return (*recommendations, new)
    updated = list(recommendations)
    updated[old_index] = new
    return tuple(updated)


def calculate_scale_up_limit(current_replicas: int) -> int:
    return int(max(SCALE_UP_LIMIT_FACTOR * float(current_replicas), SCALE_UP_LIMIT_MINIMUM))


def convert_desired_replicas_with_rules(
    current_replicas: int, desired_replicas: int, min_replicas: int, max_replicas: int
) -> tuple[int, str, str]:
    """convertDesiredReplicasWithRules: min, max and the fixed scale-up limit."""
    scale_up_limit = calculate_scale_up_limit(current_replicas)
    if max_replicas > scale_up_limit:
        maximum, limiting = scale_up_limit, c.SCALE_UP_LIMIT
    else:
        maximum, limiting = max_replicas, c.TOO_MANY_REPLICAS
    if desired_replicas < min_replicas:
        return min_replicas, *c.TOO_FEW_REPLICAS
    if desired_replicas > maximum:
        return maximum, *limiting
    return desired_replicas, *c.DESIRED_WITHIN_RANGE


def normalize_desired_replicas(
    recommendations: Sequence[Recommendation],
    current_replicas: int,
    prenormalized: int,
    min_replicas: int,
    max_replicas: int,
    downscale_window_seconds: int,
    now: datetime,
) -> Normalized:
    """normalizeDesiredReplicas: the path of an HPA without behavior."""
    stabilized, recorded = stabilize_recommendation(
        recommendations, prenormalized, downscale_window_seconds, now
    )
    able = c.SCALE_DOWN_STABILIZED if stabilized != prenormalized else c.READY_FOR_NEW_SCALE
    desired, reason, message = convert_desired_replicas_with_rules(
        current_replicas, stabilized, min_replicas, max_replicas
    )
    return Normalized(desired, able, desired != stabilized, (reason, message), recorded)


def stabilize_recommendation_with_behaviors(
    recommendations: Sequence[Recommendation],
    current_replicas: int,
    desired_replicas: int,
    up_window_seconds: int,
    down_window_seconds: int,
    now: datetime,
) -> tuple[int, str, str, tuple[Recommendation, ...]]:
    """stabilizeRecommendationWithBehaviors: keep the replicas within the windows' extremes.

    Scale-up takes the lowest recommendation of its window, scale-down the highest of its
    own; a recommendation older than both windows is replaced by the new one.
    """
    up_recommendation = desired_replicas
    down_recommendation = desired_replicas
    up_cutoff = now - timedelta(seconds=up_window_seconds)
    down_cutoff = now - timedelta(seconds=down_window_seconds)
    old_index: int | None = None
    for i, rec in enumerate(recommendations):
        if rec.timestamp > up_cutoff:
            up_recommendation = min(rec.replicas, up_recommendation)
        if rec.timestamp > down_cutoff:
            down_recommendation = max(rec.replicas, down_recommendation)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old_index = i
    recommendation = current_replicas
    if recommendation < up_recommendation:
        recommendation = up_recommendation
    if recommendation > down_recommendation:
        recommendation = down_recommendation
    recorded = _record(recommendations, old_index, Recommendation(desired_replicas, now))
    if desired_replicas >= current_replicas:
        return recommendation, *c.SCALE_UP_STABILIZED, recorded
    return recommendation, *c.SCALE_DOWN_STABILIZED, recorded


def replicas_change_per_period(
    period_seconds: int, events: Sequence[ScaleEvent], now: datetime
) -> int:
    """getReplicasChangePerPeriod: the replicas changed by events within the period."""
    cutoff = now - timedelta(seconds=period_seconds)
    return sum(e.replica_change for e in events if e.timestamp > cutoff)


def calculate_scale_up_limit_with_scaling_rules(
    current_replicas: int,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    rules: Rules,
    now: datetime,
) -> int:
    """calculateScaleUpLimitWithScalingRules: the most replicas the policies allow."""
    if rules.select_policy == "Disabled":
        return current_replicas
    if rules.select_policy == "Min":
        result, select = MAX_INT32, min
    else:
        result, select = MIN_INT32, max
    proposed = 0
    for policy in rules.policies:
        added = replicas_change_per_period(policy.period_seconds, up_events, now)
        deleted = replicas_change_per_period(policy.period_seconds, down_events, now)
        period_start = current_replicas - added + deleted
        if policy.type == "Pods":
            proposed = period_start + policy.value
        elif policy.type == "Percent":
            # Rounded up so that a small percentage still adds a replica.
            proposed = math.ceil(float(period_start) * (1 + float(policy.value) / 100))
        result = select(result, proposed)
    return result


def calculate_scale_down_limit_with_behaviors(
    current_replicas: int,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    rules: Rules,
    now: datetime,
) -> int:
    """calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow."""
    if rules.select_policy == "Disabled":
        return current_replicas
    if rules.select_policy == "Min":
        result, select = MIN_INT32, max
    else:
        result, select = MAX_INT32, min
    proposed = 0
    for policy in rules.policies:
        added = replicas_change_per_period(policy.period_seconds, up_events, now)
        deleted = replicas_change_per_period(policy.period_seconds, down_events, now)
        period_start = current_replicas - added + deleted
        if policy.type == "Pods":
            proposed = period_start - policy.value
        elif policy.type == "Percent":
            proposed = int(float(period_start) * (1 - float(policy.value) / 100))
        result = select(result, proposed)
    return result


def convert_desired_replicas_with_behavior_rate(
    current_replicas: int,
    desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    up: Rules,
    down: Rules,
    history: History,
    now: datetime,
) -> tuple[int, str, str]:
    """convertDesiredReplicasWithBehaviorRate: the policies' limits, then min and max."""
    events = (history.scale_up_events, history.scale_down_events)
    if desired_replicas > current_replicas:
        limit = calculate_scale_up_limit_with_scaling_rules(current_replicas, *events, up, now)
        # Never a limit below the current replicas: wait until older events expire.
        limit = max(limit, current_replicas)
        if max_replicas > limit:
            maximum, limiting = limit, c.SCALE_UP_LIMIT
        else:
            maximum, limiting = max_replicas, c.TOO_MANY_REPLICAS
        if desired_replicas > maximum:
            return maximum, *limiting
    elif desired_replicas < current_replicas:
        limit = calculate_scale_down_limit_with_behaviors(current_replicas, *events, down, now)
        limit = min(limit, current_replicas)
        if min_replicas < limit:
            minimum, limiting = limit, c.SCALE_DOWN_LIMIT
        else:
            minimum, limiting = min_replicas, c.TOO_FEW_REPLICAS
        if desired_replicas < minimum:
            return minimum, *limiting
    return desired_replicas, *c.DESIRED_WITHIN_RANGE


def normalize_desired_replicas_with_behaviors(
    history: History,
    current_replicas: int,
    prenormalized: int,
    min_replicas: int,
    max_replicas: int,
    up: Rules,
    down: Rules,
    now: datetime,
) -> Normalized:
    """normalizeDesiredReplicasWithBehaviors: stabilize, then apply the scaling rules."""
    stabilized, reason, message, recorded = stabilize_recommendation_with_behaviors(
        history.recommendations,
        current_replicas,
        prenormalized,
        up.stabilization_window_seconds,
        down.stabilization_window_seconds,
        now,
    )
    able = (reason, message) if stabilized != prenormalized else c.READY_FOR_NEW_SCALE
    desired, reason, message = convert_desired_replicas_with_behavior_rate(
        current_replicas, stabilized, min_replicas, max_replicas, up, down, history, now
    )
    return Normalized(desired, able, desired != stabilized, (reason, message), recorded)


def store_scale_event(
    history: History,
    up: Rules,
    down: Rules,
    previous_replicas: int,
    new_replicas: int,
    now: datetime,
) -> History:
    """storeScaleEvent: record a rescale, reusing the slot of an outdated event.

    Events older than the longest policy period of their direction are marked outdated;
    the last of them is replaced by the new event, else the event is appended.
    """
    if new_replicas > previous_replicas:
        events = _store(history.scale_up_events, up, new_replicas - previous_replicas, now)
        return History(history.recommendations, events, history.scale_down_events)
    events = _store(history.scale_down_events, down, previous_replicas - new_replicas, now)
    return History(history.recommendations, history.scale_up_events, events)


def _store(
    events: Sequence[ScaleEvent], rules: Rules, change: int, now: datetime
) -> tuple[ScaleEvent, ...]:
    longest = max((p.period_seconds for p in rules.policies), default=0)
    cutoff = now - timedelta(seconds=longest)
    marked = [
        ScaleEvent(e.replica_change, e.timestamp, True) if e.timestamp < cutoff else e
        for e in events
    ]
    old_index = max((i for i, e in enumerate(marked) if e.outdated), default=None)
    new = ScaleEvent(change, now)
    if old_index is None:
        return (*marked, new)
    marked[old_index] = new
    return tuple(marked)
