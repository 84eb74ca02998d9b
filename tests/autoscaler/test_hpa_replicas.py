"""The replica calculator against Kubernetes' replica_calculator_test.go tables (release 1.34).

Each row is an upstream test case (named as upstream names it) with its inputs and
expected outputs; the fixtures build the same pods and metrics as upstream's fakes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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
    object_metric,
    pod_metrics,
    pods,
    pods_metric,
    same_levels,
)

from apiservice.selectors import parse_selector
from autoscaler.core.metricsource import RecordedMetrics, target_pods
from autoscaler.core.objects import (
    ZERO_TIME,
    Cluster,
    Container,
    CrossVersionObjectReference,
    Pod,
    PodCondition,
)
from autoscaler.core.replicas import (
    MAX_INT32,
    MAX_INT64,
    MIN_INT32,
    PodMetric,
    ReplicaCalculationError,
    ReplicaCalculator,
    Tolerances,
    calculate_requests,
    group_pods,
)
from autoscaler.core.versions import release

DEPLOYMENT = CrossVersionObjectReference("Deployment", "some-deployment", "apps/v1")
DEFAULT = Tolerances(0.1, 0.1)
# defaultTestingCPUInitializationPeriod and defaultTestingDelayOfInitialReadinessStatus
CPU_INIT = timedelta(minutes=2)
READINESS_DELAY = timedelta(seconds=10)


def calculator(cl: Cluster, version: str = "1.37") -> ReplicaCalculator:
    selector = parse_selector(SELECTOR)
    target = target_pods(cl, NAMESPACE, selector)
    return ReplicaCalculator(
        RecordedMetrics(cl, NAMESPACE, selector, target),
        target,
        NOW,
        CPU_INIT,
        READINESS_DELAY,
        release(version),
    )


@dataclass(frozen=True)
class ResourceRow:
    name: str
    current: int
    requests: list[str]
    levels: list[list[int]]
    target: int
    replicas: int = 0
    utilization: int = 0
    raw: int = 0
    readiness: list[str] | None = None
    start: list[datetime] | None = None
    phases: list[str] | None = None
    deleted: list[bool] | None = None
    container: str = ""
    metric_pod_names: list[str] = field(default_factory=list)
    tolerances: Tolerances = DEFAULT
    error: str = ""


def one_cpu(n: int) -> list[str]:
    return ["1.0"] * n


TRTT = ["True", "True", "False", "False"]
C2 = "container2"

RESOURCE_ROWS = [
    # TestReplicaCalcResourceScale
    ResourceRow("scale up", 3, one_cpu(3), same_levels(300, 500, 700), 30, 5, 50, 1000),
    ResourceRow(
        "scale up: container metric",
        3,
        one_cpu(3),
        [[1000, 300], [1000, 500], [1000, 700]],
        30,
        5,
        50,
        500,
        container=C2,
    ),
    ResourceRow(
        "scale up: unready pod scales less",
        3,
        one_cpu(3),
        same_levels(300, 500, 700),
        30,
        4,
        60,
        1200,
        readiness=["False", "True", "True"],
    ),
    ResourceRow(
        "scale up: hot-CPU container scales less",
        3,
        one_cpu(3),
        [[0, 300], [0, 500], [0, 700]],
        30,
        4,
        60,
        600,
        start=[hot(), cool(), cool()],
        container=C2,
    ),
    ResourceRow(
        "scale up: hot-CPU pod scales less",
        3,
        one_cpu(3),
        same_levels(300, 500, 700),
        30,
        4,
        60,
        1200,
        start=[hot(), cool(), cool()],
    ),
    ResourceRow(
        "no scale: unready pods ignored",
        3,
        one_cpu(3),
        same_levels(400, 500, 700),
        30,
        3,
        40,
        800,
        readiness=["True", "False", "False"],
    ),
    ResourceRow(
        "no scale: hot-CPU pods ignored",
        3,
        one_cpu(3),
        same_levels(400, 500, 700),
        30,
        3,
        40,
        800,
        readiness=["True", "False", "False"],
        start=[cool(), hot(), hot()],
    ),
    ResourceRow(
        "scale up: failed pods ignored",
        2,
        one_cpu(4),
        same_levels(500, 700),
        30,
        4,
        60,
        1200,
        readiness=TRTT,
        phases=["Running", "Running", "Failed", "Failed"],
    ),
    ResourceRow(
        "scale up: failed pods ignored with missing container metric",
        2,
        one_cpu(4),
        [[1000, 500], [9000, 700], [1000], [9000]],
        30,
        4,
        60,
        600,
        readiness=TRTT,
        phases=["Running", "Running", "Failed", "Failed"],
        container=C2,
    ),
    ResourceRow(
        "scale up: container metrics with failed pods ignored",
        2,
        one_cpu(4),
        [[1000, 500], [9000, 700]],
        30,
        4,
        60,
        600,
        readiness=TRTT,
        phases=["Running", "Running", "Failed", "Failed"],
        container=C2,
    ),
    ResourceRow(
        "scale up: pods being deleted are ignored",
        2,
        one_cpu(4),
        same_levels(500, 700),
        30,
        4,
        60,
        1200,
        readiness=TRTT,
        phases=["Running"] * 4,
        deleted=[False, False, True, True],
    ),
    ResourceRow(
        "scale up: container metrics with pods being deleted ignored",
        2,
        one_cpu(4),
        same_levels(500, 700),
        30,
        4,
        60,
        600,
        readiness=TRTT,
        phases=["Running"] * 4,
        deleted=[False, False, True, True],
        container="container1",
    ),
    ResourceRow("scale down", 5, one_cpu(5), same_levels(100, 300, 500, 250, 250), 50, 3, 28, 560),
    ResourceRow(
        "scale down: container metric",
        5,
        one_cpu(5),
        [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]],
        50,
        3,
        28,
        280,
        container=C2,
    ),
    ResourceRow(
        "scale down: exclude unready pods",
        5,
        one_cpu(5),
        same_levels(100, 300, 500, 250, 250),
        50,
        2,
        30,
        600,
        readiness=["True", "True", "True", "False", "False"],
    ),
    ResourceRow(
        "scale down: container metric excludes unready pods",
        5,
        one_cpu(5),
        [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]],
        50,
        2,
        30,
        300,
        readiness=["True", "True", "True", "False", "False"],
        container=C2,
    ),
    ResourceRow(
        "scale down: exclude unscheduled pods",
        5,
        one_cpu(5),
        same_levels(100),
        50,
        1,
        10,
        200,
        readiness=["True"] + ["False"] * 4,
        phases=["Running"] + ["Pending"] * 4,
    ),
    ResourceRow(
        "scale down: container metric excludes unscheduled pods",
        5,
        one_cpu(5),
        [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]],
        50,
        1,
        10,
        100,
        readiness=["True"] + ["False"] * 4,
        phases=["Running"] + ["Pending"] * 4,
        container=C2,
    ),
    ResourceRow(
        "scale down: ignore hot-CPU pods",
        5,
        one_cpu(5),
        same_levels(100, 300, 500, 250, 250),
        50,
        2,
        30,
        600,
        start=[cool(), cool(), cool(), hot(), hot()],
    ),
    ResourceRow(
        "scale down: container metric ignores hot-CPU pods",
        5,
        one_cpu(5),
        [[1000, 100], [1000, 300], [1000, 500], [1000, 1000], [1000, 1000]],
        50,
        2,
        30,
        300,
        start=[cool(), cool(), cool(), hot(), hot()],
        container=C2,
    ),
    ResourceRow(
        "scale down: failed pods ignored",
        5,
        one_cpu(7),
        same_levels(100, 300, 500, 250, 250),
        50,
        3,
        28,
        560,
        readiness=["True"] * 5 + ["False"] * 2,
        phases=["Running"] * 5 + ["Failed"] * 2,
    ),
    ResourceRow(
        "scale down: container metric with failed pods ignored",
        5,
        one_cpu(7),
        [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]],
        50,
        3,
        28,
        280,
        readiness=["True"] * 5 + ["False"] * 2,
        phases=["Running"] * 5 + ["Failed"] * 2,
        container=C2,
    ),
    ResourceRow(
        "scale down: pods being deleted are ignored",
        5,
        one_cpu(7),
        same_levels(100, 300, 500, 250, 250),
        50,
        3,
        28,
        560,
        readiness=["True"] * 5 + ["False"] * 2,
        phases=["Running"] * 7,
        deleted=[False] * 5 + [True] * 2,
    ),
    ResourceRow(
        "scale down: still-running pods being deleted are ignored",
        5,
        one_cpu(7),
        [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]],
        50,
        3,
        28,
        280,
        readiness=["True"] * 5 + ["False"] * 2,
        phases=["Running"] * 7,
        deleted=[False] * 5 + [True] * 2,
        container=C2,
    ),
    # The single-case tests of replica_calculator_test.go
    ResourceRow(
        "TestReplicaCalcDisjointResourcesMetrics",
        1,
        ["1.0"],
        same_levels(100),
        100,
        metric_pod_names=["an-older-pod-name"],
        error="no metrics returned matched known pods",
    ),
    ResourceRow(
        "TestReplicaCalcTolerance",
        3,
        ["0.9", "1.0", "1.1"],
        same_levels(1010, 1030, 1020),
        100,
        3,
        102,
        2040,
    ),
    ResourceRow(
        "TestReplicaCalcConfigurableTolerance: outside of a 0% tolerance",
        3,
        ["0.9", "1.0", "1.1"],
        same_levels(909, 1010, 1111),
        100,
        4,
        101,
        2020,
        tolerances=Tolerances(0.0, 0.0),
    ),
    ResourceRow(
        "TestReplicaCalcConfigurableTolerance: within a 200% scale-up tolerance",
        3,
        ["0.9", "1.0", "1.1"],
        same_levels(1890, 1910, 1900),
        100,
        3,
        190,
        3800,
        tolerances=Tolerances(0.1, 2.0),
    ),
    ResourceRow(
        "TestReplicaCalcConfigurableTolerance: outside 8% scale-up tolerance",
        3,
        ["0.9", "1.0", "1.1"],
        same_levels(1100, 1080, 1090),
        100,
        4,
        109,
        2180,
        tolerances=Tolerances(2.0, 0.08),
    ),
    ResourceRow(
        "TestReplicaCalcConfigurableTolerance: within a 36% scale-down tolerance",
        3,
        ["0.9", "1.0", "1.1"],
        same_levels(660, 640, 650),
        100,
        3,
        65,
        1300,
        tolerances=Tolerances(0.36, 0.1),
    ),
    ResourceRow(
        "TestReplicaCalcConfigurableTolerance: outside a 34% scale-down tolerance",
        3,
        ["0.9", "1.0", "1.1"],
        same_levels(660, 640, 650),
        100,
        2,
        65,
        1300,
        tolerances=Tolerances(0.34, 0.1),
    ),
    ResourceRow(
        "TestReplicaCalcSuperfluousMetrics",
        4,
        one_cpu(4),
        same_levels(4000, 9500, 3000, 7000, 3200, 2000),
        100,
        24,
        587,
        11750,
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetrics", 4, one_cpu(4), same_levels(400, 95), 100, 3, 24, 495
    ),
    ResourceRow(
        "TestReplicaCalcEmptyMetrics",
        4,
        one_cpu(3),
        [],
        100,
        error="unable to get metrics for resource cpu: no metrics returned from resource "
        "metrics API",
    ),
    ResourceRow(
        "TestReplicaCalcEmptyCPURequest",
        1,
        [],
        same_levels(200),
        100,
        error="missing request for",
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsNoChangeEq",
        2,
        one_cpu(2),
        same_levels(1000),
        100,
        2,
        100,
        2000,
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsNoChangeGt",
        2,
        one_cpu(2),
        same_levels(1900),
        100,
        2,
        190,
        3800,
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsNoChangeLt",
        2,
        one_cpu(2),
        same_levels(600),
        100,
        2,
        60,
        1200,
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsUnreadyChange",
        3,
        one_cpu(3),
        same_levels(100, 450),
        50,
        3,
        45,
        900,
        readiness=["False", "True", "True"],
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsHotCpuNoChange",
        3,
        one_cpu(3),
        same_levels(100, 450),
        50,
        3,
        45,
        900,
        start=[hot(), cool(), cool()],
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsUnreadyScaleUp",
        3,
        one_cpu(3),
        same_levels(100, 2000),
        50,
        4,
        200,
        4000,
        readiness=["False", "True", "True"],
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsHotCpuScaleUp",
        3,
        one_cpu(3),
        same_levels(100, 2000),
        50,
        4,
        200,
        4000,
        readiness=["False", "True", "True"],
        start=[hot(), cool(), cool()],
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsUnreadyScaleDown",
        4,
        one_cpu(4),
        same_levels(100, 100, 100),
        50,
        3,
        10,
        200,
        readiness=["False", "True", "True", "True"],
    ),
    ResourceRow(
        "TestReplicaCalcMissingMetricsScaleDownTargetOver100",
        4,
        ["1.0", "1.0", "2.0", "2.0"],
        same_levels(200, 100, 100),
        300,
        2,
        6,
        200,
        readiness=["False", "True", "True", "True"],
    ),
    ResourceRow(
        "TestReplicaCalcDuringRollingUpdateWithMaxSurge",
        2,
        one_cpu(3),
        same_levels(100, 100),
        50,
        2,
        10,
        200,
        phases=["Running"] * 3,
    ),
]


@pytest.mark.parametrize("row", RESOURCE_ROWS, ids=lambda r: r.name)
def test_resource_replicas(row: ResourceRow) -> None:
    cl = cluster(
        pods(row.current, row.requests, row.readiness, row.start, row.phases, row.deleted),
        pod_metrics(row.levels, row.metric_pod_names),
    )
    calc = calculator(cl)
    if row.error:
        with pytest.raises(ReplicaCalculationError, match=row.error):
            calc.resource_replicas(row.current, row.target, "cpu", row.tolerances, row.container)
        return
    got = calc.resource_replicas(row.current, row.target, "cpu", row.tolerances, row.container)
    assert (got.replicas, got.utilization, got.raw_value) == (
        row.replicas,
        row.utilization,
        row.raw,
    )


@pytest.mark.parametrize(("margin", "expect_scale"), [(0.01, True), (0.004, False)])
def test_computed_tolerance_alg_implementation(margin: float, expect_scale: bool) -> None:
    """TestReplicaCalcComputedToleranceAlgImplementation, both of its halves."""
    start_pods = 10
    total_used = start_pods * 150
    total_requested = 2 * total_used
    requested_to_used = float(total_requested // total_used)
    per_pod = total_requested // start_pods
    target = abs(1 / (requested_to_used * (1 - 0.1))) + margin
    target_percent = int(target * 100)
    used_ratio = total_used / (total_requested * target)
    final_pods = math.ceil(used_ratio * start_pods)
    offsets = [100, -100, 10, -10, 2, -2, 1, -1, 0, 0]
    cl = cluster(
        pods(start_pods, [f"{per_pod + d}m" for d in offsets]),
        pod_metrics(same_levels(*[total_used // 10] * 10)),
    )
    got = calculator(cl).resource_replicas(start_pods, target_percent, "cpu", DEFAULT)
    assert got.utilization == total_used * 100 // total_requested
    assert got.raw_value == 2 * total_used // 10
    assert got.replicas == (final_pods if expect_scale else start_pods)


@dataclass(frozen=True)
class MetricRow:
    name: str
    kind: str  # pods | object | object-per-pod | external | external-per-pod
    current: int
    levels: list[int]
    target: int
    replicas: int
    usage: int
    readiness: list[str] | None = None
    start: list[datetime] | None = None
    phases: list[str] | None = None
    tolerances: Tolerances = DEFAULT
    version: str = "1.37"


ONE_PERCENT_UP = Tolerances(0.1, 0.01)
METRIC_ROWS = [
    MetricRow("TestReplicaCalcScaleUpCM", "pods", 3, [20000, 10000, 30000], 15000, 4, 20000),
    MetricRow(
        "TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale",
        "pods",
        3,
        [50000, 10000, 30000],
        15000,
        6,
        30000,
        readiness=["True", "True", "False"],
        start=[cool(), cool(), hot()],
    ),
    MetricRow(
        "TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown",
        "pods",
        3,
        [50000, 15000, 30000],
        15000,
        7,
        31666,
        readiness=["False", "True", "False"],
        start=[hot(), cool(), hot()],
    ),
    MetricRow("TestReplicaCalcScaleUpCMObject", "object", 3, [20000], 15000, 4, 20000),
    MetricRow("TestReplicaCalcScaleUpCMPerPodObject", "object-per-pod", 3, [20000], 5000, 4, 6667),
    MetricRow(
        "TestReplicaCalcScaleUpCMObjectIgnoresUnreadyPods",
        "object",
        3,
        [50000],
        10000,
        5,
        50000,
        readiness=["False", "True", "False"],
    ),
    MetricRow(
        "TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods",
        "external",
        3,
        [8600],
        4400,
        2,
        8600,
        readiness=["False", "True", "False"],
    ),
    MetricRow(
        "TestReplicaCalcScaleUpPerPodCMExternal", "external-per-pod", 3, [8600], 2150, 4, 2867
    ),
    MetricRow("TestReplicaCalcScaleDownCM", "pods", 5, [12000] * 5, 20000, 3, 12000),
    MetricRow("TestReplicaCalcScaleDownPerPodCMObject", "object-per-pod", 5, [6000], 2000, 3, 1200),
    MetricRow("TestReplicaCalcScaleDownCMObject", "object", 5, [12000], 20000, 3, 12000),
    MetricRow("TestReplicaCalcScaleDownCMExternal", "external", 5, [8600], 14334, 3, 8600),
    MetricRow(
        "TestReplicaCalcScaleDownPerPodCMExternal", "external-per-pod", 5, [8600], 2867, 3, 1720
    ),
    MetricRow("TestReplicaCalcToleranceCM", "pods", 3, [20000, 21000, 21000], 20000, 3, 20666),
    MetricRow("TestReplicaCalcToleranceCMObject", "object", 3, [20666], 20000, 3, 20666),
    MetricRow(
        "TestReplicaCalcTolerancePerPodCMObject", "object-per-pod", 4, [20166], 5000, 4, 5042
    ),
    MetricRow("TestReplicaCalcToleranceCMExternal", "external", 3, [8600], 8888, 3, 8600),
    MetricRow(
        "TestReplicaCalcTolerancePerPodCMExternal", "external-per-pod", 3, [8600], 2900, 3, 2867
    ),
    MetricRow(
        "TestReplicaCalcConfigurableToleranceCM",
        "pods",
        3,
        [20000, 21000, 21000],
        20000,
        4,
        20666,
        tolerances=ONE_PERCENT_UP,
    ),
    MetricRow(
        "TestReplicaCalcConfigurableToleranceCMObject",
        "object",
        3,
        [20666],
        20000,
        4,
        20666,
        tolerances=ONE_PERCENT_UP,
    ),
    MetricRow(
        "TestReplicaCalcConfigurableTolerancePerPodCMObject",
        "object-per-pod",
        4,
        [20208],
        5000,
        5,
        5052,
        tolerances=ONE_PERCENT_UP,
    ),
    MetricRow(
        "TestReplicaCalcConfigurableToleranceCMExternal",
        "external",
        3,
        [8900],
        8800,
        4,
        8900,
        tolerances=ONE_PERCENT_UP,
    ),
    MetricRow(
        "TestReplicaCalcConfigurableTolerancePerPodCMExternal",
        "external-per-pod",
        3,
        [8600],
        2800,
        4,
        2867,
        tolerances=ONE_PERCENT_UP,
    ),
    MetricRow(
        "TestPlainMetricReplicaCalcMissingMetricsNoChangeEq",
        "pods",
        5,
        [20000, 19000, 21000],
        20000,
        5,
        20000,
    ),
    MetricRow(
        "TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM",
        "pods",
        2,
        [10000, 10000],
        17000,
        2,
        10000,
        phases=["Running"] * 3,
    ),
    MetricRow("TestReplicaCalcScaleUpOverflow", "object", 3, [MAX_INT64], 1, MAX_INT32, MAX_INT64),
    MetricRow(
        "TestExternalPerPodMetricReplicaOverflow",
        "external-per-pod",
        1,
        [MAX_INT64],
        1,
        MAX_INT32,
        MAX_INT64,
    ),
    MetricRow(
        "TestExternalPerPodMetricUsageOverflow",
        "external-per-pod",
        1,
        [MAX_INT64],
        MAX_INT64,
        1,
        MAX_INT64,
    ),
    MetricRow(
        "TestReplicaCalcExternalMetricUsageOverflow",
        "external",
        3,
        [MAX_INT64 // 2 + 1, MAX_INT64 // 2 + 1],
        MAX_INT64,
        3,
        MAX_INT64,
    ),
    # 1.34 did not saturate: int32(math.Ceil(x)) of an out-of-range x is MinInt32 on amd64,
    # and the External sum wrapped to MinInt64 (a ratio of about -1: ceil(-1 x 3) = -3).
    MetricRow(
        "TestReplicaCalcScaleUpOverflow@1.34",
        "object",
        3,
        [MAX_INT64],
        1,
        MIN_INT32,
        MAX_INT64,
        version="1.34",
    ),
    MetricRow(
        "TestReplicaCalcExternalMetricUsageOverflow@1.34",
        "external",
        3,
        [MAX_INT64 // 2 + 1, MAX_INT64 // 2 + 1],
        MAX_INT64,
        -3,
        -(2**63),
        version="1.34",
    ),
]


@pytest.mark.parametrize("row", METRIC_ROWS, ids=lambda r: r.name)
def test_metric_replicas(row: MetricRow) -> None:
    custom = ()
    external = ()
    if row.kind == "pods":
        custom = pods_metric("qps", row.levels)
    elif row.kind.startswith("object"):
        custom = (object_metric("qps", row.levels[0]),)
    else:
        external = external_metric("qps", row.levels)
    cl = cluster(
        pods(row.current, None, row.readiness, row.start, row.phases),
        custom=custom,
        external=external,
    )
    calc = calculator(cl, row.version)
    t, n = row.tolerances, NAMESPACE
    got = {
        "pods": lambda: calc.metric_replicas(row.current, row.target, "qps", t),
        "object": lambda: calc.object_metric_replicas(
            row.current, row.target, "qps", t, n, DEPLOYMENT
        ),
        "object-per-pod": lambda: calc.object_per_pod_metric_replicas(
            row.current, row.target, "qps", t, n, DEPLOYMENT
        ),
        "external": lambda: calc.external_metric_replicas(
            row.current, row.target, "qps", t, n, None
        ),
        "external-per-pod": lambda: calc.external_per_pod_metric_replicas(
            row.current, row.target, "qps", t, n, None
        ),
    }[row.kind]()
    assert got == (row.replicas, row.usage)


def test_object_metric_from_zero_ignores_tolerance_and_pods() -> None:
    """getUsageRatioReplicaCount with no replicas: the ratio alone, rounded up."""
    cl = cluster((), custom=(object_metric("qps", 1000),))
    assert calculator(cl).object_metric_replicas(
        0, 1000, "qps", DEFAULT, NAMESPACE, DEPLOYMENT
    ) == (
        1,
        1000,
    )


def test_object_metric_without_pods_fails_outside_tolerance() -> None:
    cl = cluster((), custom=(object_metric("qps", 50000),))
    with pytest.raises(ReplicaCalculationError, match="unable to calculate ready pods: no pods"):
        calculator(cl).object_metric_replicas(3, 1000, "qps", DEFAULT, NAMESPACE, DEPLOYMENT)


def _pod(
    name: str,
    phase: str = "Succeeded",
    start: datetime | None = None,
    ready: PodCondition | None = None,
    deleted: bool = False,
) -> Pod:
    return Pod(name=name, phase=phase, start_time=start, ready=ready, deleted=deleted)


def _metric(
    value: int, timestamp: datetime | None = None, window: timedelta | None = None
) -> PodMetric:
    return PodMetric(value, timestamp or ZERO_TIME, window or timedelta(0))


MIN = timedelta(minutes=1)
SEC = timedelta(seconds=1)
GROUP_ROWS = [
    # (name, pods, metrics, resource, ready count, unready, missing, ignored)
    ("void", [], {}, "cpu", 0, set(), set(), set()),
    (
        "count in a ready pod - memory",
        [_pod("bentham")],
        {"bentham": _metric(1, NOW, MIN)},
        "memory",
        1,
        set(),
        set(),
        set(),
    ),
    (
        "unready a pod without ready condition - CPU",
        [_pod("lucretius", start=NOW)],
        {"lucretius": _metric(1)},
        "cpu",
        0,
        {"lucretius"},
        set(),
        set(),
    ),
    (
        "count in a ready pod with fresh metrics during initialization period - CPU",
        [_pod("bentham", start=NOW - MIN, ready=PodCondition("True", NOW - 30 * SEC))],
        {"bentham": _metric(1, NOW, 30 * SEC)},
        "cpu",
        1,
        set(),
        set(),
        set(),
    ),
    (
        "unready a ready pod without fresh metrics during initialization period - CPU",
        [_pod("bentham", start=NOW - MIN, ready=PodCondition("True", NOW - 30 * SEC))],
        {"bentham": _metric(1, NOW, 60 * SEC)},
        "cpu",
        0,
        {"bentham"},
        set(),
        set(),
    ),
    (
        "unready an unready pod during initialization period - CPU",
        [_pod("lucretius", start=NOW - 10 * MIN, ready=PodCondition("False", NOW - 594 * SEC))],
        {"lucretius": _metric(1)},
        "cpu",
        0,
        {"lucretius"},
        set(),
        set(),
    ),
    (
        "count in a ready pod without fresh metrics after initialization period - CPU",
        [_pod("bentham", start=NOW - 3 * MIN, ready=PodCondition("True", NOW - 3 * MIN))],
        {"bentham": _metric(1, NOW - 2 * MIN, MIN)},
        "cpu",
        1,
        set(),
        set(),
        set(),
    ),
    (
        "count in an unready pod that was ready after initialization period - CPU",
        [_pod("lucretius", start=NOW - 10 * MIN, ready=PodCondition("False", NOW - 9 * MIN))],
        {"lucretius": _metric(1)},
        "cpu",
        1,
        set(),
        set(),
        set(),
    ),
    (
        "unready pod that has never been ready after initialization period - CPU",
        [_pod("lucretius", start=NOW - 10 * MIN, ready=PodCondition("False", NOW - 590 * SEC))],
        {"lucretius": _metric(1)},
        "cpu",
        1,
        set(),
        set(),
        set(),
    ),
    (
        "a missing pod",
        [_pod("epicurus", start=NOW - 3 * MIN)],
        {},
        "cpu",
        0,
        set(),
        {"epicurus"},
        set(),
    ),
    (
        "several pods",
        [
            _pod("lucretius", start=NOW),
            _pod("niccolo", start=NOW - 3 * MIN, ready=PodCondition("True", NOW - 3 * MIN)),
            _pod("epicurus", start=NOW - 3 * MIN),
        ],
        {"lucretius": _metric(1), "niccolo": _metric(1)},
        "cpu",
        1,
        {"lucretius"},
        {"epicurus"},
        set(),
    ),
    (
        "pending pods are unreadied",
        [_pod("unscheduled", "Pending")],
        {},
        "cpu",
        0,
        {"unscheduled"},
        set(),
        set(),
    ),
    (
        "ignore pods with deletion timestamps",
        [_pod("deleted", "Pending", deleted=True)],
        {"deleted": _metric(1)},
        "cpu",
        0,
        set(),
        set(),
        {"deleted"},
    ),
    (
        "ignore pods in a failed state",
        [_pod("failed", "Failed")],
        {"failed": _metric(1)},
        "cpu",
        0,
        set(),
        set(),
        {"failed"},
    ),
]


@pytest.mark.parametrize(
    ("name", "pod_list", "metrics", "resource", "ready", "unready", "missing", "ignored"),
    GROUP_ROWS,
    ids=[row[0] for row in GROUP_ROWS],
)
def test_group_pods(
    name: str,
    pod_list: list[Pod],
    metrics: dict[str, PodMetric],
    resource: str,
    ready: int,
    unready: set[str],
    missing: set[str],
    ignored: set[str],
) -> None:
    """TestGroupPods."""
    got = group_pods(pod_list, metrics, resource, CPU_INIT, READINESS_DELAY, NOW)
    assert (got.ready_count, set(got.unready), set(got.missing), set(got.ignored)) == (
        ready,
        unready,
        missing,
        ignored,
    )


def _requests_pod(
    containers: list[Container],
    pod_level: dict[str, int] | None = None,
    init: list[Container] | None = None,
) -> Pod:
    return Pod(
        "test-pod",
        containers=tuple(containers),
        requests=pod_level,
        init_containers=tuple(init or ()),
    )


C1_100 = Container("container1", {"cpu": 100})
C2_50 = Container("container2", {"cpu": 50})
REQUEST_ROWS = [
    ("void", [], "", {}, None),
    ("Sum container requests", [_requests_pod([C1_100, C2_50])], "", {"test-pod": 150}, None),
    (
        "Pod-level resources override container requests when pod resources specified",
        [_requests_pod([C1_100, C2_50], {"cpu": 800})],
        "",
        {"test-pod": 800},
        None,
    ),
    (
        "Fail if at least one of the containers is missing requests and pod-level requests are "
        "not set",
        [_requests_pod([Container("container1"), C2_50])],
        "",
        None,
        "missing request for cpu in container container1 of Pod test-pod",
    ),
    (
        "Pod-level resources override missing container requests when pod resources specified",
        [_requests_pod([Container("container1"), C2_50], {"cpu": 800})],
        "",
        {"test-pod": 800},
        None,
    ),
    (
        "Container: if a container name is specified, calculate requests only for that container",
        [_requests_pod([C1_100, C2_50])],
        "container1",
        {"test-pod": 100},
        None,
    ),
    (
        "Container: a named container ignores pod-level requests",
        [_requests_pod([C1_100, C2_50], {"cpu": 800})],
        "container1",
        {"test-pod": 100},
        None,
    ),
    (
        "pod with restartable init containers",
        [
            _requests_pod(
                [C1_100],
                init=[
                    Container("init-container1", {"cpu": 20}),
                    Container("restartable-container1", {"cpu": 50}, "Always"),
                ],
            )
        ],
        "",
        {"test-pod": 150},
        None,
    ),
    (
        "TestCalculatePodRequestsFromContainers_NonExistentContainer",
        [_requests_pod([C1_100])],
        "non-existent-container",
        None,
        "container non-existent-container not found in Pod test-pod",
    ),
]


@pytest.mark.parametrize(
    ("name", "pod_list", "container", "expected", "error"),
    REQUEST_ROWS,
    ids=[row[0] for row in REQUEST_ROWS],
)
def test_calculate_requests(
    name: str,
    pod_list: list[Pod],
    container: str,
    expected: dict[str, int] | None,
    error: str | None,
) -> None:
    """TestCalculateRequests (PodLevelResources on, as in 1.34)."""
    if error:
        with pytest.raises(ReplicaCalculationError) as info:
            calculate_requests(pod_list, container, "cpu")
        assert str(info.value) == error
        return
    assert calculate_requests(pod_list, container, "cpu") == expected


def test_calculate_requests_of_1_34_and_without_pod_level_resources() -> None:
    """1.34 summed the named container's request over no container: 0, no error; with
    PodLevelResources off, the containers' requests count even where the pod sets its own."""
    assert calculate_requests(
        [_requests_pod([C1_100])], "non-existent-container", "cpu", release("1.34")
    ) == {"test-pod": 0}
    off = release("1.37", {"PodLevelResources": False})
    pod = _requests_pod([C1_100, C2_50], {"cpu": 800})
    assert calculate_requests([pod], "", "cpu", off) == {"test-pod": 150}
    assert calculate_requests([pod], "", "cpu") == {"test-pod": 800}


@pytest.mark.parametrize(
    ("ratio", "tolerances", "within"),
    [
        (1.1, DEFAULT, True),  # 1.34 compares against 1+t, not |1-r| <= t
        (0.9, DEFAULT, True),
        (1.1000001, DEFAULT, False),
        (0.8999999, DEFAULT, False),
        (1.5, Tolerances(0.1, 0.5), True),
        (0.7, Tolerances(0.1, 0.5), False),
    ],
)
def test_tolerance_band(ratio: float, tolerances: Tolerances, within: bool) -> None:
    assert tolerances.is_within(ratio) is within
