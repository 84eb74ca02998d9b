"""Without CA flags, `surge serve` trusts what kube-system/extension-apiserver-authentication
says, and follows it as it changes (a new front-proxy CA, new allowed names)."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from tests.security.conftest import (
    PKI,
    PROXY_NAME,
    SEED_RULES,
    WAITING,
    Identity,
    Surge,
    client_context,
    launch,
)
from tests.support.kube_standin import AccessRule, KubeStandin, KubeStandinThread
from tests.support.oracle import ConstantData

HPA = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
QUERY = f"{WAITING}?labelSelector=app%3Dai-service"


def _configmap(
    client_ca: str, proxy_ca: str, allowed: list[str], user_header: str = "X-Remote-User"
) -> dict[str, object]:
    """As kube-apiserver publishes it: PEM bundles, and JSON lists for the header settings."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": "kube-system", "name": "extension-apiserver-authentication"},
        "data": {
            "client-ca-file": client_ca,
            "requestheader-client-ca-file": proxy_ca,
            "requestheader-allowed-names": json.dumps(allowed),
            "requestheader-username-headers": json.dumps([user_header]),
            "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        },
    }


def _status(surge: Surge, identity: Identity, headers: list[tuple[str, str]]) -> int | str:
    try:
        return surge.get(QUERY, identity, headers).status
    except (ssl.SSLError, ConnectionError):
        return "refused"


def _eventually(check: Callable[[], bool], what: str) -> None:
    """Poll until `check` holds; the change travels by watch, so give it a generous while."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def test_trust_follows_the_configmap(
    tmp_path: Path,
    pki: PKI,
    prometheus_constant: ConstantData,
    constant_objects: Path,
    surge_processes: list[Surge],
) -> None:
    with KubeStandinThread() as standin:
        standin.allow(AccessRule(user=HPA))
        standin.allow(AccessRule(user="alice"))
        standin.add(_configmap(pki.client_ca.read_text(), pki.proxy_ca.read_text(), [PROXY_NAME]))
        kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
        surge = launch(
            tmp_path,
            pki,
            prometheus_constant.url,
            f"--objects={constant_objects}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
        )
        surge_processes.append(surge)
        proxied = [("X-Remote-User", HPA)]
        assert _status(surge, pki.proxy, proxied) == 200
        assert _status(surge, pki.alice, []) == 200
        assert _status(surge, pki.proxy_wrong_name, proxied) == 401

        # A new front-proxy CA and a new proxy name: the old proxy certificate is no longer
        # trusted at all, the new one is, and the user CA stays as it was.
        new_ca = trustme.CA()
        leaf = new_ca.issue_cert("proxy2.example.com", common_name="aggregator")
        new_proxy = Identity(tmp_path / "proxy2.crt", tmp_path / "proxy2.key")
        leaf.cert_chain_pems[0].write_to_path(str(new_proxy.cert))
        leaf.private_key_pem.write_to_path(str(new_proxy.key))
        standin.update(
            _configmap(
                pki.client_ca.read_text(),
                new_ca.cert_pem.bytes().decode(),
                ["aggregator"],
                "X-Forwarded-User",
            )
        )
        _eventually(
            lambda: _status(surge, new_proxy, [("X-Forwarded-User", HPA)]) == 200,
            "the new proxy certificate is trusted",
        )
        assert _status(surge, pki.proxy, proxied) in (401, "refused")
        assert _status(surge, new_proxy, proxied) == 401  # the old header is no longer read
        assert _status(surge, pki.alice, []) == 200
        # A connection opened while alice's CA is trusted (Surge reads a connection's
        # certificate once per connection and trust).
        kept = http.client.HTTPSConnection(
            "127.0.0.1", surge.port, context=client_context(surge.ca, pki.alice), timeout=30
        )

        def kept_status() -> int:
            kept.request("GET", QUERY)
            reply = kept.getresponse()
            reply.read()
            return reply.status

        assert kept_status() == 200

        # The ConfigMap gone: nothing is trusted from it any more, on open connections too.
        standin.delete("ConfigMap", "kube-system", "extension-apiserver-authentication")
        _eventually(
            lambda: _status(surge, pki.alice, []) in (401, "refused"),
            "the client CA is no longer trusted",
        )
        assert kept_status() == 401
        kept.close()
        assert _status(surge, new_proxy, [("X-Forwarded-User", HPA)]) in (401, "refused")
        assert surge.get("/readyz").status == 200
        assert surge.stop() == 0


def test_unreadable_configmap_stops_startup_with_one_line(
    tmp_path: Path, pki: PKI, constant_objects: Path
) -> None:
    """The API answers, but not for this ConfigMap (here: it is down): one clear line, and
    exit 1 (a failure, not a usage error: the flags were right)."""
    import subprocess
    import sys

    with KubeStandinThread() as standin:
        standin.down = True
        kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "surge",
                "serve",
                f"--config={SEED_RULES}",
                "--prometheus-url=http://127.0.0.1:1",
                f"--objects={constant_objects}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        "surge serve: cannot read kube-system/extension-apiserver-authentication"
    )
    assert "--authentication-skip-lookup" in line


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--authentication-kubeconfig=/nonexistent"], "cannot load the authentication"),
        (["--authorization-kubeconfig=/nonexistent"], "cannot load the authorization"),
        (
            ["--tls-cipher-suites=TLS_NOT_A_SUITE"],
            "--tls-cipher-suites: unsupported cipher suite 'TLS_NOT_A_SUITE'",
        ),
        (["--client-ca-file=/nonexistent"], "cannot read --client-ca-file /nonexistent"),
    ],
)
def test_bad_auth_flags_are_one_line(
    tmp_path: Path, pki: PKI, constant_objects: Path, flags: list[str], message: str
) -> None:
    import subprocess
    import sys

    kubeconfig = tmp_path / "kubeconfig"  # a client needs no server to be built
    KubeStandin().write_kubeconfig(kubeconfig)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "surge",
            "serve",
            f"--config={SEED_RULES}",
            "--prometheus-url=http://127.0.0.1:1",
            f"--objects={constant_objects}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            "--authentication-skip-lookup",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert message in line
