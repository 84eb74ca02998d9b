"""The example cases under cases/: the seed service's two HPAs in several situations.

HPA "queue" (shared/seeds/README.md): Pods http_requests_waiting AverageValue 50, cpu 70%,
memory 80%, min 2, max 20; scaleUp window 0 with Percent 100/60s and Pods 4/60s (Max),
scaleDown window 300 with Percent 20/60s. HPA "latency": Object
ai_llm_response_time_p99_seconds Value 5 on Deployment ai-service, min 2, max 20, no
behavior. Every pod requests 2 CPU and 4Gi. Each expectation is derived by hand from
the upstream code, next to its case; the whole output is compared. The cases written for
1.34 say so (options.kubernetesVersion) where 1.37 answers differently; 1.37's answer to
them is checked too, and the last three cases are 1.37's tolerance and scale to zero.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autoscaler.cases import evaluate, evaluate_file, main

CASES = Path(__file__).parent / "cases"

RESCALED = "the HPA controller was able to update the target scale to {}"
FOUND = "the HPA was able to successfully calculate a replica count from {}"
WITHIN = ("DesiredWithinRange", "the desired count is within the acceptable range")
UP_LIMIT = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
)
DOWN_LIMIT = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
)
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent "
    "recommendation",
)
QUEUE = "pods metric http_requests_waiting"
LATENCY = "Deployment metric ai_llm_response_time_p99_seconds"
P99 = "ai_llm_response_time_p99_seconds"


def conditions(able: tuple[str, str], active: str, limited: tuple[bool, str, str]) -> list:
    status, reason, message = limited
    return [
        {"type": "AbleToScale", "status": "True", "reason": able[0], "message": able[1]},
        {
            "type": "ScalingActive",
            "status": "True",
            "reason": "ValidMetricFound",
            "message": FOUND.format(active),
        },
        {
            "type": "ScalingLimited",
            "status": "True" if status else "False",
            "reason": reason,
            "message": message,
        },
    ]


NOT_SCALED_TO_ZERO = {
    "type": "ScaledToZero",
    "status": "False",
    "reason": "NotScaledToZero",
    "message": "the HPA controller did not scale the workload to zero",
}
SCALED_TO_ZERO = {
    "type": "ScaledToZero",
    "status": "True",
    "reason": "ScaledToZero",
    "message": "the HPA controller scaled the workload to zero",
}


def rescaled(n: int) -> tuple[str, str]:
    return ("SucceededRescale", RESCALED.format(n))


def metric(type_: str, name: str, proposal: int | None, current: dict | None, error=None) -> dict:
    return {"type": type_, "name": name, "proposal": proposal, "current": current, "error": error}


def queue_metrics(pods: tuple, cpu: tuple, memory: tuple) -> list:
    return [
        metric("Pods", "http_requests_waiting", pods[0], {"averageValue": pods[1]}),
        metric("Resource", "cpu", cpu[0], {"averageValue": cpu[1], "averageUtilization": cpu[2]}),
        metric(
            "Resource",
            "memory",
            memory[0],
            {"averageValue": memory[1], "averageUtilization": memory[2]},
        ),
    ]


# 1638Mi of 4Gi is 1717567488 bytes: 39% after Go's integer division, ratio 39/80.
MEM_39 = "1717567488"

EXPECTED: dict[str, dict[str, Any]] = {
    # 4 pods wait 150 each: 150/50 = 3.0 -> ceil(3 x 4) = 12. CPU 1.2 of 2 = 60%, 60/70 ->
    # ceil(0.857 x 4) = 4; memory 2Gi of 4Gi = 50%, 50/80 -> ceil(0.625 x 4) = 3. Largest
    # 12 (the first metric names the condition). Scale-up window 0: nothing stabilizes; the
    # down window's highest is 12. Policies over the last 60s started at 4 - 2 = 2 replicas:
    # Percent 100 -> 4, Pods 4 -> 6, Max -> 6 < maxReplicas 20: ScaleUpLimit, 6.
    "queue-scale-up-limited-by-policy": {
        "desiredReplicas": 6,
        "metrics": queue_metrics((12, "150"), (4, "1200m", 60), (3, "2147483648", 50)),
        "conditions": conditions(rescaled(6), QUEUE, (True, *UP_LIMIT)),
    },
    # 8 pods: 20/50 -> ceil(0.4 x 8) = 4; CPU 30%/70 -> ceil(3.43) = 4; memory 39/80 ->
    # ceil(3.9) = 4. The scale-down window (300s) holds 8 and 7: the highest, 8, is kept.
    "queue-scale-down-stabilized": {
        "desiredReplicas": 8,
        "metrics": queue_metrics((4, "20"), (4, "600m", 30), (4, MEM_39, 39)),
        "conditions": conditions(DOWN_STABILIZED, QUEUE, (False, *WITHIN)),
    },
    # 10 pods: 10/50 -> 2; CPU 10%/70 -> ceil(1.43) = 2; memory 819Mi = 19%, 19/80 ->
    # ceil(2.375) = 3, the largest, so memory names the condition. The only recommendation
    # is 7 minutes old. Percent 20 per 60s from 10: int(10 x 0.8) = 8: ScaleDownLimit.
    "queue-scale-down-limited-by-policy": {
        "desiredReplicas": 8,
        "metrics": queue_metrics((2, "10"), (2, "200m", 10), (3, "858783744", 19)),
        "conditions": conditions(
            rescaled(8),
            "memory resource utilization (percentage of request)",
            (True, *DOWN_LIMIT),
        ),
    },
    # Only 2 of 4 pods report http_requests_waiting (120 each): 120/50 = 2.4 is a scale-up,
    # so the 2 missing pods count as 0: 240/4 = 60, 60/50 = 1.2 -> ceil(1.2 x 4) = 5. CPU
    # 50%/70 -> 3, memory 39/80 -> 2. No history: the first decision records 4 now.
    # Policies allow max(4 x 2, 4 + 4) = 8 >= 5.
    "queue-missing-pods": {
        "desiredReplicas": 5,
        "metrics": queue_metrics((5, "120"), (3, "1", 50), (2, MEM_39, 39)),
        "conditions": conditions(rescaled(5), QUEUE, (False, *WITHIN)),
    },
    # Two pods started 60s ago and are not Ready: within the CPU initialization period,
    # their CPU samples are ignored. The ready pods use 1.8 of 2 CPU = 90%, 90/70 > 1, so
    # the unready pods count as 0: 3600m of 8000m = 45%, 45/70 < 1 flips the direction and
    # the CPU proposal stays at 4 (not ceil(1.29 x 4) = 6). Queue 40/50 = 0.8 -> 4 (the Pods
    # metric ignores readiness), memory -> 2. Largest 4 = current: nothing changes.
    "queue-unready-pods-cpu": {
        "desiredReplicas": 4,
        "metrics": queue_metrics((4, "40"), (4, "1800m", 90), (2, MEM_39, 39)),
        "conditions": conditions(
            ("ReadyForNewScale", "recommended size matches current size"),
            QUEUE,
            (False, *WITHIN),
        ),
    },
    # 25 replicas, above maxReplicas: set to 20 without reading any metric.
    "queue-above-max": {
        "desiredReplicas": 20,
        "metrics": [
            metric("Pods", "http_requests_waiting", None, None),
            metric("Resource", "cpu", None, None),
            metric("Resource", "memory", None, None),
        ],
        "conditions": [
            {
                "type": "AbleToScale",
                "status": "True",
                "reason": "SucceededRescale",
                "message": RESCALED.format(20),
            },
        ],
    },
    # No value for the Object metric: the adapter's 404, in the controller's (quirky)
    # error format. The only metric failed: no scaling, desired = current.
    "latency-metric-failed": {
        "desiredReplicas": 3,
        "metrics": [
            metric(
                "Object",
                P99,
                None,
                None,
                "failed to get object metric value: unable to get metric "
                "ai_llm_response_time_p99_seconds: Deployment on ai-platform ai-service/unable "
                "to fetch metrics from custom metrics API: the server could not find the metric "
                "ai_llm_response_time_p99_seconds for deployments.apps ai-service",
            )
        ],
        "conditions": [
            {
                "type": "AbleToScale",
                "status": "True",
                "reason": "SucceededGetScale",
                "message": "the HPA controller was able to get the target's current scale",
            },
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "FailedGetObjectMetric",
                "message": "the HPA was unable to compute the replica count: unable to get metric "
                "ai_llm_response_time_p99_seconds: Deployment on ai-platform ai-service/unable to "
                "fetch metrics from custom metrics API: the server could not find the metric "
                "ai_llm_response_time_p99_seconds for deployments.apps ai-service",
            },
        ],
    },
    # p99 22s against 5s: 4.4 x 3 ready pods -> ceil(13.2) = 14. Without behavior the
    # scale-up limit is max(2 x 3, 4) = 6 < maxReplicas 20: ScaleUpLimit, 6.
    "latency-scale-up-fixed-limit": {
        "desiredReplicas": 6,
        "metrics": [metric("Object", P99, 14, {"value": "22"})],
        "conditions": conditions(rescaled(6), LATENCY, (True, *UP_LIMIT)),
    },
    # 4.4 x 12 -> ceil(52.8) = 53; the limit max(24, 4) = 24 is above maxReplicas 20, so
    # maxReplicas limits: TooManyReplicas, 20.
    "latency-max-clamp": {
        "desiredReplicas": 20,
        "metrics": [metric("Object", P99, 53, {"value": "22"})],
        "conditions": conditions(rescaled(20), LATENCY, (True, *TOO_MANY)),
    },
    # 0.5s against 5s: 0.1 x 3 -> ceil(0.3) = 1; the only recommendation (3) is older than
    # the 300s window, so 1 stands, below minReplicas 2: TooFewReplicas, 2.
    "latency-min-clamp": {
        "desiredReplicas": 2,
        "metrics": [metric("Object", P99, 1, {"value": "500m"})],
        "conditions": conditions(rescaled(2), LATENCY, (True, *TOO_FEW)),
    },
    # 2.5s against 5s: 0.5 x 6 = 3; the window holds 6 and 5: the highest, 6, is kept.
    "latency-scale-down-stabilized": {
        "desiredReplicas": 6,
        "metrics": [metric("Object", P99, 3, {"value": "2500m"})],
        "conditions": conditions(DOWN_STABILIZED, LATENCY, (False, *WITHIN)),
    },
    # behavior.scaleUp.tolerance 0.01: p99 5.1s against 5s is a 2% rise, outside 1 + 0.01:
    # ceil(1.02 x 6) = 7 (the default 0.1 would keep 6). Default scale-up policies allow it.
    "latency-scale-up-tolerance": {
        "desiredReplicas": 7,
        "metrics": [metric("Object", P99, 7, {"value": "5100m"})],
        "conditions": [*conditions(rescaled(7), LATENCY, (False, *WITHIN)), NOT_SCALED_TO_ZERO],
    },
    # minReplicas 0, p99 0 (no traffic): ceil(0 x 2) = 0; the only recommendation is older
    # than the 300s window, so 0 stands: the controller records ScaledToZero=True.
    "latency-idle-scales-to-zero": {
        "desiredReplicas": 0,
        "metrics": [metric("Object", P99, 0, {"value": "0"})],
        "conditions": [*conditions(rescaled(0), LATENCY, (False, *WITHIN)), SCALED_TO_ZERO],
    },
    # At zero with ScaledToZero=True and an Object metric: from zero the proposal is the
    # ratio alone, ceil(12 / 5) = 3; the fixed limit max(2 x 0, 4) = 4 allows it. The
    # condition (first in the HPA's list) turns False.
    "latency-wakes-from-zero": {
        "desiredReplicas": 3,
        "metrics": [metric("Object", P99, 3, {"value": "12"})],
        "conditions": [NOT_SCALED_TO_ZERO, *conditions(rescaled(3), LATENCY, (False, *WITHIN))],
    },
}


def test_every_case_file_has_an_expectation() -> None:
    assert sorted(p.stem for p in CASES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_case(name: str) -> None:
    assert evaluate_file(str(CASES / f"{name}.json")) == EXPECTED[name]


def test_all_cases_at_once_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(CASES / f"{name}.json") for name in sorted(EXPECTED)]
    assert main(paths) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.pop("case") for line in lines] == paths
    assert lines == [EXPECTED[name] for name in sorted(EXPECTED)]


def as_release(name: str, version: str) -> dict[str, Any]:
    case = json.loads((CASES / f"{name}.json").read_text())
    case.setdefault("options", {})["kubernetesVersion"] = version
    return evaluate(case)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_case_as_1_37(name: str) -> None:
    """1.37 decides as 1.34 did, records ScaledToZero=False on a rescale, and words the
    Object metric's error its own way."""
    expected = json.loads(json.dumps(EXPECTED[name]))
    conds = expected["conditions"]
    if conds[0]["reason"] == "SucceededRescale" and not any(
        c["type"] == "ScaledToZero" for c in conds
    ):
        conds.append(NOT_SCALED_TO_ZERO)
    old = (
        "unable to get metric ai_llm_response_time_p99_seconds: Deployment on ai-platform "
        "ai-service/unable"
    )
    new = (
        "unable to get metric ai_llm_response_time_p99_seconds on Deployment "
        "ai-platform/ai-service: unable"
    )
    text = json.dumps(expected).replace(old, new)
    assert as_release(name, "1.37") == json.loads(text)


def test_the_new_cases_as_1_34() -> None:
    """1.34 ignores behavior's tolerance, and scales up from zero whenever minReplicas is
    0 without touching the ScaledToZero condition it does not know."""
    tolerance = as_release("latency-scale-up-tolerance", "1.34")
    assert tolerance["desiredReplicas"] == 6
    assert [c["reason"] for c in tolerance["conditions"]] == [
        "ReadyForNewScale",
        "ValidMetricFound",
        "DesiredWithinRange",
    ]
    assert as_release("latency-scale-up-tolerance", "1.35")["desiredReplicas"] == 7
    wakes = as_release("latency-wakes-from-zero", "1.34")
    assert wakes["desiredReplicas"] == 3
    assert wakes["conditions"][0] == SCALED_TO_ZERO
    assert as_release("latency-idle-scales-to-zero", "1.34")["conditions"][-1]["type"] == (
        "ScalingLimited"
    )


def test_a_release_without_the_gate_leaves_zero_alone() -> None:
    """1.36 has the rules but HPAScaleToZero is off: at zero, scaling is disabled and the
    controller drops the ScaledToZero condition; the gate on makes it wake up."""
    off = as_release("latency-wakes-from-zero", "1.36")
    assert off["desiredReplicas"] == 0
    assert [c["reason"] for c in off["conditions"]] == ["SucceededGetScale", "ScalingDisabled"]
    case = json.loads((CASES / "latency-wakes-from-zero.json").read_text())
    case["options"] = {"kubernetesVersion": "1.36", "featureGates": {"HPAScaleToZero": True}}
    assert evaluate(case)["desiredReplicas"] == 3


def test_per_pod_object_target_divides_by_the_status_replicas() -> None:
    """GetObjectPerPodMetricReplicas divides by status.currentReplicas: right after the
    rescale to zero it is still 2 (12 / 2 = 6 per pod); at zero, 12 / 0 is +Inf and Go's
    int64 of it MinInt64, which the controller writes. The proposal is ceil(12 / 4) = 3."""
    case = json.loads((CASES / "latency-wakes-from-zero.json").read_text())
    case["hpa"]["spec"]["metrics"][0]["object"]["target"] = {
        "type": "AverageValue",
        "averageValue": "4",
    }
    for status_replicas, current in ((2, "6"), (0, "-9223372036854775808m")):
        case["hpa"]["status"]["currentReplicas"] = status_replicas
        (result,) = evaluate(case)["metrics"]
        assert (result["proposal"], result["current"]) == (3, {"averageValue": current})
