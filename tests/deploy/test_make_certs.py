"""deploy/dev/make-certs.sh with the real openssl: a CA and a serving pair that Surge loads
and a client verifying against the CA accepts under the Service's name (real TLS over
loopback), the Secret the dev Deployment mounts, and the caBundle patches."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from surge.certs import server_context
from tests.deploy.manifests import DEPLOY, NAMESPACE, Rendered, pod_spec

SCRIPT = DEPLOY / "dev" / "make-certs.sh"
APISERVICES = [
    "v1beta1.custom.metrics.k8s.io",
    "v1beta2.custom.metrics.k8s.io",
    "v1beta1.external.metrics.k8s.io",
]

# A stand-in for kubectl against a cluster (no kube-apiserver runs here): it answers the
# few reads the script makes from a JSON state file, records every call, and hands
# client-side work (`create ... --dry-run=client`) to the real kubectl.
FAKE_KUBECTL = """#!{python}
import json, subprocess, sys
state_path, log_path = {state!r}, {log!r}
state = json.load(open(state_path))
args = sys.argv[1:]
stdin = sys.stdin.read() if args[:2] == ["apply", "-f"] else ""
with open(log_path, "a") as log:
    log.write(json.dumps({{"args": args, "stdin": stdin}}) + "\\n")
if "--dry-run=client" in args:
    sys.exit(subprocess.run(["kubectl", *args]).returncode)
if args[:2] == ["get", "namespace"]:
    sys.exit(0 if args[2] in state["namespaces"] else 1)
if args[:2] == ["get", "apiservice"]:
    backend = state["apiservices"].get(args[2])
    if backend is None:
        sys.exit(1)
    print(backend, end="")
    sys.exit(0)
if args[:2] in (["apply", "-f"], ["patch", "apiservice"]):
    sys.exit(0)
sys.exit(f"fake kubectl: unexpected call {{args}}")
"""


def make_certs(
    out: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("certs")
    run = make_certs(out, "--dry-run")
    assert run.returncode == 0, run.stderr
    return out, run.stdout


def _handshake(cert: Path, key: Path, ca: Path, server_name: str) -> None:
    """A real TLS handshake on loopback: Surge's own server context against a verifying
    client, which raises ssl.SSLCertVerificationError if the name or the chain is wrong."""
    server_ctx = server_context(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=server_name) as tls:
                tls.sendall(b"x")
    finally:
        thread.join(timeout=10)
        listener.close()


def test_pair_verifies_under_the_services_name_only(certs: tuple[Path, str]) -> None:
    out, _ = certs
    cert, key, ca = out / "tls.crt", out / "tls.key", out / "ca.crt"
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(cert)], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stderr
    for name in (f"surge.{NAMESPACE}.svc", f"surge.{NAMESPACE}.svc.cluster.local"):
        _handshake(cert, key, ca, name)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(cert, key, ca, f"other.{NAMESPACE}.svc")


def test_keys_are_private(certs: tuple[Path, str]) -> None:
    out, _ = certs
    for name in ("ca.key", "tls.key"):
        assert stat.S_IMODE((out / name).stat().st_mode) & 0o077 == 0, name


def test_dry_run_prints_the_secret_the_dev_pod_mounts(
    certs: tuple[Path, str], dev: Rendered
) -> None:
    out, printed = certs
    secret = next(yaml.safe_load_all(printed))
    volumes = pod_spec(dev.get("Deployment", "surge", NAMESPACE))["volumes"]
    mounted = next(v["secret"]["secretName"] for v in volumes if "secret" in v)
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", mounted)
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert secret["type"] == "kubernetes.io/tls"
    for key in ("tls.crt", "tls.key", "ca.crt"):
        assert base64.b64decode(secret["data"][key]) == (out / key).read_bytes(), key


def test_dry_run_prints_a_cabundle_patch_per_apiservice(certs: tuple[Path, str]) -> None:
    out, printed = certs
    bundle = base64.b64encode((out / "ca.crt").read_bytes()).decode()
    patches = [line for line in printed.splitlines() if line.startswith("# kubectl patch")]
    assert [p.split()[4] for p in patches] == APISERVICES
    for line in patches:
        body = json.loads(line.split("-p ", 1)[1].strip("'"))
        assert body == {"spec": {"caBundle": bundle}}


def test_rerun_keeps_the_ca_and_force_replaces_it(tmp_path: Path) -> None:
    assert make_certs(tmp_path, "--dry-run").returncode == 0
    ca, cert = (tmp_path / "ca.crt").read_bytes(), (tmp_path / "tls.crt").read_bytes()
    again = make_certs(tmp_path, "--dry-run")
    assert again.returncode == 0 and "kept" in again.stderr
    assert (tmp_path / "ca.crt").read_bytes() == ca and (tmp_path / "tls.crt").read_bytes() == cert
    # Another Service name: a new serving pair from the same CA.
    renamed = make_certs(tmp_path, "--dry-run", "--service", "surge-canary")
    assert renamed.returncode == 0 and (tmp_path / "ca.crt").read_bytes() == ca
    _handshake(
        tmp_path / "tls.crt",
        tmp_path / "tls.key",
        tmp_path / "ca.crt",
        f"surge-canary.{NAMESPACE}.svc",
    )
    assert make_certs(tmp_path, "--dry-run", "--force").returncode == 0
    assert (tmp_path / "ca.crt").read_bytes() != ca


@pytest.mark.parametrize("bad", [["--days", "0"], ["--days", "ten"], ["--bogus"]])
def test_bad_arguments_are_usage_errors(tmp_path: Path, bad: list[str]) -> None:
    run = make_certs(tmp_path, "--dry-run", *bad)
    assert run.returncode == 2 and run.stderr.startswith("make-certs.sh: ")


def _fake_kubectl(
    tmp_path: Path, apiservices: dict[str, str], namespaces: list[str]
) -> tuple[dict[str, str], Path]:
    state, log = tmp_path / "state.json", tmp_path / "calls.jsonl"
    state.write_text(json.dumps({"apiservices": apiservices, "namespaces": namespaces}))
    fake = tmp_path / "kubectl-standin"
    fake.write_text(FAKE_KUBECTL.format(python=sys.executable, state=str(state), log=str(log)))
    fake.chmod(0o755)
    return {"KUBECTL": str(fake)}, log


def test_applies_the_secret_and_patches_only_surges_apiservices(tmp_path: Path) -> None:
    backends = {name: f"{NAMESPACE}/surge" for name in APISERVICES}
    backends["v1beta1.external.metrics.k8s.io"] = "monitoring/prometheus-adapter"
    env, log = _fake_kubectl(tmp_path, backends, [NAMESPACE])
    run = make_certs(tmp_path / "certs", env=env)
    # One APIService belongs to another server: left alone, and the exit status says so.
    assert run.returncode == 1
    assert (
        "v1beta1.external.metrics.k8s.io is served by monitoring/prometheus-adapter" in run.stderr
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    applied = [c for c in calls if c["args"][:2] == ["apply", "-f"]]
    (secret,) = [yaml.safe_load(c["stdin"]) for c in applied]
    assert secret["metadata"]["name"] == "surge-serving-cert"
    patched = [c["args"][2] for c in calls if c["args"][:2] == ["patch", "apiservice"]]
    assert patched == APISERVICES[:2]


def test_refuses_before_the_overlay_is_applied(tmp_path: Path) -> None:
    env, log = _fake_kubectl(tmp_path, {}, namespaces=[])
    run = make_certs(tmp_path / "certs", env=env)
    assert run.returncode == 2 and "kubectl apply -k deploy/overlays/dev" in run.stderr
    assert not [
        c
        for c in map(json.loads, log.read_text().splitlines())
        if c["args"][0] in ("apply", "patch")
    ]
