"""The committed gRPC modules are what the .proto generates, and the wire names are KEDA's."""

from __future__ import annotations

from pathlib import Path

from apiservice.scaler import externalscaler_pb2 as pb
from apiservice.scaler.generate import GENERATED, ROOT, generate


def test_committed_modules_match_a_fresh_generation(tmp_path: Path) -> None:
    generate(tmp_path)
    for relative in GENERATED:
        assert (tmp_path / relative).read_text() == (ROOT / relative).read_text(), relative


def test_the_wire_contract_is_kedas() -> None:
    service = pb.DESCRIPTOR.services_by_name["ExternalScaler"]
    assert service.full_name == "externalscaler.ExternalScaler"
    methods = {m.name: (m.input_type.name, m.output_type.name) for m in service.methods}
    assert methods == {
        "IsActive": ("ScaledObjectRef", "IsActiveResponse"),
        "StreamIsActive": ("ScaledObjectRef", "IsActiveResponse"),
        "GetMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse"),
        "GetMetrics": ("GetMetricsRequest", "GetMetricsResponse"),
    }
    streaming = {m.name for m in service.methods if m.server_streaming}
    assert streaming == {"StreamIsActive"}

    def fields(message: str) -> dict[str, tuple[int, str]]:
        descriptor = pb.DESCRIPTOR.message_types_by_name[message]
        return {f.name: (f.number, f.type) for f in descriptor.fields}

    f = pb.DESCRIPTOR.message_types_by_name["MetricSpec"].fields[0]
    string, int64, double, boolean, message = (
        f.TYPE_STRING,
        f.TYPE_INT64,
        f.TYPE_DOUBLE,
        f.TYPE_BOOL,
        f.TYPE_MESSAGE,
    )
    assert fields("ScaledObjectRef") == {
        "name": (1, string),
        "namespace": (2, string),
        "scalerMetadata": (3, message),
    }
    assert fields("IsActiveResponse") == {"result": (1, boolean)}
    assert fields("GetMetricSpecResponse") == {"metricSpecs": (1, message)}
    assert fields("MetricSpec") == {
        "metricName": (1, string),
        "targetSize": (2, int64),
        "targetSizeFloat": (3, double),
    }
    assert fields("GetMetricsRequest") == {
        "scaledObjectRef": (1, message),
        "metricName": (2, string),
    }
    assert fields("GetMetricsResponse") == {"metricValues": (1, message)}
    assert fields("MetricValue") == {
        "metricName": (1, string),
        "metricValue": (2, int64),
        "metricValueFloat": (3, double),
    }
    assert (
        pb.ScaledObjectRef.DESCRIPTOR.fields_by_name["scalerMetadata"]
        .message_type.GetOptions()
        .map_entry
    )
