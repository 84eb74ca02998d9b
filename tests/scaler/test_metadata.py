"""Reading a trigger's metadata (pure)."""

from __future__ import annotations

import pytest

from apiservice.scaler.metadata import (
    CustomSource,
    ExternalSource,
    InvalidMetadata,
    QuerySource,
    parse_trigger,
)


def test_custom_by_name_in_the_scaled_objects_namespace() -> None:
    trigger = parse_trigger(
        {"metricName": "m", "resource": "pods", "name": "p-1", "targetValue": "5"},
        "shop",
        allow_query=False,
    )
    assert isinstance(trigger.source, CustomSource)
    assert (trigger.source.namespace, trigger.source.name) == ("shop", "p-1")
    assert trigger.source.selector.empty
    assert (trigger.target, trigger.activation, trigger.metric_name) == (5.0, 0.0, "m")


def test_explicit_namespace_and_selector() -> None:
    trigger = parse_trigger(
        {
            "externalMetric": " queue ",
            "namespace": "jobs",
            "labelSelector": "queue in (a,b)",
            "targetValue": "2.5",
            "activationValue": "-1",
        },
        "shop",
        allow_query=False,
    )
    assert isinstance(trigger.source, ExternalSource)
    assert (trigger.source.metric, trigger.source.namespace) == ("queue", "jobs")
    assert trigger.source.selector.matches({"queue": "b"})
    assert not trigger.source.selector.matches({"queue": "c"})
    assert (trigger.target, trigger.activation) == (2.5, -1.0)


def test_query_only_when_allowed() -> None:
    metadata = {"query": "sum(up)", "targetValue": "1"}
    assert parse_trigger(metadata, "x", allow_query=True).source == QuerySource("sum(up)")
    with pytest.raises(InvalidMetadata) as err:
        parse_trigger(metadata, "x", allow_query=False)
    assert err.value.key == "query"


def test_blank_values_count_as_missing() -> None:
    with pytest.raises(InvalidMetadata) as err:
        parse_trigger(
            {"metricName": " ", "externalMetric": "e", "targetValue": " "}, "x", allow_query=False
        )
    assert err.value.key == "targetValue"
