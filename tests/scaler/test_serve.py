"""`surge serve --scaler-port`: gRPC over TLS with the HTTPS serving certificate, and
client certificates when asked for."""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc
import pytest
import trustme

from apiservice.scaler import externalscaler_pb2 as pb
from apiservice.scaler import externalscaler_pb2_grpc as pb_grpc
from surge.demo.localprom import free_port
from tests.scaler.conftest import SEED_RULES
from tests.support.oracle import ConstantData
from tests.support.surge_process import SurgeProcess

GUARD_S = 30


async def test_serve_runs_the_scaler_with_the_https_certificate(
    tmp_path: Path, prometheus_constant: ConstantData, constant_objects: Path
) -> None:
    port = free_port()
    flags = (
        f"--config={SEED_RULES}",
        f"--prometheus-url={prometheus_constant.url}",
        f"--objects={constant_objects}",
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


async def test_scaler_requires_a_client_certificate_from_its_client_ca(
    tmp_path: Path, prometheus_constant: ConstantData, constant_objects: Path
) -> None:
    """--scaler-client-ca-file: KEDA's tlsClientCert/tlsClientKey from that CA are let in;
    no certificate, or one another CA issued, fails the handshake."""
    client_ca, stranger = trustme.CA(), trustme.CA()
    client_ca_file = tmp_path / "client-ca.crt"
    client_ca.cert_pem.write_to_path(client_ca_file)
    port = free_port()
    flags = (
        f"--config={SEED_RULES}",
        f"--prometheus-url={prometheus_constant.url}",
        f"--objects={constant_objects}",
        f"--scaler-port={port}",
        f"--scaler-client-ca-file={client_ca_file}",
    )
    with SurgeProcess(tmp_path, *flags) as surge:
        server_ca = surge.cert.read_bytes()
        ref = pb.ScaledObjectRef(
            name="s",
            namespace="ai-platform",
            scalerMetadata={
                "externalMetric": "ai_service_requests_waiting_total",
                "targetValue": "10",
            },
        )

        async def is_active(client: trustme.CA | None) -> bool:
            pair: dict[str, bytes] = {}
            if client is not None:
                issued = client.issue_cert("keda-operator")
                pair = {
                    "private_key": issued.private_key_pem.bytes(),
                    "certificate_chain": issued.cert_chain_pems[0].bytes(),
                }
            credentials = grpc.ssl_channel_credentials(root_certificates=server_ca, **pair)
            async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
                stub = pb_grpc.ExternalScalerStub(channel)
                return (await stub.IsActive(ref, timeout=GUARD_S)).result

        assert await is_active(client_ca) is True
        for refused in (None, stranger):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await is_active(refused)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "certificates required" in surge.log.read_text()
