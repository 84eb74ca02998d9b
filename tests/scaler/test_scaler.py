"""A real grpcio client, built from externalscaler.proto, against the scaler over TLS.

Values are checked against PromQL run directly on the same Prometheus
(prometheus-api-client), not against anything Surge computes.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from prometheus_api_client import PrometheusConnect

from apiservice.scaler import externalscaler_pb2 as pb
from apiservice.scaler import externalscaler_pb2_grpc as pb_grpc
from tests.scaler.conftest import MAX_STALENESS_S, Scaler
from tests.support.oracle import ConstantData

NS = "ai-platform"
WAITING_PODS = {"metricName": "http_requests_waiting", "resource": "pods"}
EXTERNAL = {"externalMetric": "ai_service_requests_waiting_total"}
GUARD_S = 30  # only against a hang: no assertion depends on it


def ref(namespace: str = NS, /, **metadata: str) -> pb.ScaledObjectRef:
    return pb.ScaledObjectRef(name="ai-service", namespace=namespace, scalerMetadata=metadata)


def promql(prometheus: ConstantData, query: str) -> list[dict[str, Any]]:
    return PrometheusConnect(url=prometheus.url, disable_ssl=True).custom_query(query)


def milli(value: float) -> float:
    """The provider's value: truncated to milli-units, as prometheus-adapter does."""
    return math.trunc(value * 1000) / 1000


async def value_of(scaler: Scaler, metadata: dict[str, str]) -> pb.MetricValue:
    request = pb.GetMetricsRequest(scaledObjectRef=ref(**metadata), metricName="m")
    (value,) = (await scaler.stub.GetMetrics(request)).metricValues
    return value


async def next_push(stream: AsyncIterator[pb.IsActiveResponse]) -> bool:
    return (await asyncio.wait_for(anext(stream), GUARD_S)).result


async def test_get_metrics_custom_by_selector_is_the_sum_promql_gives(
    scaler: Scaler, prometheus_constant: ConstantData
) -> None:
    metadata = {**WAITING_PODS, "labelSelector": "app=ai-service", "targetValue": "50"}
    value = await value_of(scaler, metadata)
    (sample,) = promql(prometheus_constant, f'sum(http_requests_waiting{{namespace="{NS}"}})')
    expected = float(sample["value"][1])
    assert expected == 60  # the constant data: 10, 20 and 30 waiting
    assert value.metricValueFloat == expected
    assert value.metricValue == 60
    assert value.metricName == "m"  # KEDA's name (index prefix removed) comes back


async def test_get_metrics_custom_by_name_reads_one_object(
    scaler: Scaler, prometheus_constant: ConstantData
) -> None:
    metadata = {
        "metricName": "ai_llm_response_time_p99_seconds",
        "resource": "deployments.apps",
        "name": "ai-service",
        "targetValue": "5",
    }
    value = await value_of(scaler, metadata)
    (sample,) = promql(
        prometheus_constant,
        "histogram_quantile(0.99, sum(rate(ai_llm_response_time_seconds_bucket"
        f'{{namespace="{NS}",deployment="ai-service"}}[5m])) by (le))',
    )
    expected = milli(float(sample["value"][1]))
    assert value.metricValueFloat == expected
    assert value.metricValue == math.floor(expected + 0.5)


async def test_get_metrics_external_with_label_selector(
    scaler: Scaler, prometheus_constant: ConstantData
) -> None:
    metadata = {**EXTERNAL, "labelSelector": "service=ai-service", "targetValue": "10"}
    value = await value_of(scaler, metadata)
    (sample,) = promql(
        prometheus_constant,
        f'sum(http_requests_waiting{{service="ai-service",namespace="{NS}"}}) by (service)',
    )
    assert value.metricValueFloat == float(sample["value"][1]) == 60
    none = await value_of(
        scaler, {**EXTERNAL, "labelSelector": "service=other", "targetValue": "1"}
    )
    assert (none.metricValueFloat, none.metricValue) == (0.0, 0)


async def test_namespace_defaults_to_the_scaled_objects(scaler: Scaler) -> None:
    metadata = {**WAITING_PODS, "labelSelector": "app=ai-service", "targetValue": "1"}
    other = pb.GetMetricsRequest(scaledObjectRef=ref("elsewhere", **metadata))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await scaler.stub.GetMetrics(other)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # no pods selected there
    named = pb.GetMetricsRequest(scaledObjectRef=ref("elsewhere", **metadata, namespace=NS))
    (value,) = (await scaler.stub.GetMetrics(named)).metricValues
    assert value.metricValueFloat == 60


async def test_get_metric_spec_fills_int_and_float_targets(scaler: Scaler) -> None:
    cases = {"40": (40, 40.0), "2.5": (3, 2.5), "0.25": (1, 0.25)}
    for target, (whole, exact) in cases.items():
        response = await scaler.stub.GetMetricSpec(ref(**EXTERNAL, targetValue=target))
        (spec,) = response.metricSpecs
        assert (spec.metricName, spec.targetSize, spec.targetSizeFloat) == (
            "ai_service_requests_waiting_total",
            whole,
            exact,
        )


async def test_is_active_compares_with_the_activation_value(scaler: Scaler) -> None:
    async def active(activation: str) -> bool:
        response = await scaler.stub.IsActive(
            ref(**EXTERNAL, targetValue="10", activationValue=activation)
        )
        return response.result

    assert await active("59.9") is True
    assert await active("60") is False  # active only above the activation value
    response = await scaler.stub.IsActive(ref(**EXTERNAL, targetValue="10"))
    assert response.result is True  # default activation 0


async def test_raw_query_when_the_server_allows_it(
    scaler: Scaler, prometheus_constant: ConstantData
) -> None:
    query = f'sum(http_requests_waiting{{namespace="{NS}",pod="{prometheus_constant.pods[1]}"}})'
    (sample,) = promql(prometheus_constant, query)
    value = await value_of(scaler, {"query": query, "targetValue": "5"})
    assert value.metricValueFloat == float(sample["value"][1]) == 20
    spec = await scaler.stub.GetMetricSpec(ref(query=query, targetValue="5"))
    assert spec.metricSpecs[0].metricName == "surge-query"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await value_of(scaler, {"query": "sum(", "targetValue": "5"})
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "query" in (err.value.details() or "")


async def test_raw_query_is_refused_unless_enabled(strict_scaler: Scaler) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await strict_scaler.stub.IsActive(ref(query="vector(1)", targetValue="1"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "scalerMetadata.query" in (err.value.details() or "")
    assert strict_scaler.proxy.total == 0


@pytest.mark.parametrize(
    ("metadata", "key"),
    [
        ({"targetValue": "1"}, "metricName"),
        ({**EXTERNAL, "metricName": "x", "targetValue": "1"}, "externalMetric"),
        ({**EXTERNAL}, "targetValue"),
        ({**EXTERNAL, "targetValue": "lots"}, "targetValue"),
        ({**EXTERNAL, "targetValue": "0"}, "targetValue"),
        ({**EXTERNAL, "targetValue": "inf"}, "targetValue"),
        ({**EXTERNAL, "targetValue": "1", "activationValue": "some"}, "activationValue"),
        ({**EXTERNAL, "targetValue": "1", "labelSelector": "app==="}, "labelSelector"),
        ({"metricName": "http_requests_waiting", "name": "p", "targetValue": "1"}, "resource"),
        ({**WAITING_PODS, "targetValue": "1"}, "name"),
        (
            {**WAITING_PODS, "name": "p", "labelSelector": "a=b", "targetValue": "1"},
            "labelSelector",
        ),
    ],
)
async def test_bad_metadata_is_invalid_argument_naming_the_key(
    scaler: Scaler, metadata: dict[str, str], key: str
) -> None:
    calls = [
        scaler.stub.IsActive(ref(**metadata)),
        scaler.stub.GetMetricSpec(ref(**metadata)),
        scaler.stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref(**metadata))),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"scalerMetadata.{key}:" in (err.value.details() or "")
    stream = scaler.stub.StreamIsActive(ref(**metadata))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(anext(aiter(stream)), GUARD_S)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_keda_keys_the_scaler_does_not_read_are_ignored(scaler: Scaler) -> None:
    metadata = {**EXTERNAL, "targetValue": "1", "scalerAddress": "surge:9443", "caCert": "x"}
    assert (await value_of(scaler, metadata)).metricValueFloat == 60


async def test_unknown_metric_is_not_found(scaler: Scaler) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await value_of(scaler, {"externalMetric": "no_such_metric", "targetValue": "1"})
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no_such_metric" in (err.value.details() or "")


async def test_keda_and_the_hpa_share_one_backend_query(
    scaler: Scaler, prometheus_constant: ConstantData
) -> None:
    """An HPA request fills the snapshot; KEDA's calls on the same series send nothing."""
    from apiservice.provider import CustomMetricInfo, GroupResource
    from apiservice.selectors import parse_selector

    provider = scaler.server.scaler.provider
    info = CustomMetricInfo(GroupResource("", "pods"), True, "http_requests_waiting")
    hpa = await provider.get_metric_by_selector(
        NS, parse_selector("app=ai-service"), info, parse_selector(None)
    )
    assert scaler.proxy.total == 1
    metadata = {**WAITING_PODS, "labelSelector": "app=ai-service", "targetValue": "10"}
    for _ in range(3):
        value = await value_of(scaler, metadata)
        assert (await scaler.stub.IsActive(ref(**metadata))).result is True
    assert value.metricValueFloat == sum(float(v.value) for v in hpa)
    assert scaler.proxy.total == 1


async def test_stream_pushes_when_a_refreshed_snapshot_changes_the_answer(
    scaler: Scaler,
) -> None:
    """Two streams, one refresh: both see the change, and the backend saw one query."""
    metadata = {**EXTERNAL, "targetValue": "10", "activationValue": "50"}
    streams = [aiter(scaler.stub.StreamIsActive(ref(**metadata))) for _ in range(2)]
    assert [await next_push(s) for s in streams] == [True, True]
    assert scaler.proxy.total == 1
    # A refresh that changes nothing pushes nothing: the next push is the change below.
    scaler.clock.advance(9)
    assert await scaler.engine.refresh_due() == 1
    assert scaler.proxy.total == 2
    # Past the data's end the series are gone: the metric is 0, the trigger inactive.
    scaler.clock.advance(4 * 3600)
    assert await scaler.engine.refresh_due() == 1
    assert [await next_push(s) for s in streams] == [False, False]
    assert scaler.proxy.total == 3  # streams re-read the refreshed snapshot, no query


async def test_backend_down_is_unavailable(scaler: Scaler) -> None:
    metadata = {**EXTERNAL, "targetValue": "10"}
    stream = aiter(scaler.stub.StreamIsActive(ref(**metadata)))
    assert await next_push(stream) is True
    scaler.proxy.mode = "refuse"
    # Never asked before: no snapshot to fall back on.
    fresh = {**WAITING_PODS, "labelSelector": "app=ai-service", "targetValue": "1"}
    for call in (
        scaler.stub.IsActive(ref(**fresh)),
        scaler.stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref(**fresh))),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # Within max staleness the last snapshot still answers; past it, UNAVAILABLE.
    scaler.clock.advance(MAX_STALENESS_S / 2)
    await scaler.engine.refresh_due()
    assert (await value_of(scaler, metadata)).metricValueFloat == 60
    scaler.clock.advance(MAX_STALENESS_S)
    await scaler.engine.refresh_due()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await value_of(scaler, metadata)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "max staleness" in (err.value.details() or "")
    # The open stream was woken by the failed refresh and ends the same way.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(anext(stream), GUARD_S)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_plaintext_client_is_refused(scaler: Scaler) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{scaler.port}") as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.IsActive(ref(**EXTERNAL, targetValue="1"), timeout=GUARD_S)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
