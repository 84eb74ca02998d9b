"""External metrics: values and bad selectors."""

from __future__ import annotations

from apiservice.provider import (
    ExternalMetricInfo,
)
from tests.unit.conftest import EM, Client, MemoryProvider, get, status_body


async def test_external(client: Client, provider: MemoryProvider) -> None:
    path = f"{EM}/namespaces/shop/queue_depth"
    status, body = await get(client, path, params={"labelSelector": "topic=orders"})
    assert status == 200
    assert body == (
        '{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1",'
        '"metadata":{},"items":['
        '{"metricName":"queue_depth","metricLabels":'
        '{"__name__":"kafka_lag","b\\u003ca\\u003e\\u0026":"x","topic":"orders"},'
        '"timestamp":"2026-01-01T12:00:00Z","value":"1500m"},'
        '{"metricName":"queue_depth","metricLabels":{},'
        '"timestamp":"2026-01-01T12:00:05Z","window":30,"value":"42k"}]}\n'
    )
    assert provider.calls == [
        ("external", "shop", "topic=orders", ExternalMetricInfo("queue_depth"))
    ]


async def test_external_bad_selector(client: Client, provider: MemoryProvider) -> None:
    path = f"{EM}/namespaces/shop/queue_depth"
    status, body = await get(client, path, params={"labelSelector": "topic="})
    assert status == 200  # "topic=" is valid: the empty value
    status, body = await get(client, path, params={"labelSelector": "topic in"})
    message = "unable to parse requirement: found '' expected: '('"
    assert (status, body) == (400, status_body(400, "BadRequest", message))
