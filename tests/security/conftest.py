"""Shared pieces of the security tests: a PKI made with trustme, `surge serve` as a
subprocess over real TLS, and a small HTTPS client that can present a client certificate."""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from surge.demo.localprom import free_port
from tests.support.surge_process import spawn, wait_ready

ROOT = Path(__file__).resolve().parents[2]
SEED_RULES = ROOT / "deploy" / "config" / "seed-rules.yaml"
PROXY_NAME = "front-proxy-client"
NS = "ai-platform"
WAITING = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}/pods/*/http_requests_waiting"


@dataclass(frozen=True)
class Identity:
    """A client certificate and key, as files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class PKI:
    """A serving CA and pair; the client CA, the front-proxy CA and one nobody trusts; and
    client certificates from each."""

    directory: Path
    serving_ca: Path
    serving_cert: Path
    serving_key: Path
    client_ca: Path
    proxy_ca: Path
    alice: Identity  # client CA, O=metrics-readers
    proxy: Identity  # front-proxy CA, CN allowed
    proxy_wrong_name: Identity  # front-proxy CA, CN not allowed
    user_named_like_proxy: Identity  # client CA, CN = the proxy's allowed name
    untrusted: Identity  # a CA Surge does not know
    untrusted_proxy_named: Identity  # unknown CA, CN = the proxy's allowed name


def _identity(
    directory: Path, name: str, ca: trustme.CA, cn: str, org: str | None = None
) -> Identity:
    leaf = ca.issue_cert(f"{name}.example.com", common_name=cn, organization_name=org)
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return Identity(cert, key)


def make_pki(directory: Path) -> PKI:
    directory.mkdir(parents=True, exist_ok=True)
    serving, client, proxy, untrusted = trustme.CA(), trustme.CA(), trustme.CA(), trustme.CA()
    serving.cert_pem.write_to_path(str(directory / "serving-ca.pem"))
    leaf = serving.issue_cert("127.0.0.1", "localhost")
    leaf.private_key_pem.write_to_path(str(directory / "serving.key"))
    leaf.cert_chain_pems[0].write_to_path(str(directory / "serving.crt"))
    client.cert_pem.write_to_path(str(directory / "client-ca.pem"))
    proxy.cert_pem.write_to_path(str(directory / "proxy-ca.pem"))
    return PKI(
        directory,
        directory / "serving-ca.pem",
        directory / "serving.crt",
        directory / "serving.key",
        directory / "client-ca.pem",
        directory / "proxy-ca.pem",
        _identity(directory, "alice", client, "alice", "metrics-readers"),
        _identity(directory, "proxy", proxy, PROXY_NAME),
        _identity(directory, "proxy-wrong-name", proxy, "not-the-proxy"),
        _identity(directory, "user-named-like-proxy", client, PROXY_NAME),
        _identity(directory, "untrusted", untrusted, "mallory"),
        _identity(directory, "untrusted-proxy-named", untrusted, PROXY_NAME),
    )


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


def client_context(ca: Path, identity: Identity | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if identity is not None:
        ctx.load_cert_chain(str(identity.cert), str(identity.key))
    return ctx


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def https_get(
    port: int,
    path: str,
    ctx: ssl.SSLContext,
    headers: Sequence[tuple[str, str]] = (),
    method: str = "GET",
) -> Reply:
    """One request on a fresh connection; repeated headers are sent as given."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    try:
        conn.putrequest(method, path)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return Reply(resp.status, dict(resp.getheaders()), resp.read().decode())
    finally:
        conn.close()


class Surge:
    """A `surge serve` process on a free loopback port."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path, ca: Path) -> None:
        self.process, self.port, self.log, self.ca = process, port, log, ca

    def get(
        self,
        path: str,
        identity: Identity | None = None,
        headers: Sequence[tuple[str, str]] = (),
        token: str | None = None,
        method: str = "GET",
    ) -> Reply:
        sent = list(headers)
        if token is not None:
            sent.append(("Authorization", f"Bearer {token}"))
        return https_get(self.port, path, client_context(self.ca, identity), sent, method)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def launch(
    tmp: Path,
    pki: PKI,
    prometheus_url: str,
    objects: str,
    *flags: str,
) -> Surge:
    """Start `surge serve` with the PKI's serving pair; wait until /readyz answers 200.
    `objects` is the object source flag: `--objects=FILE` or `--kubeconfig=FILE`."""
    port = free_port()
    log = tmp / f"surge-{port}.log"
    process = spawn(
        [
            f"--config={SEED_RULES}",
            f"--prometheus-url={prometheus_url}",
            objects,
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            "--metrics-max-age=6h",
            "--log-format=json",
            *flags,
        ],
        log,
    )
    surge = Surge(process, port, log, pki.serving_ca)
    wait_ready(process, log, lambda: surge.get("/readyz").status == 200)
    return surge


@pytest.fixture
def surge_processes() -> Iterator[list[Surge]]:
    """Surge processes a test started; each is stopped (SIGTERM, then kill) afterwards."""
    started: list[Surge] = []
    yield started
    for surge in started:
        if surge.process.poll() is None:
            surge.process.send_signal(signal.SIGTERM)
            try:
                surge.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                surge.process.kill()
                surge.process.wait()
