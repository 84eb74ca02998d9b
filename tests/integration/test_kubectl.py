"""`surge serve` over real TLS, with the real kubectl as its client."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import SEED_RULES, quantity_milli
from tests.support.oracle import ConstantData
from tests.support.surge_process import SurgeProcess

NS = "ai-platform"


class Server(SurgeProcess):
    """Surge on the seed rules, the constant data and its objects; kubectl its client."""

    def __init__(self, tmp: Path, prometheus: str, objects: Path, *extra: str) -> None:
        super().__init__(
            tmp,
            f"--config={SEED_RULES}",
            f"--prometheus-url={prometheus}",
            f"--objects={objects}",
            "--metrics-max-age=6h",
            *extra,
        )

    def kubectl(self, path: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "kubectl",
                f"--server=https://127.0.0.1:{self.port}",
                "--insecure-skip-tls-verify",
                "--token=test",
                "get",
                "--raw",
                path,
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )


def start_server(tmp: Path, prometheus: str, objects: Path, *extra: str) -> Server:
    """A ready Server; the caller stops it (SIGTERM) and checks its exit."""
    return Server(tmp, prometheus, objects, *extra).__enter__()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    prometheus_constant: ConstantData,
    constant_objects: Path,
) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("serve"), prometheus_constant.url, constant_objects) as srv:
        yield srv


def test_kubectl_reads_waiting_requests_per_pod(
    server: Server, prometheus_constant: ConstantData
) -> None:
    done = server.kubectl(
        f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}/pods/*/http_requests_waiting"
        "?labelSelector=app%3Dai-service"
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    got = {i["describedObject"]["name"]: quantity_milli(i["value"]) for i in body["items"]}
    assert got == {p: int(prometheus_constant.waiting(p) * 1000) for p in prometheus_constant.pods}


def test_kubectl_reads_the_deployment_p99(
    server: Server, prometheus_constant: ConstantData
) -> None:
    done = server.kubectl(
        f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}/deployments.apps/ai-service/"
        "ai_llm_response_time_p99_seconds"
    )
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["items"]
    expected = prometheus_constant.latency_quantile(0.99, prometheus_constant.pods)
    assert abs(quantity_milli(item["value"]) - expected * 1000) <= 1


def test_kubectl_discovery(server: Server) -> None:
    groups = json.loads(server.kubectl("/apis").stdout)
    assert [g["name"] for g in groups["groups"]] == [
        "custom.metrics.k8s.io",
        "external.metrics.k8s.io",
    ]
    for version in ("v1beta1", "v1beta2"):
        listing = json.loads(server.kubectl(f"/apis/custom.metrics.k8s.io/{version}").stdout)
        assert listing["groupVersion"] == f"custom.metrics.k8s.io/{version}"
        assert "pods/http_requests_waiting" in {r["name"] for r in listing["resources"]}
    for doc in ("/openapi/v2", "/openapi/v3"):
        done = server.kubectl(doc)
        assert done.returncode == 0 and json.loads(done.stdout)


def test_kubectl_shows_error_statuses(server: Server) -> None:
    done = server.kubectl(
        f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}/pods/*/no_such_metric"
    )
    assert done.returncode == 1
    assert "the server could not find the metric no_such_metric for pods" in done.stderr
    done = server.kubectl(
        f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}/pods/*/http_requests_waiting"
        "?labelSelector=app%3D%3D%3Dx"
    )
    assert done.returncode == 1
    assert "unable to parse requirement" in done.stderr


def test_serve_and_query_give_the_same_body(
    server: Server, prometheus_constant: ConstantData, constant_objects: Path
) -> None:
    path = f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{NS}/pods/*/http_requests_waiting"
    served = json.loads(server.kubectl(path).stdout)
    queried = subprocess.run(
        [
            sys.executable,
            "-m",
            "surge",
            "query",
            f"--config={SEED_RULES}",
            f"--prometheus-url={prometheus_constant.url}",
            f"--objects={constant_objects}",
            "--metrics-max-age=6h",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(queried.stdout)
    for body in (served, answer):
        for item in body["items"]:
            item.pop("timestamp")
    assert served == answer


def test_health_endpoints_and_metrics(server: Server) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        done = server.kubectl(path)
        assert done.returncode == 0 and done.stdout.strip() == "ok"
    metrics = server.kubectl("/metrics").stdout
    assert "surge_backend_queries_total" in metrics
    assert "surge_apiserver_requests_total" in metrics
