"""`surge hpa evaluate` as autoscaler.cases.main runs it: outputs, exit codes, bad files."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.cases import USAGE, CaseError, evaluate, evaluate_file, main

CASE = Path(__file__).parent / "cases" / "latency-scale-up-fixed-limit.json"


def base() -> dict[str, Any]:
    return json.loads(CASE.read_text())


def write(tmp_path: Path, name: str, case: Any) -> str:
    path = tmp_path / name
    path.write_text(case if isinstance(case, str) else json.dumps(case))
    return str(path)


def run(paths: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(paths, out, err)
    return code, out.getvalue(), err.getvalue()


def test_one_valid_file_prints_the_decision(tmp_path: Path) -> None:
    path = write(tmp_path, "up.json", base())
    code, out, err = run([path])
    assert (code, err) == (0, "")
    decision = json.loads(out)
    assert list(decision) == ["desiredReplicas", "metrics", "conditions"]
    assert decision["desiredReplicas"] == 6
    assert decision["metrics"][0]["current"] == {"value": "22"}


def test_one_invalid_file_is_one_line_naming_the_field(tmp_path: Path) -> None:
    case = base()
    case["hpa"]["spec"]["maxReplicas"] = "20"
    path = write(tmp_path, "bad.json", case)
    code, out, err = run([path])
    assert (code, out) == (2, "")
    assert err == f"{path}: hpa.spec.maxReplicas: must be an integer\n"


def test_several_files_are_json_lines_in_order(tmp_path: Path) -> None:
    up = write(tmp_path, "up.json", base())
    failing = base()
    failing.pop("customMetrics")
    down = write(tmp_path, "failing.json", failing)
    code, out, err = run([up, down])
    assert (code, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["case"] for line in lines] == [up, down]
    assert [line["desiredReplicas"] for line in lines] == [6, 3]
    assert lines[1]["conditions"][1]["reason"] == "FailedGetObjectMetric"
    assert list(lines[0]) == ["case", "desiredReplicas", "metrics", "conditions"]


def test_several_files_with_an_invalid_one_exit_2_at_the_end(tmp_path: Path) -> None:
    case = base()
    del case["now"]
    paths = [
        write(tmp_path, "a.json", base()),
        write(tmp_path, "b.json", case),
        write(tmp_path, "c.json", "{not json"),
        str(tmp_path / "missing.json"),
        write(tmp_path, "e.json", base()),
    ]
    code, out, err = run(paths)
    assert (code, err) == (2, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[1] == {"case": paths[1], "error": "now: is required"}
    assert lines[2] == {
        "case": paths[2],
        "error": "not JSON: Expecting property name enclosed in double quotes at line 1 column 2",
    }
    assert lines[3] == {
        "case": paths[3],
        "error": "cannot read the file: No such file or directory",
    }
    assert lines[0]["desiredReplicas"] == lines[4]["desiredReplicas"] == 6


def test_no_file_is_a_usage_error() -> None:
    assert run([]) == (2, "", USAGE + "\n")


def test_evaluate_file_raises_case_error(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"^\(case\): must be an object$"):
        evaluate_file(write(tmp_path, "list.json", "[]"))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(case: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = case
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        key: Any = int(last) if isinstance(node, list) else last
        if value is _DELETE:
            del node[key]
        else:
            node[key] = value

    return mutate


_DELETE = object()
TARGET = "hpa.spec.metrics.0.object.target"

INVALID = [
    (_set("now", _DELETE), "now: is required"),
    (
        _set("now", "yesterday"),
        "now: must be an RFC 3339 time such as 2026-01-01T12:00:00Z, not 'yesterday'",
    ),
    (_set("hpa", _DELETE), "hpa: is required"),
    (_set("hpa.spec", []), "hpa.spec: must be an object"),
    (_set("hpa.spec.maxReplicas", 0), "hpa.spec.maxReplicas: must be at least 1"),
    (_set("hpa.spec.minReplicas", 1.5), "hpa.spec.minReplicas: must be an integer"),
    (_set("hpa.spec.metrics", []), "hpa.spec.metrics: must list at least one metric"),
    (_set(f"{TARGET}.value", "0"), f"{TARGET.replace('.0.', '[0].')}.value: must be positive"),
    (_set(f"{TARGET}.value", True), "hpa.spec.metrics[0].object.target.value: must be a quantity"),
    (
        _set("hpa.spec.metrics.0.object.describedObject", _DELETE),
        "hpa.spec.metrics[0].object.describedObject: is required",
    ),
    (
        _set(
            "hpa.spec.metrics.0",
            {
                "type": "Pods",
                "pods": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "1"}},
            },
        ),
        "hpa.spec.metrics[0].pods.target.averageValue: is required for a Pods metric",
    ),
    (
        _set(
            "hpa.spec.metrics.0",
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 0},
                },
            },
        ),
        "hpa.spec.metrics[0].resource.target.averageUtilization: must be at least 1",
    ),
    (
        _set("hpa.spec.behavior", {"scaleDown": {"selectPolicy": "Fastest"}}),
        "hpa.spec.behavior.scaleDown.selectPolicy: must be one of Max, Min, Disabled",
    ),
    (
        _set(
            "hpa.spec.behavior",
            {"scaleUp": {"policies": [{"type": "Replicas", "value": 1, "periodSeconds": 15}]}},
        ),
        "hpa.spec.behavior.scaleUp.policies[0].type: must be one of Pods, Percent",
    ),
    (_set("scale.replicas", _DELETE), "scale.replicas: is required"),
    (_set("scale.replicas", -1), "scale.replicas: must be at least 0"),
    (_set("pods.1.metadata.name", _DELETE), "pods[1].metadata.name: is required"),
    (
        _set("pods.0.status.startTime", "11:00"),
        "pods[0].status.startTime: must be an RFC 3339 time such as 2026-01-01T12:00:00Z, "
        "not '11:00'",
    ),
    (_set("customMetrics.0.items", {}), "customMetrics[0].items: must be a list"),
    (
        _set("podmetrics", []),
        "podmetrics: unknown field (expected one of now, hpa, scale, "
        "pods, podMetrics, customMetrics, externalMetrics, history, options)",
    ),
    (
        _set("history", {"recommendations": [{"timestamp": "2026-01-01T11:00:00Z"}]}),
        "history.recommendations[0].replicas: is required",
    ),
    (_set("options", {"tolerance": -0.1}), "options.tolerance: must be between 0 and 1000000000"),
    (
        _set("now", "0001-01-01T00:00:00Z"),
        "now: must be a time between the years 1970 and 9000",
    ),
    (
        _set("hpa.spec.behavior", {"scaleDown": {"stabilizationWindowSeconds": 3601}}),
        "hpa.spec.behavior.scaleDown.stabilizationWindowSeconds: must be at most 3600",
    ),
    (
        _set("options", {"downscaleWindow": 60}),
        "options.downscaleWindow: unknown field (expected one of tolerance, "
        "cpuInitializationPeriodSeconds, initialReadinessDelaySeconds, "
        "downscaleStabilizationWindowSeconds, kubernetesVersion, featureGates)",
    ),
    (
        _set("options", {"kubernetesVersion": "1.33"}),
        'options.kubernetesVersion: unknown Kubernetes version "1.33" '
        "(known: 1.34, 1.35, 1.36, 1.37)",
    ),
    (
        _set("options", {"kubernetesVersion": "latest"}),
        'options.kubernetesVersion: "latest" is not a Kubernetes version (expected e.g. "1.37")',
    ),
    (
        _set("options", {"featureGates": {"HPAScaleToZer0": True}}),
        'options.featureGates: unknown feature gate "HPAScaleToZer0" (known: '
        "HPAConfigurableTolerance, HPAScaleToZero, PodLevelResources)",
    ),
    (
        _set("options", {"featureGates": {"HPAConfigurableTolerance": False}}),
        "options.featureGates: feature gate HPAConfigurableTolerance is locked to true in 1.37",
    ),
    (
        _set("options", {"featureGates": {"HPAScaleToZero": "yes"}}),
        "options.featureGates.HPAScaleToZero: must be true or false",
    ),
    (
        _set("hpa.spec.behavior", {"scaleUp": {"tolerance": "-0.01"}}),
        "hpa.spec.behavior.scaleUp.tolerance: must be greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(("mutate", "error"), INVALID, ids=[e for _, e in INVALID])
def test_invalid_case_names_the_field(mutate: Callable[[dict], None], error: str) -> None:
    case = copy.deepcopy(base())
    mutate(case)
    with pytest.raises(CaseError) as info:
        evaluate(case)
    assert str(info.value).startswith(error)


def test_defaults_when_optional_parts_are_absent() -> None:
    """Only now, hpa and scale: no pods, no metrics; the Object metric fails."""
    case = {k: v for k, v in base().items() if k in ("now", "hpa", "scale")}
    decision = evaluate(case)
    assert decision["desiredReplicas"] == 3
    assert decision["conditions"][1]["reason"] == "FailedGetObjectMetric"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 3),  # ratio 1.1 is inside 1.34's band [0.9, 1.1]
        ({"tolerance": 0.05}, 4),  # ceil(1.1 x 3) = 4
    ],
)
def test_tolerance_option(options: dict[str, Any], expected: int) -> None:
    case = base()
    case["customMetrics"][0]["items"][0]["value"] = "5500m"
    case["options"] = options
    assert evaluate(case)["desiredReplicas"] == expected


def test_window_option_and_unknown_metric_type() -> None:
    case = base()
    case["customMetrics"][0]["items"][0]["value"] = "2500m"
    case["history"] = {"recommendations": [{"timestamp": "2026-01-01T11:58:00Z", "replicas": 3}]}
    assert evaluate(case)["desiredReplicas"] == 3  # held by the 300s default window
    case["options"] = {"downscaleStabilizationWindowSeconds": 60}
    assert evaluate(case)["desiredReplicas"] == 2  # ceil(0.5 x 3) = 2 once the window passed
    case["hpa"]["spec"]["metrics"].append({"type": "Cheddar"})
    decision = evaluate(case)
    assert decision["desiredReplicas"] == 3  # an invalid metric blocks the scale-down
    assert decision["metrics"][1] == {
        "type": "Cheddar",
        "name": "",
        "proposal": None,
        "current": None,
        "error": 'unknown metric source type "Cheddar"',
    }


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [path] + [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [path] + [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i))]
    return [path]


SEED_CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e30",
            "5m",
            "1Ki",
            "1m0s",
            "Pods",
            "Percent",
            "Max",
            "Disabled",
            "Value",
            "AverageValue",
            "Utilization",
            "True",
            "False",
            "Failed",
            "Pending",
            "2026-01-01T11:59:00Z",
            "9999-12-31T23:59:59Z",
            "app in (",
            "cpu",
        ]
    )
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["type", "name", "value", "items"]), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_mutation_of_a_case_is_a_decision_or_a_case_error(data: st.DataObject) -> None:
    """Nothing crashes: a mangled case decides, or names a bad field."""
    case = json.loads(data.draw(st.sampled_from(SEED_CASES)).read_text())
    path = data.draw(st.sampled_from(_leaves(case)[1:]))
    node: Any = case
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(JSON_VALUES)
    try:
        decision = evaluate(case)
    except CaseError as err:
        assert ": " in str(err)
        return
    assert isinstance(decision["desiredReplicas"], int)
    json.dumps(decision)
