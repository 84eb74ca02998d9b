"""Whole decisions against the controller tests of Kubernetes' horizontal_test.go.

Each row is one upstream test that runs a reconcile: its HPA, scale, pods and metric
levels, the controller's memory, and the expected desired replicas and conditions
(type, status, reason, as upstream compares them). The rows of 1.34 run as 1.34 and as
1.37, where upstream's 1.37 tests expect the same plus ScaledToZero=False on every
rescale (statusOkWithOverrides(scaledToZeroFalse)); the rows whose answer changed in 1.37
run as 1.34 only, beside 1.37's own rows (scale to zero, tolerance). Upstream raises its
scale-up limit factor to 8 in these tests; every ported row gives the same answer with Kubernetes'
factor of 2, which this port keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
from hpa_fixtures import (
    NAMESPACE,
    NOW,
    SELECTOR,
    cluster,
    cool,
    external_metric,
    hot,
    milli,
    object_metric,
    pod_metrics,
    pods,
    pods_metric,
)

from autoscaler.core.behavior import History, Recommendation, ScaleEvent
from autoscaler.core.conditions import Condition
from autoscaler.core.hpa import Decision, Options, decide
from autoscaler.core.objects import (
    Behavior,
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    Scale,
    ScalingPolicy,
    ScalingRules,
)
from autoscaler.core.selectors import LabelSelector
from autoscaler.core.versions import release

Cond = tuple[str, str, str]
OPTIONS = Options(
    tolerance=0.1,
    cpu_initialization_period_seconds=120,
    initial_readiness_delay_seconds=10,
    downscale_stabilization_window_seconds=300,
)
STATUS_OK: list[Cond] = [
    ("AbleToScale", "True", "SucceededRescale"),
    ("ScalingActive", "True", "ValidMetricFound"),
    ("ScalingLimited", "False", "DesiredWithinRange"),
]


def ok(*overrides: Cond) -> list[Cond]:
    """statusOkWithOverrides."""
    out = list(STATUS_OK)
    for override in overrides:
        out = [override if c[0] == override[0] else c for c in out]
    return out


NOT_SCALED_TO_ZERO: Cond = ("ScaledToZero", "False", "NotScaledToZero")


def failed(reason: str) -> list[Cond]:
    return [("AbleToScale", "True", "SucceededGetScale"), ("ScalingActive", "False", reason)]


RESCALED: list[Cond] = [("AbleToScale", "True", "SucceededRescale")]
READY = ("AbleToScale", "True", "ReadyForNewScale")
STABILIZED = ("AbleToScale", "True", "ScaleDownStabilized")
TOO_MANY = ("ScalingLimited", "True", "TooManyReplicas")
TOO_FEW = ("ScalingLimited", "True", "TooFewReplicas")
EMPTY = LabelSelector({})
DEPLOYMENT = CrossVersionObjectReference("Deployment", "some-deployment", "apps/v1")


def cpu(target: int) -> MetricSpec:
    return MetricSpec("Resource", MetricTarget("Utilization", average_utilization=target), "cpu")


def container_cpu(container: str, target: int) -> MetricSpec:
    return MetricSpec(
        "ContainerResource",
        MetricTarget("Utilization", average_utilization=target),
        "cpu",
        container,
    )


def pods_qps(average: str) -> MetricSpec:
    target = MetricTarget("AverageValue", average_value=milli(average))
    return MetricSpec("Pods", target, metric=MetricIdentifier("qps"))


def object_qps(
    value: str, average: bool = False, selector: LabelSelector | None = None
) -> MetricSpec:
    target = (
        MetricTarget("AverageValue", average_value=milli(value))
        if average
        else MetricTarget("Value", value=milli(value))
    )
    return MetricSpec(
        "Object", target, metric=MetricIdentifier("qps", selector), described_object=DEPLOYMENT
    )


def external_qps(value: str, average: bool = False) -> MetricSpec:
    target = (
        MetricTarget("AverageValue", average_value=milli(value))
        if average
        else MetricTarget("Value", value=milli(value))
    )
    return MetricSpec("External", target, metric=MetricIdentifier("qps", EMPTY))


CHEDDAR = MetricSpec("CheddarCheese")


def scaling_rules(pods_: int, pods_period: int, percent: int, percent_period: int, window: int):
    policies = []
    if pods_:
        policies.append(ScalingPolicy("Pods", pods_, pods_period))
    if percent:
        policies.append(ScalingPolicy("Percent", percent, percent_period))
    return ScalingRules(window, "Max", tuple(policies) if policies else None)


@dataclass(frozen=True)
class Row:
    name: str
    min_: int
    max_: int
    spec: int
    expected: int
    conditions: list[Cond] | None = None  # None: statusOk
    cpu_target: int = 0
    metrics: tuple[MetricSpec, ...] = ()
    levels: tuple[int, ...] = ()
    requests: tuple[str, ...] | None = None
    readiness: tuple[str, ...] | None = None
    start: tuple[datetime, ...] | None = None
    phases: tuple[str, ...] | None = None
    deleted: tuple[bool, ...] | None = None
    # None: upstream's nil (the first decision records the current replicas); ():
    # upstream's empty non-nil list, which records nothing.
    recommendations: tuple[tuple[int, int], ...] | None = None
    scale_up: ScalingRules | None = None
    scale_down: ScalingRules | None = None
    cpu_current: int | None = None
    selector: str = SELECTOR
    failing: frozenset[str] = frozenset()
    status_conditions: tuple[Condition, ...] = ()
    versions: tuple[str, ...] = ("1.34", "1.37")
    gates: tuple[tuple[str, bool], ...] = ()


def one(n: int) -> tuple[str, ...]:
    return ("1.0",) * n


T3 = (cool(), hot(), hot())
V134 = ("1.34",)  # the 1.34 answer; 1.37 answers differently (rows of 1.37 below)
V137 = ("1.37",)
GATE_OFF = (("HPAScaleToZero", False),)
WAS_SCALED_TO_ZERO = (
    Condition(
        "ScaledToZero", "True", "ScaledToZero", "the HPA controller scaled the workload to zero"
    ),
)
DISABLED: list[Cond] = [
    ("AbleToScale", "True", "SucceededGetScale"),
    ("ScalingActive", "False", "ScalingDisabled"),
]
FROM_ZERO_OK: list[Cond] = [NOT_SCALED_TO_ZERO, *STATUS_OK]
SCALED_TO_ZERO_OK: list[Cond] = [*STATUS_OK, ("ScaledToZero", "True", "ScaledToZero")]
ROWS = [
    Row(
        "TestScaleUp",
        2,
        6,
        3,
        5,
        cpu_target=30,
        levels=(300, 500, 700),
        requests=one(3),
        cpu_current=50,
    ),
    Row(
        "TestScaleUpContainer",
        2,
        6,
        3,
        5,
        metrics=(container_cpu("container1", 30),),
        levels=(300, 500, 700),
        requests=one(3),
    ),
    Row(
        "TestScaleUpUnreadyLessScale",
        2,
        6,
        3,
        4,
        cpu_target=30,
        levels=(300, 500, 700),
        requests=one(3),
        readiness=("False", "True", "True"),
        cpu_current=60,
    ),
    Row(
        "TestScaleUpHotCpuLessScale",
        2,
        6,
        3,
        4,
        cpu_target=30,
        levels=(300, 500, 700),
        requests=one(3),
        start=(hot(), cool(), cool()),
        cpu_current=60,
    ),
    Row(
        "TestScaleUpUnreadyNoScale",
        2,
        6,
        3,
        3,
        ok(READY),
        cpu_target=30,
        levels=(400, 500, 700),
        requests=one(3),
        readiness=("True", "False", "False"),
        cpu_current=40,
    ),
    Row(
        "TestScaleUpHotCpuNoScale",
        2,
        6,
        3,
        3,
        ok(READY),
        cpu_target=30,
        levels=(400, 500, 700),
        requests=one(3),
        readiness=("True", "False", "False"),
        start=T3,
        cpu_current=40,
    ),
    Row(
        "TestScaleUpIgnoresFailedPods",
        2,
        6,
        2,
        4,
        cpu_target=30,
        levels=(500, 700),
        requests=one(4),
        readiness=("True", "True", "False", "False"),
        phases=("Running", "Running", "Failed", "Failed"),
        cpu_current=60,
    ),
    Row(
        "TestScaleUpIgnoresDeletionPods",
        2,
        6,
        2,
        4,
        cpu_target=30,
        levels=(500, 700),
        requests=one(4),
        readiness=("True", "True", "False", "False"),
        phases=("Running",) * 4,
        deleted=(False, False, True, True),
        cpu_current=60,
    ),
    Row(
        "TestScaleUpCM",
        2,
        6,
        3,
        4,
        metrics=(pods_qps("15.0"),),
        levels=(20000, 10000, 30000),
        requests=one(3),
    ),
    Row(
        "TestScaleUpCMUnreadyAndHotCpuNoLessScale",
        2,
        6,
        3,
        6,
        metrics=(pods_qps("15.0"),),
        levels=(50000, 10000, 30000),
        requests=one(3),
        readiness=("True", "True", "False"),
        start=(cool(), cool(), hot()),
    ),
    Row(
        "TestScaleUpCMUnreadyandCpuHot",
        2,
        6,
        3,
        6,
        ok(TOO_MANY),
        metrics=(pods_qps("15.0"),),
        levels=(50000, 15000, 30000),
        requests=one(3),
        readiness=("False", "True", "False"),
        start=(hot(), cool(), hot()),
    ),
    Row(
        "TestScaleUpHotCpuNoScaleWouldScaleDown",
        2,
        6,
        3,
        6,
        ok(TOO_MANY),
        metrics=(pods_qps("15.0"),),
        levels=(50000, 15000, 30000),
        requests=one(3),
        start=(hot(), cool(), hot()),
    ),
    Row("TestScaleUpCMObject", 2, 6, 3, 4, metrics=(object_qps("15.0"),), levels=(20000,)),
    Row(
        "TestScaleUpFromZeroCMObject",
        0,
        6,
        0,
        2,
        metrics=(object_qps("15.0"),),
        levels=(20000,),
        versions=V134,
    ),
    Row(
        "TestScaleUpFromZeroIgnoresToleranceCMObject",
        0,
        6,
        0,
        1,
        metrics=(object_qps("1.0"),),
        levels=(1000,),
        versions=V134,
    ),
    Row(
        "TestScaleUpPerPodCMObject",
        2,
        6,
        3,
        4,
        metrics=(object_qps("10.0", average=True),),
        levels=(40000,),
    ),
    Row("TestScaleUpCMExternal", 2, 6, 3, 4, metrics=(external_qps("6666m"),), levels=(8600,)),
    Row(
        "TestScaleUpPerPodCMExternal",
        2,
        6,
        3,
        4,
        metrics=(external_qps("2222m", average=True),),
        levels=(8600,),
    ),
    Row(
        "TestScaleDown",
        2,
        6,
        5,
        3,
        cpu_target=50,
        levels=(100, 300, 500, 250, 250),
        requests=one(5),
        recommendations=(),
        cpu_current=28,
    ),
    Row(
        "TestScaleDownContainerResource",
        2,
        6,
        5,
        3,
        metrics=(container_cpu("container2", 50),),
        levels=(100, 300, 500, 250, 250),
        requests=one(5),
        recommendations=(),
    ),
    Row(
        "TestScaleDownWithScalingRules",
        2,
        6,
        5,
        3,
        cpu_target=50,
        levels=(100, 300, 500, 250, 250),
        requests=one(5),
        recommendations=(),
        scale_up=scaling_rules(0, 0, 100, 15, 30),
        cpu_current=28,
    ),
    Row(
        "TestScaleUpOneMetricInvalid",
        2,
        6,
        3,
        4,
        cpu_target=30,
        metrics=(CHEDDAR,),
        levels=(300, 400, 500),
        requests=one(3),
        cpu_current=40,
    ),
    Row(
        "TestScaleUpFromZeroOneMetricInvalid",
        0,
        6,
        0,
        4,
        cpu_target=30,
        metrics=(CHEDDAR,),
        levels=(300, 400, 500),
        requests=one(3),
        recommendations=(),
        cpu_current=40,
        versions=V134,
    ),
    Row(
        "TestScaleUpBothMetricsEmpty",
        2,
        6,
        3,
        3,
        failed("InvalidMetricSourceType"),
        metrics=(CHEDDAR,),
        requests=one(3),
    ),
    Row(
        "TestScaleDownStabilizeInitialSize",
        2,
        6,
        5,
        5,
        ok(STABILIZED),
        cpu_target=50,
        levels=(100, 300, 500, 250, 250),
        requests=one(5),
        cpu_current=28,
    ),
    Row(
        "TestScaleDownCM",
        2,
        6,
        5,
        3,
        metrics=(pods_qps("20.0"),),
        levels=(12000,) * 5,
        requests=one(5),
        recommendations=(),
    ),
    Row(
        "TestScaleDownCMObject",
        2,
        6,
        5,
        3,
        metrics=(object_qps("20.0"),),
        levels=(12000,),
        requests=one(5),
        recommendations=(),
    ),
    Row(
        "TestScaleDownToZeroCMObject",
        0,
        6,
        5,
        0,
        metrics=(object_qps("20.0"),),
        levels=(0,),
        requests=one(5),
        recommendations=(),
        versions=V134,
    ),
    Row(
        "TestScaleDownPerPodCMObject",
        2,
        6,
        5,
        3,
        metrics=(object_qps("20.0", average=True),),
        levels=(60000,),
        requests=one(5),
        recommendations=(),
    ),
    Row(
        "TestScaleDownCMExternal",
        2,
        6,
        5,
        3,
        metrics=(external_qps("14400m"),),
        levels=(8600,),
        recommendations=(),
    ),
    Row(
        "TestScaleDownToZeroCMExternal",
        0,
        6,
        5,
        0,
        metrics=(external_qps("14400m"),),
        levels=(0,),
        recommendations=(),
        versions=V134,
    ),
    Row(
        "TestScaleDownPerPodCMExternal",
        2,
        6,
        5,
        3,
        metrics=(external_qps("3000m", average=True),),
        levels=(8600,),
        recommendations=(),
    ),
    Row(
        "TestScaleDownIncludeUnreadyPods",
        2,
        6,
        5,
        2,
        cpu_target=50,
        levels=(100, 300, 500, 250, 250),
        requests=one(5),
        readiness=("True", "True", "True", "False", "False"),
        recommendations=(),
        cpu_current=30,
    ),
    Row(
        "TestScaleDownIgnoreHotCpuPods",
        2,
        6,
        5,
        2,
        cpu_target=50,
        levels=(100, 300, 500, 250, 250),
        requests=one(5),
        start=(cool(), cool(), cool(), hot(), hot()),
        recommendations=(),
        cpu_current=30,
    ),
    Row(
        "TestScaleDownIgnoresFailedPods",
        2,
        6,
        5,
        3,
        cpu_target=50,
        levels=(100, 300, 500, 250, 250),
        requests=one(7),
        readiness=("True",) * 5 + ("False",) * 2,
        phases=("Running",) * 5 + ("Failed",) * 2,
        recommendations=(),
        cpu_current=28,
    ),
    Row(
        "TestScaleDownIgnoresDeletionPods",
        2,
        6,
        5,
        3,
        cpu_target=50,
        levels=(100, 300, 500, 250, 250),
        requests=one(7),
        readiness=("True",) * 5 + ("False",) * 2,
        phases=("Running",) * 7,
        deleted=(False,) * 5 + (True,) * 2,
        recommendations=(),
        cpu_current=28,
    ),
    Row(
        "TestTolerance",
        1,
        5,
        3,
        3,
        ok(READY),
        cpu_target=100,
        levels=(1010, 1030, 1020),
        requests=("0.9", "1.0", "1.1"),
    ),
    Row(
        "TestToleranceCM",
        1,
        5,
        3,
        3,
        ok(READY),
        metrics=(pods_qps("20.0"),),
        levels=(20000, 20001, 21000),
        requests=("0.9", "1.0", "1.1"),
    ),
    Row(
        "TestToleranceCMObject",
        1,
        5,
        3,
        3,
        ok(READY),
        metrics=(object_qps("20.0"),),
        levels=(20050,),
        requests=("0.9", "1.0", "1.1"),
    ),
    Row(
        "TestToleranceCMExternal",
        2,
        6,
        4,
        4,
        ok(READY),
        metrics=(external_qps("8666m"),),
        levels=(8600,),
    ),
    Row(
        "TestTolerancePerPodCMObject",
        2,
        6,
        4,
        4,
        ok(READY),
        metrics=(object_qps("2200m", average=True, selector=EMPTY),),
        levels=(8600,),
    ),
    Row(
        "TestTolerancePerPodCMExternal",
        2,
        6,
        4,
        4,
        ok(READY),
        metrics=(external_qps("2200m", average=True),),
        levels=(8600,),
    ),
    Row(
        "TestMinReplicas",
        2,
        5,
        3,
        2,
        ok(TOO_FEW),
        cpu_target=90,
        levels=(10, 95, 10),
        requests=("0.9", "1.0", "1.1"),
        recommendations=(),
    ),
    Row(
        "TestZeroMinReplicasDesiredZero",
        0,
        5,
        3,
        0,
        cpu_target=90,
        levels=(0, 0, 0),
        requests=("0.9", "1.0", "1.1"),
        recommendations=(),
    ),
    Row(
        "TestMinReplicasDesiredZero",
        2,
        5,
        3,
        2,
        ok(TOO_FEW),
        cpu_target=90,
        levels=(0, 0, 0),
        requests=("0.9", "1.0", "1.1"),
        recommendations=(),
    ),
    Row("TestZeroReplicas", 3, 5, 0, 0, failed("ScalingDisabled"), cpu_target=90, requests=()),
    Row("TestTooFewReplicas", 3, 5, 2, 3, RESCALED, cpu_target=90, requests=()),
    Row("TestTooManyReplicas", 3, 5, 10, 5, RESCALED, cpu_target=90, requests=()),
    Row(
        "TestMaxReplicas",
        2,
        5,
        3,
        5,
        ok(TOO_MANY),
        cpu_target=90,
        levels=(8000, 9500, 1000),
        requests=("0.9", "1.0", "1.1"),
    ),
    Row(
        "TestSuperfluousMetrics",
        2,
        6,
        4,
        6,
        ok(TOO_MANY),
        cpu_target=100,
        levels=(4000, 9500, 3000, 7000, 3200, 2000),
        requests=one(4),
    ),
    Row(
        "TestMissingMetrics",
        2,
        6,
        4,
        3,
        cpu_target=100,
        levels=(400, 95),
        requests=one(4),
        recommendations=(),
    ),
    Row(
        "TestEmptyMetrics",
        2,
        6,
        4,
        4,
        failed("FailedGetResourceMetric"),
        cpu_target=100,
        requests=one(4),
    ),
    Row(
        "TestEmptyCPURequest",
        1,
        5,
        1,
        1,
        failed("FailedGetResourceMetric"),
        cpu_target=100,
        levels=(200,),
        requests=(),
    ),
    Row("TestEventCreated", 1, 5, 1, 2, cpu_target=50, levels=(200,), requests=("0.2",)),
    Row(
        "TestEventNotCreated",
        1,
        5,
        2,
        2,
        ok(READY),
        cpu_target=50,
        levels=(200, 200),
        requests=("0.4", "0.4"),
    ),
    Row(
        "TestMissingReports",
        1,
        5,
        4,
        2,
        cpu_target=50,
        levels=(200,),
        requests=("0.2",),
        recommendations=(),
    ),
    Row(
        "TestUpscaleCap",
        1,
        100,
        3,
        24,
        ok(("ScalingLimited", "True", "ScaleUpLimit")),
        cpu_target=10,
        levels=(100, 200, 300),
        requests=("0.1",) * 3,
        scale_up=scaling_rules(0, 0, 700, 60, 0),
    ),
    Row(
        "TestUpscaleCapGreaterThanMaxReplicas",
        1,
        20,
        3,
        20,
        ok(TOO_MANY),
        cpu_target=10,
        levels=(100, 200, 300),
        requests=("0.1",) * 3,
        scale_up=scaling_rules(0, 0, 700, 60, 0),
    ),
    Row(
        "TestMoreReplicasThanSpecNoScale",
        1,
        8,
        4,
        4,
        ok(READY),
        cpu_target=50,
        levels=(500,) * 5,
        requests=one(5),
    ),
    Row(
        "TestConditionInvalidSelectorMissing",
        1,
        100,
        3,
        3,
        failed("InvalidSelector"),
        cpu_target=10,
        levels=(100, 200, 300),
        requests=("0.1",) * 3,
        selector="",
    ),
    Row(
        "TestConditionInvalidSelectorUnparsable",
        1,
        100,
        3,
        3,
        failed("InvalidSelector"),
        cpu_target=10,
        levels=(100, 200, 300),
        requests=("0.1",) * 3,
        selector="cheddar cheese",
    ),
    Row(
        "TestConditionFailedGetMetrics: FailedGetResourceMetric",
        1,
        100,
        3,
        3,
        failed("FailedGetResourceMetric"),
        cpu_target=10,
        levels=(100, 200, 300),
        requests=("0.1",) * 3,
        failing=frozenset({"resource"}),
    ),
    Row(
        "TestConditionFailedGetMetrics: FailedGetPodsMetric",
        1,
        100,
        3,
        3,
        failed("FailedGetPodsMetric"),
        metrics=(pods_qps("15.0"),),
        levels=(100, 200, 300),
        requests=("0.1",) * 3,
        failing=frozenset({"custom"}),
    ),
    Row(
        "TestConditionFailedGetMetrics: FailedGetObjectMetric",
        1,
        100,
        3,
        3,
        failed("FailedGetObjectMetric"),
        metrics=(object_qps("15.0"),),
        levels=(100, 200, 300),
        requests=("0.1",) * 3,
        failing=frozenset({"custom"}),
    ),
    Row(
        "TestConditionFailedGetMetrics: FailedGetExternalMetric",
        1,
        100,
        3,
        3,
        failed("FailedGetExternalMetric"),
        metrics=(external_qps("300m"),),
        levels=(100, 200, 300),
        requests=("0.1",) * 3,
        failing=frozenset({"external"}),
    ),
    Row(
        "TestConditionInvalidSourceType",
        2,
        6,
        3,
        3,
        failed("InvalidMetricSourceType"),
        metrics=(CHEDDAR,),
        levels=(20000,),
    ),
    Row(
        "TestNoBackoffUpscaleCM",
        1,
        5,
        3,
        4,
        metrics=(pods_qps("15.0"),),
        levels=(20000, 10000, 30000),
        requests=one(3),
    ),
    Row(
        "TestNoBackoffUpscaleCMNoBackoffCpu",
        1,
        5,
        3,
        5,
        ok(TOO_MANY),
        cpu_target=10,
        metrics=(pods_qps("15.0"),),
        levels=(20000, 10000, 30000),
        requests=one(3),
    ),
    Row(
        "TestStabilizeDownscale",
        1,
        5,
        4,
        4,
        ok(STABILIZED),
        cpu_target=100,
        levels=(50, 50, 50),
        requests=("0.1",) * 3,
        recommendations=((10, 600), (4, 60)),
    ),
    Row(
        "TestComputedToleranceAlgImplementation: scale",
        0,
        1000,
        10,
        9,
        cpu_target=56,
        levels=(150,) * 10,
        requests=("400m", "200m", "310m", "290m", "302m", "298m", "301m", "299m", "300m", "300m"),
        recommendations=(),
    ),
    Row(
        "TestComputedToleranceAlgImplementation: no scale",
        0,
        1000,
        10,
        10,
        ok(READY),
        cpu_target=55,
        levels=(150,) * 10,
        requests=("400m", "200m", "310m", "290m", "302m", "298m", "301m", "299m", "300m", "300m"),
        recommendations=(),
    ),
    Row(
        "TestScaleUpRCImmediately",
        2,
        6,
        1,
        2,
        RESCALED,
        levels=(0, 0, 0, 0),
        requests=one(4),
        metrics=(cpu(80),),
    ),
    Row(
        "TestScaleDownRCImmediately",
        2,
        5,
        6,
        5,
        RESCALED,
        cpu_target=50,
        levels=(8000, 9500, 1000),
        requests=("0.9", "1.0", "1.1"),
    ),
    Row(
        "TestAvoidUnnecessaryUpdates",
        2,
        6,
        2,
        2,
        [READY, ("ScalingActive", "True", "ValidMetricFound"), TOO_FEW],
        metrics=(cpu(80),),
        levels=(400, 500, 700),
        requests=one(3),
        start=T3,
        recommendations=(),
        cpu_current=40,
        status_conditions=(
            Condition(
                "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"
            ),
            Condition(
                "ScalingActive",
                "True",
                "ValidMetricFound",
                "the HPA was able to successfully calculate a replica count from cpu "
                "resource utilization (percentage of request)",
            ),
            Condition(
                "ScalingLimited",
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            ),
        ),
    ),
    Row(
        "TestScaleUpOneMetricEmpty",
        2,
        6,
        3,
        4,
        cpu_target=30,
        metrics=(external_qps("100m"),),
        levels=(300, 400, 500),
        requests=one(3),
        failing=frozenset({"external"}),
        cpu_current=40,
    ),
    Row(
        "TestNoScaleDownOneMetricInvalid",
        2,
        6,
        5,
        5,
        failed("InvalidMetricSourceType"),
        cpu_target=50,
        metrics=(CHEDDAR,),
        levels=(100, 300, 500, 250, 250),
        requests=one(5),
        recommendations=(),
    ),
    Row(
        "TestNoScaleDownOneMetricEmpty",
        2,
        6,
        5,
        5,
        failed("FailedGetExternalMetric"),
        cpu_target=50,
        metrics=(external_qps("1000m"),),
        levels=(100, 300, 500, 250, 250),
        requests=one(5),
        recommendations=(),
        failing=frozenset({"external"}),
    ),
    # 1.37: TestScaleUpCMObject, TestScaleWithOneInvalidMetric, TestScaleDownCM (scale to
    # zero, HPAScaleToZero on and off) and TestScaleToZeroBehavior.
    Row(
        "scale up from zero with HPAScaleToZero enabled",
        0,
        6,
        0,
        2,
        FROM_ZERO_OK,
        metrics=(object_qps("15.0"),),
        levels=(20000,),
        status_conditions=WAS_SCALED_TO_ZERO,
        versions=V137,
    ),
    Row(
        "scale up from zero with HPAScaleToZero disabled",
        0,
        6,
        0,
        0,
        DISABLED,
        metrics=(object_qps("15.0"),),
        levels=(20000,),
        status_conditions=WAS_SCALED_TO_ZERO,
        versions=V137,
        gates=GATE_OFF,
    ),
    Row(
        "scale up from zero ignores tolerance with HPAScaleToZero enabled",
        0,
        6,
        0,
        1,
        FROM_ZERO_OK,
        metrics=(object_qps("1.0"),),
        levels=(1000,),
        status_conditions=WAS_SCALED_TO_ZERO,
        versions=V137,
    ),
    Row(
        "scale up from zero ignores tolerance with HPAScaleToZero disabled",
        0,
        6,
        0,
        0,
        DISABLED,
        metrics=(object_qps("1.0"),),
        levels=(1000,),
        status_conditions=WAS_SCALED_TO_ZERO,
        versions=V137,
        gates=GATE_OFF,
    ),
    *(
        Row(
            f"from zero with invalid metric, HPAScaleToZero {state}",
            0,
            6,
            0,
            0,
            DISABLED,
            cpu_target=30,
            metrics=(CHEDDAR,),
            levels=(300, 400, 500),
            requests=one(3),
            recommendations=(),
            versions=V137,
            gates=gates,
        )
        for state, gates in (("enabled", ()), ("disabled", GATE_OFF))
    ),
    *(
        Row(
            f"scale down to zero {kind} metric with HPAScaleToZero {state}",
            0,
            6,
            5,
            0,
            SCALED_TO_ZERO_OK if not gates else STATUS_OK,
            metrics=(metric,),
            levels=(0,),
            requests=one(5),
            recommendations=(),
            versions=V137,
            gates=gates,
        )
        for kind, metric in (("object", object_qps("20.0")), ("external", external_qps("14400m")))
        for state, gates in (("enabled", ()), ("disabled", GATE_OFF))
    ),
    *(
        Row(
            f"from zero without condition, HPAScaleToZero {state}",
            0,
            6,
            0,
            0,
            DISABLED,
            metrics=(object_qps("15.0"),),
            levels=(20000,),
            versions=V137,
            gates=gates,
        )
        for state, gates in (("enabled", ()), ("disabled", GATE_OFF))
    ),
    Row(
        "minReplicas increased with ScaledToZero condition, HPAScaleToZero enabled",
        2,
        6,
        0,
        2,
        [NOT_SCALED_TO_ZERO, *ok(TOO_FEW)],
        metrics=(object_qps("15.0"),),
        levels=(10000,),
        status_conditions=WAS_SCALED_TO_ZERO,
        versions=V137,
    ),
    Row(
        "minReplicas increased with ScaledToZero condition, HPAScaleToZero disabled",
        2,
        6,
        0,
        0,
        DISABLED,
        metrics=(object_qps("15.0"),),
        levels=(10000,),
        status_conditions=WAS_SCALED_TO_ZERO,
        versions=V137,
        gates=GATE_OFF,
    ),
    Row(
        "stale ScaledToZero condition cleared on normal rescale, HPAScaleToZero enabled",
        1,
        6,
        3,
        5,
        FROM_ZERO_OK,
        cpu_target=30,
        levels=(300, 500, 700),
        requests=one(3),
        status_conditions=WAS_SCALED_TO_ZERO,
        versions=V137,
    ),
    Row(
        "stale ScaledToZero condition removed on normal rescale, HPAScaleToZero disabled",
        1,
        6,
        3,
        5,
        STATUS_OK,
        cpu_target=30,
        levels=(300, 500, 700),
        requests=one(3),
        status_conditions=WAS_SCALED_TO_ZERO,
        versions=V137,
        gates=GATE_OFF,
    ),
    *(
        Row(
            f"manual scale to zero disables HPA, HPAScaleToZero {state}",
            1,
            6,
            0,
            0,
            DISABLED,
            cpu_target=50,
            versions=V137,
            gates=gates,
        )
        for state, gates in (("enabled", ()), ("disabled", GATE_OFF))
    ),
    Row(
        "no ScaledToZero condition when HPAScaleToZero disabled",
        1,
        6,
        3,
        5,
        STATUS_OK,
        cpu_target=30,
        levels=(300, 500, 700),
        requests=one(3),
        versions=V137,
        gates=GATE_OFF,
    ),
    # 1.37: TestConfigurableTolerance (the gate off is emulated as 1.36, as upstream does).
    Row(
        "scaling up because of a 1% configurable tolerance",
        1,
        5,
        3,
        4,
        cpu_target=100,
        levels=(1010, 1030, 1020),
        requests=("0.9", "1.0", "1.1"),
        scale_up=ScalingRules(tolerance=0.01),
        versions=("1.35", "1.36", "1.37"),
    ),
    Row(
        "no scale-down because of a 90% configurable tolerance",
        1,
        5,
        3,
        3,
        ok(READY),
        cpu_target=100,
        levels=(300, 300, 300),
        requests=one(3),
        scale_down=ScalingRules(tolerance=0.9),
        versions=V137,
    ),
    Row(
        "no scaling because of the large default tolerance",
        1,
        5,
        3,
        3,
        ok(READY),
        cpu_target=100,
        levels=(1010, 1030, 1020),
        requests=("0.9", "1.0", "1.1"),
        versions=V137,
    ),
    Row(
        "no scaling because the configurable tolerance is ignored when feature gate is disabled",
        1,
        5,
        3,
        3,
        ok(READY),
        cpu_target=100,
        levels=(1010, 1030, 1020),
        requests=("0.9", "1.0", "1.1"),
        scale_up=ScalingRules(tolerance=0.01),
        versions=("1.34", "1.36"),
        gates=(("HPAConfigurableTolerance", False),),
    ),
]


def run(row: Row, version: str | None = None) -> Decision:
    count = len(row.requests) if row.requests is not None else row.spec
    requests = row.requests if row.requests is not None else one(count)
    pod_list = pods(
        count,
        requests,
        row.readiness,
        row.start,
        row.phases,
        row.deleted,
        transition_at_start=True,
        split_requests=True,
    )
    custom = (
        ()
        if "custom" in row.failing
        else pods_metric("qps", row.levels)
        + ((object_metric("qps", row.levels[0]),) if row.levels else ())
    )
    cl = cluster(
        pod_list,
        ()
        if "resource" in row.failing
        else pod_metrics([[lvl // 2, lvl // 2] for lvl in row.levels], timestamp=NOW),
        custom,
        () if "external" in row.failing else external_metric("qps", row.levels),
    )
    behavior = Behavior(row.scale_up, row.scale_down) if row.scale_up or row.scale_down else None
    hpa = HorizontalPodAutoscaler(
        name="test-hpa",
        namespace=NAMESPACE,
        max_replicas=row.max_,
        metrics=((cpu(row.cpu_target),) if row.cpu_target else ()) + row.metrics,
        min_replicas=row.min_,
        behavior=behavior,
        conditions=row.status_conditions,
    )
    if row.recommendations is None:
        history = History()
    elif not row.recommendations:
        history = History((Recommendation(0, NOW - timedelta(days=1)),))
    else:
        history = History(
            tuple(Recommendation(r, NOW - timedelta(seconds=s)) for r, s in row.recommendations)
        )
    kube = release(version or row.versions[-1], dict(row.gates))
    options = replace(OPTIONS, kubernetes=kube)
    return decide(hpa, Scale(row.spec, row.selector), cl, history, options, NOW)


def expected_conditions(row: Row, version: str) -> list[Cond]:
    """The row's conditions; from 1.36 with HPAScaleToZero on, a rescale also records
    ScaledToZero=False (in place if the HPA had the condition, else appended)."""
    conds = list(STATUS_OK if row.conditions is None else row.conditions)
    kube = release(version, dict(row.gates))
    if kube.zero_rules and kube.scale_to_zero and row.expected != row.spec:
        if not any(c[0] == "ScaledToZero" for c in conds):
            conds.append(NOT_SCALED_TO_ZERO)
    return conds


CASES = [(row, v) for row in ROWS for v in row.versions]


@pytest.mark.parametrize(("row", "version"), CASES, ids=[f"{r.name}@{v}" for r, v in CASES])
def test_controller_decision(row: Row, version: str) -> None:
    decision = run(row, version)
    assert decision.desired_replicas == row.expected
    assert decision.rescale == (row.expected != row.spec)
    got = [(c.type, c.status, c.reason) for c in decision.conditions]
    assert got == expected_conditions(row, version)
    if row.cpu_current is not None:
        statuses = [m.current for m in decision.metrics if m.spec.resource == "cpu"]
        assert statuses and statuses[0] is not None
        assert statuses[0].average_utilization == row.cpu_current


def test_unchanged_status_keeps_the_given_conditions() -> None:
    """TestAvoidUnnecessaryUpdates: the status the controller would write is the same."""
    row = next(r for r in ROWS if r.name == "TestAvoidUnnecessaryUpdates")
    assert run(row).conditions == row.status_conditions


def test_messages_of_a_scale_up() -> None:
    decision = run(ROWS[0])
    assert [c.message for c in decision.conditions] == [
        "the HPA controller was able to update the target scale to 5",
        "the HPA was able to successfully calculate a replica count from cpu resource "
        "utilization (percentage of request)",
        "the desired count is within the acceptable range",
        "the HPA controller did not scale the workload to zero",
    ]
    assert len(run(ROWS[0], "1.34").conditions) == 3
    assert decision.metrics[0].current is not None
    assert decision.metrics[0].current.as_json() == {
        "averageValue": "500m",
        "averageUtilization": 50,
    }


@pytest.mark.parametrize(
    ("row_name", "message"),
    [
        (
            "TestScaleUpBothMetricsEmpty",
            "the HPA was unable to compute the replica count: unknown metric source type "
            '"CheddarCheese"',
        ),
        (
            "TestEmptyMetrics",
            "the HPA was unable to compute the replica count: failed to get cpu utilization: "
            "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
        ),
        (
            "TestEmptyCPURequest",
            "the HPA was unable to compute the replica count: failed to get cpu utilization: "
            "no pods returned by selector while calculating replica count",
        ),
        (
            "TestConditionFailedGetMetrics: FailedGetPodsMetric",
            "the HPA was unable to compute the replica count: unable to get metric qps: no metrics "
            "returned from custom metrics API",
        ),
        (
            "TestConditionFailedGetMetrics: FailedGetObjectMetric",
            "the HPA was unable to compute the replica count: unable to get metric qps on "
            "Deployment test-namespace/some-deployment: unable to fetch metrics from custom "
            "metrics API: the server could not find the metric qps for deployments.apps "
            "some-deployment",
        ),
        (
            "TestConditionFailedGetMetrics: FailedGetObjectMetric@1.34",
            "the HPA was unable to compute the replica count: unable to get metric qps: "
            "Deployment on test-namespace some-deployment/unable to fetch metrics from custom "
            "metrics API: the server could not find the metric qps for deployments.apps "
            "some-deployment",
        ),
        (
            "TestConditionFailedGetMetrics: FailedGetExternalMetric",
            "the HPA was unable to compute the replica count: unable to get external metric "
            "test-namespace/qps/&LabelSelector{MatchLabels:map[string]string{},MatchExpressions:"
            "[]LabelSelectorRequirement{},}: no metrics returned from external metrics API",
        ),
        ("TestConditionInvalidSelectorMissing", "the HPA target's scale is missing a selector"),
        (
            "TestConditionInvalidSelectorUnparsable",
            "couldn't convert selector into a corresponding internal selector object: unable to "
            "parse requirement: found 'cheese', expected: ",
        ),
        ("TestZeroReplicas", "scaling is disabled since the replica count of the target is zero"),
    ],
)
def test_messages_of_failures(row_name: str, message: str) -> None:
    """The texts of the conditions (1.37's, or the release after @); a selector's parse
    error is the shared parser's."""
    name, _, version = row_name.partition("@")
    row = next(r for r in ROWS if r.name == name)
    got = run(row, version or None).conditions[-1].message
    assert got.startswith(message) if message.endswith("expected: ") else got == message


def test_metric_entries_keep_spec_order_with_proposals_and_errors() -> None:
    row = next(r for r in ROWS if r.name == "TestScaleUpOneMetricEmpty")
    cpu_result, external_result = run(row).metrics
    assert (cpu_result.proposal, cpu_result.error) == (4, None)
    assert external_result.proposal is None
    assert external_result.error == (
        "failed to get qps external metric value: failed to get external metric qps: unable to "
        "get external metric test-namespace/qps/&LabelSelector{MatchLabels:map[string]string{},"
        "MatchExpressions:[]LabelSelectorRequirement{},}: no metrics returned from external "
        "metrics API"
    )


def test_largest_proposal_names_the_valid_metric() -> None:
    row = next(r for r in ROWS if r.name == "TestNoBackoffUpscaleCMNoBackoffCpu")
    decision = run(row)
    assert [m.proposal for m in decision.metrics] == [600, 4]
    assert decision.conditions[1].message.endswith(
        "from cpu resource utilization (percentage of request)"
    )


def test_first_decision_records_the_current_replicas() -> None:
    row = next(r for r in ROWS if r.name == "TestScaleDownStabilizeInitialSize")
    history = run(row).history
    assert [(r.replicas, r.timestamp) for r in history.recommendations] == [(5, NOW), (3, NOW)]


def test_scale_events_are_kept_only_with_behavior() -> None:
    with_behavior = run(next(r for r in ROWS if r.name == "TestUpscaleCap")).history
    assert with_behavior.scale_up_events == (ScaleEvent(21, NOW),)
    without = run(ROWS[0]).history
    assert without.scale_up_events == () and without.scale_down_events == ()
