"""How Surge reaches Prometheus: TLS with a CA file and basic auth against a real Prometheus
(its own --web.config.file), and a bearer token, extra headers and POST through a recording
proxy in front of a real one."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import trustme
import yaml

from surge import readiness
from surge.cli import main
from surge.demo.localprom import free_port
from tests.integration.conftest import SEED_RULES
from tests.support.oracle import ConstantData
from tests.support.promproxy import PrometheusProxy

PATH = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ai-platform/pods/*/http_requests_waiting"
USER, PASSWORD = "surge", "s3cret-for-tests"


@dataclass
class SecuredPrometheus:
    url: str
    ca: Path


@pytest.fixture(scope="module")
def secured_prometheus(
    tmp_path_factory: pytest.TempPathFactory, prometheus_constant: ConstantData
) -> Iterator[SecuredPrometheus]:
    """A second real Prometheus over the constant data's blocks, serving HTTPS with basic
    auth as its own web config file sets them up."""
    folder = tmp_path_factory.mktemp("secured-prometheus")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(folder / "server.pem")
    ca.cert_pem.write_to_path(folder / "ca.pem")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (folder / "web.yml").write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(folder / "server.pem"),
                    "key_file": str(folder / "server.pem"),
                },
                "basic_auth_users": {USER: hashed},
            }
        )
    )
    data = folder / "tsdb"
    shutil.copytree(
        prometheus_constant.prometheus.data_dir,
        data,
        ignore=shutil.ignore_patterns("wal", "chunks_head", "lock", "*.log", "queries.active"),
    )
    (folder / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={folder / 'web.yml'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "prometheus.log").open("wb"),
    )
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    ready = urllib.request.Request(url + "/-/ready", headers={"Authorization": auth})
    try:
        readiness.wait_ready(
            process,
            lambda: readiness.http_ok(ready, context),
            60,
            name="secured Prometheus",
            log=lambda: (folder / "prometheus.log").read_text(),
            error=AssertionError,
        )
        yield SecuredPrometheus(url, folder / "ca.pem")
    finally:
        process.terminate()
        process.wait(30)


def _query(capsys: pytest.CaptureFixture[str], objects: Path, *flags: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(
        [
            "query",
            f"--config={SEED_RULES}",
            f"--objects={objects}",
            "--metrics-max-age=6h",
            *flags,
            PATH,
        ]
    )
    return code, json.loads(capsys.readouterr().out)


def test_tls_and_basic_auth(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    constant_objects: Path,
    secured_prometheus: SecuredPrometheus,
    prometheus_constant: ConstantData,
) -> None:
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    code, body = _query(
        capsys,
        constant_objects,
        f"--prometheus-url={secured_prometheus.url}",
        f"--prometheus-ca-file={secured_prometheus.ca}",
        f"--prometheus-username={USER}",
        f"--prometheus-password-file={password}",
    )
    assert code == 0, body
    assert {i["describedObject"]["name"]: i["value"] for i in body["items"]} == {
        p: str(int(prometheus_constant.waiting(p))) for p in prometheus_constant.pods
    }


def test_wrong_password_is_an_error_answer(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    constant_objects: Path,
    secured_prometheus: SecuredPrometheus,
) -> None:
    password = tmp_path / "password"
    password.write_text("wrong")
    code, body = _query(
        capsys,
        constant_objects,
        f"--prometheus-url={secured_prometheus.url}",
        f"--prometheus-ca-file={secured_prometheus.ca}",
        f"--prometheus-username={USER}",
        f"--prometheus-password-file={password}",
    )
    assert code == 1
    # no series list without access: the HPA is told to hold, with the cause
    assert body["code"] == 503
    assert "series list is not loaded yet" in body["message"]
    assert "HTTP 401" in body["message"]


def test_untrusted_certificate_is_unreachable(
    capsys: pytest.CaptureFixture[str],
    constant_objects: Path,
    secured_prometheus: SecuredPrometheus,
) -> None:
    code, body = _query(capsys, constant_objects, f"--prometheus-url={secured_prometheus.url}")
    assert code == 1
    assert body["code"] == 503
    assert "certificate verify failed" in body["message"]


@pytest.fixture
def recording_proxy(prometheus_constant: ConstantData) -> Iterator[PrometheusProxy]:
    loop = asyncio.new_event_loop()
    proxy = PrometheusProxy(prometheus_constant.url)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    yield proxy
    asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_token_headers_and_verb(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    constant_objects: Path,
    recording_proxy: PrometheusProxy,
    verb: str,
) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    code, body = _query(
        capsys,
        constant_objects,
        f"--prometheus-url={recording_proxy.url}",
        f"--prometheus-token-file={token}",
        "--prometheus-header=X-Scope-OrgID=tenant-a",
        f"--prometheus-verb={verb}",
    )
    assert code == 0, body
    queries = [r for r in recording_proxy.requests if r[1] == "/api/v1/query"]
    assert queries
    for _, _, headers in recording_proxy.requests:
        assert headers["Authorization"] == "Bearer tok-123"
        assert headers["X-Scope-OrgID"] == "tenant-a"
    assert {method for method, _, _ in queries} == {verb}


def test_long_queries_go_by_post(
    capsys: pytest.CaptureFixture[str], constant_objects: Path, recording_proxy: PrometheusProxy
) -> None:
    values = ",".join(f"container-{i:04d}" for i in range(200))  # a 3,000-character matcher
    for selector, verb in (
        ("", "GET"),
        (f"?metricLabelSelector=container%20in%20({values})", "POST"),
    ):
        recording_proxy.requests.clear()
        capsys.readouterr()
        code = main(
            [
                "query",
                f"--config={SEED_RULES}",
                f"--objects={constant_objects}",
                "--metrics-max-age=6h",
                f"--prometheus-url={recording_proxy.url}",
                PATH + selector,
            ]
        )
        assert code == 0, capsys.readouterr().out
        assert {m for m, p, _ in recording_proxy.requests if p == "/api/v1/query"} == {verb}
