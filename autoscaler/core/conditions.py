"""HPA status conditions: the controller's types, reasons and message texts.

The texts are Kubernetes' own (pkg/controller/podautoscaler/horizontal.go), because
`kubectl describe hpa` shows them and people search for them.
"""

from __future__ import annotations

from dataclasses import dataclass

ABLE_TO_SCALE = "AbleToScale"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"
SCALED_TO_ZERO = "ScaledToZero"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }


def set_condition(
    conditions: list[Condition], type_: str, status: bool, reason: str, message: str
) -> None:
    """setConditionInList: replace the condition of that type in place, or append it."""
    new = Condition(type_, "True" if status else "False", reason, message)
    for i, existing in enumerate(conditions):
        if existing.type == type_:
            conditions[i] = new
            return
    conditions.append(new)


def remove_condition(conditions: list[Condition], type_: str) -> None:
    """removeCondition: drop the condition of that type, if any."""
    conditions[:] = [x for x in conditions if x.type != type_]


def scaled_to_zero(status: bool) -> tuple[str, str]:
    """The ScaledToZero condition (HPAScaleToZero, 1.36 on), written on every rescale."""
    if status:
        return ("ScaledToZero", "the HPA controller scaled the workload to zero")
    return ("NotScaledToZero", "the HPA controller did not scale the workload to zero")


SUCCEEDED_GET_SCALE = (
    "SucceededGetScale",
    "the HPA controller was able to get the target's current scale",
)
READY_FOR_NEW_SCALE = ("ReadyForNewScale", "recommended size matches current size")
SCALE_DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent "
    "recommendation",
)
SCALE_UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
SCALING_DISABLED = (
    "ScalingDisabled",
    "scaling is disabled since the replica count of the target is zero",
)
MISSING_SELECTOR = ("InvalidSelector", "the HPA target's scale is missing a selector")
SCALE_UP_LIMIT = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
)
SCALE_DOWN_LIMIT = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
)
TOO_MANY_REPLICAS = (
    "TooManyReplicas",
    "the desired replica count is more than the maximum replica count",
)
TOO_FEW_REPLICAS = (
    "TooFewReplicas",
    "the desired replica count is less than the minimum replica count",
)
DESIRED_WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")


def succeeded_rescale(replicas: int) -> tuple[str, str]:
    return (
        "SucceededRescale",
        f"the HPA controller was able to update the target scale to {replicas}",
    )


def valid_metric_found(metric: str) -> tuple[str, str]:
    return (
        "ValidMetricFound",
        f"the HPA was able to successfully calculate a replica count from {metric}",
    )


def invalid_selector(err: str) -> tuple[str, str]:
    return (
        "InvalidSelector",
        f"couldn't convert selector into a corresponding internal selector object: {err}",
    )


def unable_to_compute(err: str) -> str:
    """getUnableComputeReplicaCountCondition's message."""
    return f"the HPA was unable to compute the replica count: {err}"
