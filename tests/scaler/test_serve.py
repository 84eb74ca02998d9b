"""`surge serve --scaler-port`: gRPC over TLS with the HTTPS serving certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc
import pytest

from apiservice.scaler import externalscaler_pb2 as pb
from apiservice.scaler import externalscaler_pb2_grpc as pb_grpc
from surge.localprom import free_port
from tests.resource_metrics.surge_process import SurgeProcess
from tests.scaler.conftest import SEED_RULES
from tests.support.oracle import ConstantData

GUARD_S = 30


async def test_serve_runs_the_scaler_with_the_https_certificate(
    tmp_path: Path, prometheus_constant: ConstantData, objects_file: Path
) -> None:
    port = free_port()
    flags = (
        f"--config={SEED_RULES}",
        f"--prometheus-url={prometheus_constant.url}",
        f"--objects={objects_file}",
        "--metrics-max-age=6h",
        f"--scaler-port={port}",
    )
    with SurgeProcess(tmp_path, *flags) as surge:
        # The certificate HTTPS presents is the one gRPC presents: trusting it is enough.
        https_cert = ssl.get_server_certificate(("127.0.0.1", surge.port)).encode()
        assert https_cert.strip() == surge.cert.read_bytes().strip()
        credentials = grpc.ssl_channel_credentials(root_certificates=https_cert)
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            metadata = {
                "externalMetric": "ai_service_requests_waiting_total",
                "targetValue": "10",
                "activationValue": "5",
            }
            ref = pb.ScaledObjectRef(name="s", namespace="ai-platform", scalerMetadata=metadata)
            response = await stub.GetMetrics(
                pb.GetMetricsRequest(scaledObjectRef=ref, metricName="q"), timeout=GUARD_S
            )
            assert [
                (v.metricName, v.metricValue, v.metricValueFloat) for v in response.metricValues
            ] == [("q", 60, 60.0)]
            assert (await stub.IsActive(ref, timeout=GUARD_S)).result is True
            raw = pb.ScaledObjectRef(
                namespace="x", scalerMetadata={"query": "vector(1)", "targetValue": "1"}
            )
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.IsActive(raw, timeout=GUARD_S)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # off by default
    assert "KEDA external scaler on 127.0.0.1" in surge.log.read_text()
