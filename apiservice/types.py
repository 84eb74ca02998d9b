"""The JSON Kubernetes writes for what Surge answers, byte for byte.

Every body is built as an ordered dict in the order of the Go struct's fields (that is the
order encoding/json writes them), maps are written with sorted keys as Go writes maps, and
`encode` reproduces Go's escaping and trailing newline. Field names and omitempty rules
come from k8s.io/metrics pkg/apis/*/types.go and k8s.io/apimachinery's metav1 types.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring
from typing import Any

from apiservice.errors import APIError
from apiservice.provider import ExternalMetricValue, MetricValue, ObjectReference
from apiservice.selectors import Op, Selector

CUSTOM_GROUP = "custom.metrics.k8s.io"
EXTERNAL_GROUP = "external.metrics.k8s.io"
CUSTOM_VERSIONS = ("v1beta1", "v1beta2")  # custom-metrics-apiserver's priority order
EXTERNAL_VERSIONS = ("v1beta1",)

JSON = dict[str, Any]

# encoding/json escapes these inside strings (HTML safety and JavaScript line terminators).
_GO_ESCAPE = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPES = str.maketrans(_GO_ESCAPE)
_GO_ESCAPED_WIDE = re.compile("[\u2028\u2029]")

# One encoder for every body, made once: JSONEncoder.encode makes a new one per call, and
# a circular-reference check that bodies built here never need.
_ENCODE = c_make_encoder(
    None, json.JSONEncoder().default, encode_basestring, None, ":", ",", False, False, False
)


def encode(body: Any) -> bytes:
    """Compact JSON as Kubernetes' serializer writes it, newline included."""
    text = "".join(_ENCODE(body, 0))
    # Substring tests are far cheaper than a regex over the body, and an ASCII body (the
    # usual one) cannot hold U+2028 or U+2029.
    if (
        "<" in text
        or ">" in text
        or "&" in text
        or (not text.isascii() and _GO_ESCAPED_WIDE.search(text))
    ):
        text = text.translate(_GO_ESCAPES)
    return (text + "\n").encode("utf-8", "replace")


@functools.lru_cache(maxsize=512)  # a snapshot's items share one timestamp
def rfc3339(timestamp: datetime) -> str:
    """metav1.Time: UTC, whole seconds. A naive datetime is taken to be UTC already."""
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(UTC)
    return timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


_DETAIL_FIELDS = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")
_CAUSE_FIELDS = ("reason", "message", "field")


def status(error: APIError) -> JSON:
    """metav1.Status for a failed request; `details` as StatusDetails, empty fields left out."""
    body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    if error.message:
        body["message"] = error.message
    if error.reason:
        body["reason"] = error.reason
    if error.details is not None:
        details = {k: error.details[k] for k in _DETAIL_FIELDS if error.details.get(k)}
        if "causes" in details:
            details["causes"] = [
                {k: cause[k] for k in _CAUSE_FIELDS if cause.get(k)} for cause in details["causes"]
            ]
        body["details"] = details
    body["code"] = error.code
    return body


class UnconvertibleSelector(APIError):
    """A selector with no LabelSelector form. Kubernetes meets it as a plain Go error, which
    the API server answers with 500 and no reason (StatusReasonUnknown)."""

    code = 500
    reason = ""


_EXPRESSION_OPERATORS = {
    Op.IN: "In",
    Op.NOT_IN: "NotIn",
    Op.EXISTS: "Exists",
    Op.DOES_NOT_EXIST: "DoesNotExist",
}


def label_selector(selector: Selector) -> JSON:
    """metav1.ParseToLabelSelector: equality in matchLabels, set operators in matchExpressions.

    `!=`, `>` and `<` have no LabelSelector form: Kubernetes' conversion fails on them, and
    so does this one, with its message (prometheus-adapter then answers 500).
    """
    match_labels: dict[str, str] = {}
    expressions: list[JSON] = []
    for requirement in selector.requirements:
        if requirement.op in (Op.EQUALS, Op.DOUBLE_EQUALS):
            match_labels[requirement.key] = requirement.values[0]
            continue
        if requirement.op in (Op.GREATER_THAN, Op.LESS_THAN):
            raise UnconvertibleSelector(
                f'"{requirement.op.value}" isn\'t supported in label selectors'
            )
        operator = _EXPRESSION_OPERATORS.get(requirement.op)
        if operator is None:
            raise UnconvertibleSelector(
                f'"{requirement.op.value}" is not a valid label selector operator'
            )
        expression: JSON = {"key": requirement.key, "operator": operator}
        if requirement.values:
            expression["values"] = sorted(set(requirement.values))
        expressions.append(expression)
    body: JSON = {}
    if match_labels:
        body["matchLabels"] = dict(sorted(match_labels.items()))
    if expressions:
        body["matchExpressions"] = expressions
    return body


def object_reference(ref: ObjectReference) -> JSON:
    """core/v1 ObjectReference with only the fields custom metrics set, all omitempty."""
    fields = (
        ("kind", ref.kind),
        ("namespace", ref.namespace),
        ("name", ref.name),
        ("apiVersion", ref.api_version),
    )
    return {key: value for key, value in fields if value}


def _custom_item(value: MetricValue, version: str) -> JSON:
    chosen = value.metric_selector
    selector = None if chosen is None or chosen.empty else label_selector(chosen)
    item: JSON = {"describedObject": object_reference(value.described_object)}
    if version == "v1beta1":
        item["metricName"] = value.metric
        item["timestamp"] = rfc3339(value.timestamp)
        if value.window_seconds is not None:
            item["window"] = value.window_seconds
        item["value"] = str(value.value)
        item["selector"] = selector
        return item
    item["metric"] = {"name": value.metric, "selector": selector}
    item["timestamp"] = rfc3339(value.timestamp)
    if value.window_seconds is not None:
        item["windowSeconds"] = value.window_seconds
    item["value"] = str(value.value)
    return item


def metric_value_list(values: Iterable[MetricValue], version: str) -> JSON:
    """custom.metrics.k8s.io MetricValueList in `version` (v1beta1 or v1beta2).

    The two versions differ in the item: v1beta1 has `metricName`, `window` and a top-level
    `selector`; v1beta2 has `metric: {name, selector}` and `windowSeconds`. The selector is
    written even when unset (null): its json tag has no omitempty.
    """
    if version not in CUSTOM_VERSIONS:
        raise ValueError(f"unknown custom metrics version {version!r}")
    return {
        "kind": "MetricValueList",
        "apiVersion": f"{CUSTOM_GROUP}/{version}",
        "metadata": {},
        "items": [_custom_item(value, version) for value in values],
    }


def _external_item(value: ExternalMetricValue) -> JSON:
    item: JSON = {
        "metricName": value.metric,
        "metricLabels": _sorted_map(value.metric_labels),
        "timestamp": rfc3339(value.timestamp),
    }
    if value.window_seconds is not None:
        item["window"] = value.window_seconds
    item["value"] = str(value.value)
    return item


def external_metric_value_list(values: Iterable[ExternalMetricValue]) -> JSON:
    """external.metrics.k8s.io/v1beta1 ExternalMetricValueList."""
    return {
        "kind": "ExternalMetricValueList",
        "apiVersion": f"{EXTERNAL_GROUP}/v1beta1",
        "metadata": {},
        "items": [_external_item(value) for value in values],
    }


def _sorted_map(mapping: Mapping[str, str]) -> dict[str, str]:
    return dict(sorted(mapping.items()))
