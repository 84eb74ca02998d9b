"""Normalization against Kubernetes' horizontal_test.go and defaults_test.go tables (1.34).

Ported: TestConvertDesiredReplicasWithRules, TestCalculateScaleUpLimitWithScalingRules,
TestCalculateScaleDownLimitWithBehaviors, TestNormalizeDesiredReplicas, TestScalingWithRules,
TestStoreScaleEvents, TestNormalizeDesiredReplicasWithBehavior, TestGenerateScaleUpRules and
TestGenerateScaleDownRules. Upstream's time.Now() is the fixed NOW.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hpa_fixtures import NOW

from autoscaler.core.behavior import (
    History,
    Recommendation,
    Rules,
    ScaleEvent,
    calculate_scale_down_limit_with_behaviors,
    calculate_scale_up_limit,
    calculate_scale_up_limit_with_scaling_rules,
    convert_desired_replicas_with_behavior_rate,
    convert_desired_replicas_with_rules,
    generate_scale_down_rules,
    generate_scale_up_rules,
    replicas_change_per_period,
    resolve_behavior,
    stabilize_recommendation,
    stabilize_recommendation_with_behaviors,
    store_scale_event,
)
from autoscaler.core.objects import Behavior, ScalingPolicy, ScalingRules


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def rules(
    pods: int, pods_period: int, percent: int, percent_period: int, window: int
) -> ScalingRules:
    """generateScalingRules: selectPolicy Max and the policies whose value is not 0."""
    policies = []
    if pods:
        policies.append(ScalingPolicy("Pods", pods, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies) if policies else None)


def uniform(raw: list[int], period_seconds: int) -> tuple[ScaleEvent, ...]:
    """generateEventsUniformDistribution: events in the middle of equal segments."""
    segment = period_seconds / len(raw)
    return tuple(
        ScaleEvent(change, ago(int(period_seconds - segment * (i + 1) + segment / 2)))
        for i, change in enumerate(raw)
    )


@pytest.mark.parametrize(
    ("current", "desired", "min_", "max_", "expected", "condition"),
    [
        (5, 7, 3, 8, 7, "DesiredWithinRange"),
        (3, 1, 2, 8, 2, "TooFewReplicas"),
        (1, 0, 0, 10, 0, "DesiredWithinRange"),
        (20, 1000, 1, 10, 10, "TooManyReplicas"),
        (3, 1000, 1, 2000, calculate_scale_up_limit(3), "ScaleUpLimit"),
    ],
)
def test_convert_desired_replicas_with_rules(
    current: int, desired: int, min_: int, max_: int, expected: int, condition: str
) -> None:
    """TestConvertDesiredReplicasWithRules."""
    replicas, reason, _ = convert_desired_replicas_with_rules(current, desired, min_, max_)
    assert (replicas, reason) == (expected, condition)


@pytest.mark.parametrize(("current", "limit"), [(0, 4), (1, 4), (2, 4), (3, 6), (10, 20)])
def test_fixed_scale_up_limit_is_twice_current_or_four(current: int, limit: int) -> None:
    assert calculate_scale_up_limit(current) == limit


MIN_POLICY_RULES = Rules(
    300, "Min", (ScalingPolicy("Pods", 2, 60), ScalingPolicy("Percent", 50, 60))
)


def test_calculate_scale_up_limit_with_scaling_rules() -> None:
    """TestCalculateScaleUpLimitWithScalingRules."""
    assert calculate_scale_up_limit_with_scaling_rules(1, (), (), MIN_POLICY_RULES, NOW) == 2


def test_calculate_scale_down_limit_with_behaviors() -> None:
    """TestCalculateScaleDownLimitWithBehaviors."""
    assert calculate_scale_down_limit_with_behaviors(5, (), (), MIN_POLICY_RULES, NOW) == 3


@pytest.mark.parametrize(
    ("name", "recommendations", "prenormalized", "stabilized", "log_length"),
    [
        ("empty log", [], 5, 5, 1),
        ("stabilize", [(4, 120), (5, 60)], 3, 5, 3),
        ("no stabilize", [(1, 120), (2, 60)], 3, 3, 3),
        ("no stabilize - old recommendations", [(10, 600), (9, 540)], 3, 3, 2),
        (
            "stabilize - old recommendations",
            [(10, 600), (4, 60), (5, 120), (9, 540)],
            3,
            5,
            4,
        ),
    ],
)
def test_normalize_desired_replicas(
    name: str,
    recommendations: list[tuple[int, int]],
    prenormalized: int,
    stabilized: int,
    log_length: int,
) -> None:
    """TestNormalizeDesiredReplicas: the downscale window of HPAs without behavior."""
    recs = [Recommendation(r, ago(s)) for r, s in recommendations]
    got, log = stabilize_recommendation(recs, prenormalized, 300, NOW)
    assert (got, len(log)) == (stabilized, log_length)
    assert Recommendation(prenormalized, NOW) in log


@dataclass(frozen=True)
class RulesRow:
    name: str
    current: int
    prenormalized: int
    min_: int
    max_: int
    expected: int
    condition: str
    up: ScalingRules | None = None
    down: ScalingRules | None = None
    up_events: tuple[ScaleEvent, ...] = ()
    down_events: tuple[ScaleEvent, ...] = ()


E159 = uniform([1, 5, 9], 120)
E8129 = uniform([8, 12, 9, 11], 120)
SCALING_ROWS = [
    RulesRow("prenormalized desired replicas within range", 5, 7, 3, 8, 7, "DesiredWithinRange"),
    RulesRow("prenormalized desired replicas < minReplicas", 3, 1, 2, 8, 2, "TooFewReplicas"),
    RulesRow(
        "prenormalized desired replicas within range when minReplicas is 0",
        1,
        0,
        0,
        10,
        0,
        "DesiredWithinRange",
    ),
    RulesRow(
        "maxReplicas is the limit because maxReplicas < scaleUpLimit",
        20,
        1000,
        1,
        10,
        10,
        "TooManyReplicas",
    ),
    RulesRow(
        "desired replica count is more than the maximum replica count",
        100,
        1000,
        100,
        150,
        150,
        "TooManyReplicas",
    ),
    RulesRow(
        "scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies",
        3,
        1000,
        1,
        2000,
        4,
        "ScaleUpLimit",
        up=rules(0, 0, 1, 60, 0),
    ),
    RulesRow(
        "scaleDownLimit is the limit because scaleDownLimit > minReplicas with user defined "
        "policies",
        1000,
        3,
        3,
        2000,
        980,
        "ScaleDownLimit",
        down=rules(20, 60, 0, 0, 0),
    ),
    RulesRow("scaleUp with default behavior", 10, 50, 1, 1000, 20, "ScaleUpLimit"),
    RulesRow(
        "scaleUp with pods policy larger than percent policy",
        10,
        500,
        1,
        1000,
        110,
        "ScaleUpLimit",
        up=rules(100, 60, 100, 60, 0),
    ),
    RulesRow(
        "scaleUp with percent policy larger than pods policy",
        10,
        500,
        1,
        1000,
        20,
        "ScaleUpLimit",
        up=rules(2, 60, 100, 60, 0),
    ),
    RulesRow(
        "scaleUp with spec MaxReplicas limitation with large pod policy",
        10,
        50,
        1,
        1000,
        50,
        "DesiredWithinRange",
        up=rules(100, 60, 0, 0, 0),
    ),
    RulesRow(
        "scaleUp with spec MaxReplicas limitation with large percent policy",
        10,
        50,
        1,
        1000,
        50,
        "DesiredWithinRange",
        up=rules(10000, 60, 0, 0, 0),
    ),
    RulesRow(
        "scaleUp with pod policy limitation",
        10,
        50,
        1,
        1000,
        40,
        "ScaleUpLimit",
        up=rules(30, 60, 0, 0, 0),
    ),
    RulesRow(
        "scaleUp with percent policy limitation",
        10,
        50,
        1,
        1000,
        30,
        "ScaleUpLimit",
        up=rules(0, 0, 200, 60, 0),
    ),
    RulesRow(
        "scaleDown with percent policy larger than pod policy",
        100,
        2,
        1,
        1000,
        80,
        "ScaleDownLimit",
        down=rules(20, 60, 1, 60, 300),
    ),
    RulesRow(
        "scaleDown with pod policy larger than percent policy",
        100,
        2,
        1,
        1000,
        98,
        "ScaleDownLimit",
        down=rules(2, 60, 1, 60, 300),
    ),
    RulesRow(
        "scaleDown with spec MinReplicas=nil limitation with large pod policy",
        10,
        0,
        1,
        1000,
        1,
        "TooFewReplicas",
        down=rules(100, 60, 0, 0, 300),
    ),
    RulesRow(
        "scaleDown with spec MinReplicas limitation with large percent policy",
        10,
        2,
        5,
        1000,
        5,
        "TooFewReplicas",
        down=rules(0, 0, 100, 60, 300),
    ),
    RulesRow(
        "scaleDown with pod policy limitation",
        10,
        2,
        1,
        1000,
        5,
        "ScaleDownLimit",
        down=rules(5, 60, 0, 0, 300),
    ),
    RulesRow(
        "scaleDown with percent policy limitation",
        10,
        5,
        1,
        1000,
        5,
        "DesiredWithinRange",
        down=rules(0, 0, 50, 60, 300),
    ),
    RulesRow(
        "scaleUp with spec MaxReplicas limitation with large pod policy and events",
        100,
        500,
        1,
        200,
        200,
        "TooManyReplicas",
        up=rules(300, 60, 0, 0, 0),
        up_events=E159,
    ),
    RulesRow(
        "scaleUp with spec MaxReplicas limitation with large percent policy and events",
        100,
        500,
        1,
        200,
        200,
        "TooManyReplicas",
        up=rules(0, 0, 10000, 60, 0),
        up_events=E159,
    ),
    RulesRow(
        "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent "
        "scale up events",
        100,
        500,
        1,
        1000,
        100,
        "ScaleUpLimit",
        up=rules(5, 120, 0, 0, 0),
        up_events=E159,
    ),
    RulesRow(
        "scaleUp with pod policy and previous scale up events",
        100,
        500,
        1,
        1000,
        235,
        "ScaleUpLimit",
        up=rules(150, 120, 0, 0, 0),
        up_events=E159,
    ),
    RulesRow(
        "scaleUp with percent policy and previous scale up events",
        100,
        500,
        1,
        1000,
        255,
        "ScaleUpLimit",
        up=rules(0, 0, 200, 120, 0),
        up_events=E159,
    ),
    RulesRow(
        "scaleUp with percent policy and previous scale up and down events",
        6,
        24,
        1,
        1000,
        16,
        "ScaleUpLimit",
        up=rules(0, 0, 300, 300, 0),
        up_events=uniform([4], 120),
        down_events=uniform([2], 120),
    ),
    RulesRow(
        "scaleDown with default policy and previous events",
        10,
        5,
        1,
        1000,
        5,
        "DesiredWithinRange",
        down_events=E159,
    ),
    RulesRow(
        "scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events",
        100,
        0,
        1,
        1000,
        1,
        "TooFewReplicas",
        down=rules(115, 120, 0, 0, 300),
        down_events=E159,
    ),
    RulesRow(
        "scaleDown with spec MinReplicas limitation with large pod policy and previous events",
        100,
        0,
        5,
        1000,
        5,
        "TooFewReplicas",
        down=rules(130, 120, 0, 0, 300),
        down_events=E159,
    ),
    RulesRow(
        "scaleDown with spec MinReplicas limitation with large percent policy and previous events",
        100,
        2,
        5,
        1000,
        5,
        "TooFewReplicas",
        down=rules(0, 0, 100, 120, 300),
        down_events=E159,
    ),
    RulesRow(
        "scaleDown with pod policy limitation and previous events",
        100,
        2,
        1,
        1000,
        100,
        "ScaleDownLimit",
        down=rules(5, 120, 0, 0, 300),
        down_events=E159,
    ),
    RulesRow(
        "scaleDown with percent policy limitation and previous events",
        100,
        0,
        1,
        1000,
        56,
        "ScaleDownLimit",
        down=rules(0, 0, 50, 120, 300),
        down_events=uniform([2, 4, 6], 120),
    ),
    RulesRow(
        "scaleDown with percent policy and previous scale up and down events",
        10,
        1,
        1,
        1000,
        6,
        "ScaleDownLimit",
        down=rules(0, 0, 50, 180, 0),
        up_events=uniform([2], 120),
        down_events=uniform([4], 120),
    ),
    RulesRow(
        "scaleDown with previous events preventing further scale down",
        100,
        0,
        1,
        1000,
        100,
        "ScaleDownLimit",
        down=rules(0, 0, 10, 120, 300),
        down_events=uniform([10, 10, 10], 120),
    ),
    RulesRow(
        "scaleDown with with previous events still allowing more scale down",
        10,
        5,
        1,
        1000,
        5,
        "DesiredWithinRange",
        down=rules(0, 0, 1000, 120, 300),
        down_events=uniform([10, 10, 10], 120),
    ),
    RulesRow(
        "check 'outdated' flag for events for one behavior for up",
        100,
        200,
        1,
        1000,
        200,
        "DesiredWithinRange",
        up=rules(1000, 60, 0, 0, 0),
        up_events=E8129,
    ),
    RulesRow(
        "check that events were not marked 'outdated' for two different policies in the "
        "behavior for up",
        100,
        200,
        1,
        1000,
        200,
        "DesiredWithinRange",
        up=rules(1000, 120, 100, 60, 0),
        up_events=E8129,
    ),
    RulesRow(
        "check that events were marked 'outdated' for two different policies in the behavior "
        "for up",
        100,
        200,
        1,
        1000,
        200,
        "DesiredWithinRange",
        up=rules(1000, 30, 100, 60, 0),
        up_events=E8129,
    ),
    RulesRow(
        "check 'outdated' flag for events for one behavior for down",
        100,
        5,
        1,
        1000,
        5,
        "DesiredWithinRange",
        down=rules(1000, 60, 0, 0, 300),
        down_events=E8129,
    ),
    RulesRow(
        "check that events were not marked 'outdated' for two different policies in the "
        "behavior for down",
        100,
        5,
        1,
        1000,
        5,
        "DesiredWithinRange",
        down=rules(1000, 120, 100, 60, 300),
        down_events=E8129,
    ),
    RulesRow(
        "check that events were marked 'outdated' for two different policies in the behavior "
        "for down",
        100,
        5,
        1,
        1000,
        5,
        "DesiredWithinRange",
        down=rules(1000, 30, 100, 60, 300),
        down_events=E8129,
    ),
]


@pytest.mark.parametrize("row", SCALING_ROWS, ids=lambda r: r.name)
def test_scaling_with_rules(row: RulesRow) -> None:
    """TestScalingWithRules: convertDesiredReplicasWithBehaviorRate."""
    up, down = resolve_behavior(Behavior(row.up, row.down), 300)
    history = History((), row.up_events, row.down_events)
    replicas, reason, _ = convert_desired_replicas_with_behavior_rate(
        row.current, row.prenormalized, row.min_, row.max_, up, down, history, NOW
    )
    assert (replicas, reason) == (row.expected, row.condition)


@pytest.mark.parametrize(
    ("name", "previous", "rules_", "change_in_60s", "stored"),
    [
        (
            "empty entries with two-policy-behavior",
            [],
            rules(10, 60, 100, 60, 0),
            0,
            [(5, False)],
        ),
        (
            "one outdated entry to be replaced with behavior",
            [(7, 61)],
            rules(10, 60, 100, 60, 0),
            0,
            [(5, False)],
        ),
        (
            "one actual entry to be not touched with behavior",
            [(7, 58)],
            rules(10, 60, 100, 60, 0),
            7,
            [(7, False), (5, False)],
        ),
        (
            "two entries, one of them to be replaced",
            [(7, 61), (6, 59)],
            rules(10, 60, 0, 0, 0),
            6,
            [(5, False), (6, False)],
        ),
        (
            "replace one entry, use policies with different periods",
            [(8, 29), (6, 59), (7, 61), (9, 61)],
            rules(10, 60, 100, 30, 0),
            14,
            [(8, False), (6, False), (7, True), (5, False)],
        ),
        (
            "two entries, both actual",
            [(7, 58), (6, 59)],
            rules(10, 120, 100, 30, 0),
            13,
            [(7, False), (6, False), (5, False)],
        ),
    ],
)
def test_store_scale_events(
    name: str,
    previous: list[tuple[int, int]],
    rules_: ScalingRules,
    change_in_60s: int,
    stored: list[tuple[int, bool]],
) -> None:
    """TestStoreScaleEvents, for scale-up and scale-down alike."""
    events = tuple(ScaleEvent(change, ago(seconds)) for change, seconds in previous)
    assert replicas_change_per_period(60, events, NOW) == change_in_60s
    up, down = resolve_behavior(Behavior(rules_, rules_), 300)
    after_up = store_scale_event(History((), events, ()), up, down, 10, 15, NOW)
    after_down = store_scale_event(History((), (), events), up, down, 10, 5, NOW)
    assert [(e.replica_change, e.outdated) for e in after_up.scale_up_events] == stored
    assert [(e.replica_change, e.outdated) for e in after_down.scale_down_events] == stored
    assert after_up.scale_down_events == () and after_down.scale_up_events == ()


@pytest.mark.parametrize(
    ("name", "recommendations", "current", "prenormalized", "expected", "stored", "up", "down"),
    [
        ("empty recommendations for scaling down", [], 100, 5, 5, [5], 0, 0),
        ("simple scale down stabilization", [(4, 120), (5, 60)], 100, 3, 5, [4, 5, 3], 0, 180),
        ("simple scale up stabilization", [(4, 120), (5, 60)], 1, 7, 4, [4, 5, 7], 300, 0),
        ("no scale down stabilization", [(1, 120), (2, 60)], 100, 3, 3, [1, 2, 3], 300, 0),
        ("no scale up stabilization", [(4, 120), (5, 60)], 1, 3, 3, [4, 5, 3], 0, 300),
        (
            "no scale down stabilization, reuse recommendation element",
            [(10, 600), (9, 540)],
            100,
            3,
            3,
            [10, 3],
            0,
            0,
        ),
        (
            "no scale up stabilization, reuse recommendation element",
            [(10, 600), (9, 540)],
            1,
            100,
            100,
            [10, 100],
            0,
            0,
        ),
        (
            "scale down stabilization, reuse one of obsolete recommendation element",
            [(10, 600), (4, 60), (5, 120), (9, 540)],
            100,
            3,
            5,
            [10, 4, 5, 3],
            0,
            180,
        ),
        (
            "scale up stabilization, reuse one of obsolete recommendation element",
            [(10, 6000), (6, 60), (5, 120), (9, 180)],
            1,
            100,
            5,
            [100, 6, 5, 9],
            300,
            0,
        ),
        (
            "scale up and down stabilization, do not scale up when prenormalized rec goes down",
            [(2, 6000), (3, 180)],
            2,
            1,
            2,
            None,
            300,
            300,
        ),
        (
            "scale up and down stabilization, do not scale down when prenormalized rec goes up",
            [(2, 6000), (1, 180)],
            2,
            3,
            2,
            None,
            300,
            300,
        ),
    ],
)
def test_normalize_desired_replicas_with_behavior(
    name: str,
    recommendations: list[tuple[int, int]],
    current: int,
    prenormalized: int,
    expected: int,
    stored: list[int] | None,
    up: int,
    down: int,
) -> None:
    """TestNormalizeDesiredReplicasWithBehavior: stabilizeRecommendationWithBehaviors."""
    recs = [Recommendation(r, ago(s)) for r, s in recommendations]
    got, _, _, log = stabilize_recommendation_with_behaviors(
        recs, current, prenormalized, up, down, NOW
    )
    assert got == expected
    if stored is not None:
        assert [r.replicas for r in log] == stored


@pytest.mark.parametrize(
    ("desired", "current", "reason"),
    [(7, 1, "ScaleUpStabilized"), (1, 1, "ScaleUpStabilized"), (3, 100, "ScaleDownStabilized")],
)
def test_stabilization_reason_follows_direction(desired: int, current: int, reason: str) -> None:
    _, got, message, _ = stabilize_recommendation_with_behaviors((), current, desired, 0, 0, NOW)
    assert got == reason
    assert message.startswith("recent recommendations were")


def _generated_input(
    pods: int,
    pods_period: int,
    percent: int,
    percent_period: int,
    window: int | None,
    select: str | None,
) -> ScalingRules:
    policies = []
    if pods or pods_period:
        policies.append(ScalingPolicy("Pods", pods, pods_period))
    if percent or percent_period:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, select, tuple(policies) if policies else None)


@pytest.mark.parametrize(
    ("name", "given", "policies", "window", "select"),
    [
        (
            "Default values",
            (0, 0, 0, 0, None, None),
            [("Pods", 4, 15), ("Percent", 100, 15)],
            0,
            "Max",
        ),
        (
            "All parameters are specified",
            (1, 2, 3, 4, 25, "Max"),
            [("Pods", 1, 2), ("Percent", 3, 4)],
            25,
            "Max",
        ),
        ("Pod policy is specified", (1, 2, 0, 0, None, "Min"), [("Pods", 1, 2)], 0, "Min"),
        ("Percent policy is specified", (0, 0, 7, 10, None, None), [("Percent", 7, 10)], 0, "Max"),
        (
            "Pod policy and stabilization window are specified",
            (4, 2, 0, 0, 25, None),
            [("Pods", 4, 2)],
            25,
            "Max",
        ),
        (
            "Percent policy and stabilization window are specified",
            (0, 0, 7, 60, 25, None),
            [("Percent", 7, 60)],
            25,
            "Max",
        ),
    ],
)
def test_generate_scale_up_rules(
    name: str, given: tuple, policies: list[tuple[str, int, int]], window: int, select: str
) -> None:
    """TestGenerateScaleUpRules."""
    got = generate_scale_up_rules(_generated_input(*given))
    assert got.policies == tuple(ScalingPolicy(*p) for p in policies)
    assert (got.stabilization_window_seconds, got.select_policy) == (window, select)


@pytest.mark.parametrize(
    ("name", "given", "policies", "window", "select"),
    [
        ("Default values", (0, 0, 0, 0, None, None), [("Percent", 100, 15)], None, "Max"),
        (
            "All parameters are specified",
            (1, 2, 3, 4, 25, "Max"),
            [("Pods", 1, 2), ("Percent", 3, 4)],
            25,
            "Max",
        ),
        (
            "Percent policy is specified",
            (0, 0, 1, 2, None, "Min"),
            [("Percent", 1, 2)],
            None,
            "Min",
        ),
        ("Pods policy is specified", (3, 4, 0, 0, None, None), [("Pods", 3, 4)], None, "Max"),
    ],
)
def test_generate_scale_down_rules(
    name: str, given: tuple, policies: list[tuple[str, int, int]], window: int | None, select: str
) -> None:
    """TestGenerateScaleDownRules: the window stays unset for the controller to fill."""
    got = generate_scale_down_rules(_generated_input(*given))
    assert got.policies == tuple(ScalingPolicy(*p) for p in policies)
    assert (got.stabilization_window_seconds, got.select_policy) == (window, select)


def test_unset_scale_down_window_takes_the_controller_flag() -> None:
    """maybeInitScaleDownStabilizationWindow."""
    _, down = resolve_behavior(Behavior(None, ScalingRules(select_policy="Min")), 120)
    assert (down.stabilization_window_seconds, down.select_policy) == (120, "Min")
    _, down = resolve_behavior(Behavior(None, ScalingRules(stabilization_window_seconds=0)), 120)
    assert down.stabilization_window_seconds == 0


@pytest.mark.parametrize("direction", ["up", "down"])
def test_disabled_select_policy_holds_the_current_replicas(direction: str) -> None:
    disabled = ScalingRules(select_policy="Disabled")
    up, down = resolve_behavior(Behavior(disabled, disabled), 300)
    desired = 10 if direction == "up" else 1
    replicas, reason, _ = convert_desired_replicas_with_behavior_rate(
        5, desired, 1, 20, up, down, History(), NOW
    )
    assert (replicas, reason) == (5, "ScaleUpLimit" if direction == "up" else "ScaleDownLimit")
