"""`surge serve` with delegated authentication and authorization, over real TLS, against
the Kubernetes API stand-in's TokenReview and SubjectAccessReview (and real kubectl)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.conftest import (
    NS,
    PKI,
    PROXY_NAME,
    WAITING,
    Identity,
    Surge,
    client_context,
    https_get,
    launch,
)
from tests.support import kubeconfig
from tests.support.kube_standin import AccessRule, KubeStandinThread, TokenUser
from tests.support.oracle import ConstantData

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}
HPA = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
PROTECTED = [
    WAITING,
    "/apis",
    "/apis/custom.metrics.k8s.io/v1beta2",
    "/openapi/v2",
    "/metrics",
    "/no/such/path",
    f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{NS}/queue_depth",
]


@pytest.fixture(scope="module")
def standin() -> Iterator[KubeStandinThread]:
    with KubeStandinThread() as server:
        server.set_token("bob-token", TokenUser("bob", "uid-bob", ("developers",)))
        server.set_token("carol-token", TokenUser("carol", groups=("outsiders",)))
        server.set_token("dave-token", TokenUser("dave"))
        # alice, by her certificate's O: every resource and every path
        server.allow(AccessRule(group="metrics-readers"))
        server.allow(AccessRule(group="metrics-readers", path="*"))
        server.allow(AccessRule(user=HPA, verb="get", api_group="custom.metrics.k8s.io"))
        server.allow(AccessRule(user="bob", path="/apis", verb="get"))
        server.allow(AccessRule(user="bob", resource="pods", namespace=NS, reason="bob may"))
        server.deny(AccessRule(user="bob", resource="pods", namespace="kube-system"))
        # dave, as a Role with resourceNames: the ai-service Deployment's metrics only
        server.allow(
            AccessRule(user="dave", resource="deployments.apps", namespace=NS, name="ai-service")
        )
        yield server


@pytest.fixture(scope="module")
def surge(
    tmp_path_factory: pytest.TempPathFactory,
    pki: PKI,
    prometheus_constant: ConstantData,
    constant_objects: Path,
    standin: KubeStandinThread,
) -> Iterator[Surge]:
    tmp = tmp_path_factory.mktemp("auth")
    kubeconfig = standin.write_kubeconfig(tmp / "kubeconfig")
    server = launch(
        tmp,
        pki,
        prometheus_constant.url,
        f"--objects={constant_objects}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--client-ca-file={pki.client_ca}",
        f"--requestheader-client-ca-file={pki.proxy_ca}",
        f"--requestheader-allowed-names={PROXY_NAME}",
        # Long TTLs: the caching assertions below must not depend on how fast they run.
        "--authentication-token-webhook-cache-ttl=10m",
        "--authorization-webhook-cache-authorized-ttl=10m",
        "--authorization-webhook-cache-unauthorized-ttl=10m",
    )
    yield server
    assert server.stop() == 0


def _proxied(user: str, *groups: str, **extra: str) -> list[tuple[str, str]]:
    headers = [("X-Remote-User", user)]
    headers += [("X-Remote-Group", g) for g in groups]
    headers += [(f"X-Remote-Extra-{k}", v) for k, v in extra.items()]
    return headers


def _last_access_review(standin: KubeStandinThread) -> dict[str, object]:
    reviews = [r for r in standin.reviews() if r["kind"] == "SubjectAccessReview"]
    return reviews[-1]["spec"]


# -- who may not get in ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz"])
def test_health_needs_no_credentials(surge: Surge, path: str) -> None:
    assert (surge.get(path).status, surge.get(path).text) == (200, "ok")
    assert surge.get(path, token="nonsense").status == 200


@pytest.mark.parametrize("path", PROTECTED)
def test_no_credentials_is_401(surge: Surge, path: str) -> None:
    reply = surge.get(path)
    assert (reply.status, reply.json()) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("path", PROTECTED)
def test_forged_identity_headers_without_a_proxy_certificate_are_401(
    surge: Surge, path: str
) -> None:
    headers = _proxied("system:admin", "system:masters", scopes="all")
    headers.append(("Impersonate-User", "system:admin"))
    reply = surge.get(path, headers=headers)
    assert (reply.status, reply.json()) == (401, UNAUTHORIZED)


def test_invalid_token_is_401_and_its_review_is_cached(
    surge: Surge, standin: KubeStandinThread
) -> None:
    before = standin.review_calls().get("tokenreviews", 0)
    for _ in range(3):
        reply = surge.get(WAITING, token="not-a-token")
        assert (reply.status, reply.json()) == (401, UNAUTHORIZED)
    assert standin.review_calls()["tokenreviews"] == before + 1
    review = next(r for r in reversed(standin.reviews()) if r["kind"] == "TokenReview")
    assert review == {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": "not-a-token"},
    }


def test_front_proxy_certificate_with_a_name_not_allowed_is_401(surge: Surge, pki: PKI) -> None:
    reply = surge.get(WAITING, pki.proxy_wrong_name, _proxied(HPA))
    assert (reply.status, reply.json()) == (401, UNAUTHORIZED)


def test_proxy_certificate_without_identity_headers_is_not_a_user(surge: Surge, pki: PKI) -> None:
    reply = surge.get(WAITING, pki.proxy)
    assert (reply.status, reply.json()) == (401, UNAUTHORIZED)


def test_user_certificate_named_like_the_proxy_does_not_become_one(
    surge: Surge, pki: PKI, standin: KubeStandinThread
) -> None:
    """Signed by the client CA, not the front-proxy CA: its headers are not believed, it
    is the user its certificate names, and that user may not read metrics."""
    reply = surge.get(WAITING, pki.user_named_like_proxy, _proxied(HPA, "system:masters"))
    assert reply.status == 403
    assert f'User "{PROXY_NAME}" cannot get' in reply.json()["message"]
    spec = _last_access_review(standin)
    assert spec["user"] == PROXY_NAME and "system:masters" not in spec["groups"]


@pytest.mark.parametrize("who", ["untrusted", "untrusted_proxy_named"])
def test_certificate_from_an_unknown_ca_is_refused_in_the_handshake(
    surge: Surge, pki: PKI, who: str
) -> None:
    """Python's TLS layer verifies a presented certificate itself: an unknown CA ends the
    handshake (alert unknown_ca), so the request is never read, let alone answered."""
    identity: Identity = getattr(pki, who)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        surge.get(WAITING, identity, _proxied(HPA, "system:masters"))


def test_every_forgery_is_rejected(surge: Surge, pki: PKI) -> None:
    """The whole matrix at once: 100% of these get 401/403 or no answer at all."""
    attempts: list[tuple[Identity | None, list[tuple[str, str]], str | None]] = [
        (None, [], None),
        (None, _proxied(HPA, "system:masters"), None),
        (None, _proxied(HPA), "forged-token"),
        (pki.proxy_wrong_name, _proxied(HPA), None),
        (pki.proxy, [], None),
        (pki.proxy, [("X-Remote-User", "  ")], None),
        (pki.user_named_like_proxy, _proxied(HPA), None),
        (pki.untrusted, _proxied(HPA), None),
        (pki.untrusted_proxy_named, _proxied(HPA), None),
        (None, [("Authorization", "Basic YWRtaW46YWRtaW4=")], None),
        (None, [("Authorization", "Bearer")], None),
    ]
    outcomes = []
    for identity, headers, token in attempts:
        for path in PROTECTED:
            try:
                outcomes.append(surge.get(path, identity, headers, token).status)
            except (ssl.SSLError, ConnectionError):
                outcomes.append("refused")
    assert outcomes and set(outcomes) <= {401, 403, "refused"}


# -- who may, and what they are asked for -------------------------------------------------------


def test_front_proxy_user_reads_metrics_and_is_reviewed_faithfully(
    surge: Surge, pki: PKI, standin: KubeStandinThread, prometheus_constant: ConstantData
) -> None:
    headers = _proxied(HPA, "system:serviceaccounts", "system:serviceaccounts:kube-system")
    headers.append(("X-Remote-Extra-Authentication.kubernetes.io%2fpod-name", "kcm-0"))
    reply = surge.get(f"{WAITING}?labelSelector=app%3Dai-service", pki.proxy, headers)
    assert reply.status == 200, reply.text
    names = {i["describedObject"]["name"] for i in reply.json()["items"]}
    assert names == set(prometheus_constant.pods)
    # Broad reviews: allowed for every namespace and pod, so one review covers them all.
    assert _last_access_review(standin) == {
        "resourceAttributes": {
            "verb": "get",
            "group": "custom.metrics.k8s.io",
            "version": "v1beta2",
            "resource": "pods",
            "subresource": "http_requests_waiting",
        },
        "user": HPA,
        "groups": [
            "system:serviceaccounts",
            "system:serviceaccounts:kube-system",
            "system:authenticated",
        ],
        "extra": {"authentication.kubernetes.io/pod-name": ["kcm-0"]},
    }


def test_system_masters_is_allowed_without_a_review(
    surge: Surge, pki: PKI, standin: KubeStandinThread
) -> None:
    """As k8s.io/apiserver's delegated authorizer (AlwaysAllowGroups): no rule of the
    stand-in allows this user, and no review is asked (without the group: two, every
    namespace and then the request's)."""
    before = standin.review_calls().get("subjectaccessreviews", 0)
    path = f"{WAITING}?labelSelector=app%3Dai-service"
    reply = surge.get(path, pki.proxy, _proxied("cluster-admin", "system:masters"))
    assert reply.status == 200, reply.text
    assert surge.get(path, pki.proxy, _proxied("cluster-admin", "ops")).status == 403
    assert standin.review_calls()["subjectaccessreviews"] == before + 2


def test_client_certificate_user_and_groups(
    surge: Surge, pki: PKI, standin: KubeStandinThread
) -> None:
    reply = surge.get("/apis/custom.metrics.k8s.io/v1beta1", pki.alice)
    assert reply.status == 200
    assert _last_access_review(standin) == {
        "nonResourceAttributes": {"path": "/apis/custom.metrics.k8s.io/v1beta1", "verb": "get"},
        "user": "alice",
        "groups": ["metrics-readers", "system:authenticated"],
    }


def test_token_user_is_reviewed_then_cached(surge: Surge, standin: KubeStandinThread) -> None:
    before = standin.review_calls()
    for _ in range(3):
        assert surge.get("/apis", token="bob-token").status == 200
    after = standin.review_calls()
    assert after["tokenreviews"] - before.get("tokenreviews", 0) <= 1
    assert after["subjectaccessreviews"] - before.get("subjectaccessreviews", 0) <= 1
    spec = _last_access_review(standin)
    assert spec == {
        "nonResourceAttributes": {"path": "/apis", "verb": "get"},
        "user": "bob",
        "groups": ["developers", "system:authenticated"],
        "uid": "uid-bob",
    }


def test_denied_request_is_403_naming_what_was_denied(surge: Surge) -> None:
    reply = surge.get(WAITING, token="carol-token")
    assert reply.status == 403
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods.custom.metrics.k8s.io "*" is forbidden: User "carol" cannot get '
        'resource "pods/http_requests_waiting" in API group "custom.metrics.k8s.io" in the '
        f'namespace "{NS}"',
        "reason": "Forbidden",
        "details": {"name": "*", "group": "custom.metrics.k8s.io", "kind": "pods"},
        "code": 403,
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/apis", 'forbidden: User "carol" cannot get path "/apis"'),
        ("/openapi/v2", 'forbidden: User "carol" cannot get path "/openapi/v2"'),
        (
            f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}/metrics/queue_depth",
            'metrics.custom.metrics.k8s.io "queue_depth" is forbidden: User "carol" cannot '
            f'get resource "metrics" in API group "custom.metrics.k8s.io" in the namespace "{NS}"',
        ),
        (
            f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{NS}/queue_depth",
            'queue_depth.external.metrics.k8s.io is forbidden: User "carol" cannot list '
            f'resource "queue_depth" in API group "external.metrics.k8s.io" in the namespace '
            f'"{NS}"',
        ),
        (
            "/apis/custom.metrics.k8s.io/v1beta1/nodes/node-1/cpu_busy",
            'nodes.custom.metrics.k8s.io "node-1" is forbidden: User "carol" cannot get '
            'resource "nodes/cpu_busy" in API group "custom.metrics.k8s.io" at the cluster scope',
        ),
    ],
)
def test_forbidden_messages_by_path(surge: Surge, path: str, message: str) -> None:
    reply = surge.get(path, token="carol-token")
    assert (reply.status, reply.json()["message"]) == (403, message)


def test_a_user_allowed_one_object_is_reviewed_for_each_object(
    surge: Surge, standin: KubeStandinThread
) -> None:
    """Broad reviews fall through to the request's own for a grant by resourceNames."""
    deployments = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}/deployments.apps"
    before = standin.review_calls()["subjectaccessreviews"]
    allowed = surge.get(
        f"{deployments}/ai-service/ai_llm_response_time_p99_seconds", token="dave-token"
    )
    assert allowed.status == 200, allowed.text
    assert standin.review_calls()["subjectaccessreviews"] == before + 3
    reply = surge.get(f"{deployments}/gateway/ai_llm_response_time_p99_seconds", token="dave-token")
    assert (reply.status, reply.json()["message"]) == (
        403,
        'deployments.apps.custom.metrics.k8s.io "gateway" is forbidden: User "dave" cannot get '
        'resource "deployments.apps/ai_llm_response_time_p99_seconds" in API group '
        f'"custom.metrics.k8s.io" in the namespace "{NS}"',
    )
    assert standin.review_calls()["subjectaccessreviews"] == before + 4
    asked = [r["spec"] for r in standin.reviews() if r["kind"] == "SubjectAccessReview"][-4:]
    scopes = [
        (a["resourceAttributes"].get("namespace"), a["resourceAttributes"].get("name"))
        for a in asked
    ]
    assert scopes == [(None, None), (NS, None), (NS, "ai-service"), (NS, "gateway")]


def test_broad_reviews_off_ask_each_request_exactly(
    tmp_path: Path,
    pki: PKI,
    prometheus_constant: ConstantData,
    constant_objects: Path,
    standin: KubeStandinThread,
    surge_processes: list[Surge],
) -> None:
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    exact = launch(
        tmp_path,
        pki,
        prometheus_constant.url,
        f"--objects={constant_objects}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--authentication-skip-lookup",
        "--authorization-broad-reviews=false",
    )
    surge_processes.append(exact)
    before = standin.review_calls()["subjectaccessreviews"]
    reply = exact.get(f"{WAITING}?labelSelector=app%3Dai-service", token="bob-token")
    assert reply.status == 200, reply.text
    assert standin.review_calls()["subjectaccessreviews"] == before + 1
    assert _last_access_review(standin)["resourceAttributes"] == {
        "namespace": NS,
        "verb": "get",
        "group": "custom.metrics.k8s.io",
        "version": "v1beta2",
        "resource": "pods",
        "subresource": "http_requests_waiting",
        "name": "*",
    }


def test_explicit_deny_with_and_without_reason(surge: Surge) -> None:
    reply = surge.get(
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/kube-system/pods/*/x", token="bob-token"
    )
    assert reply.status == 403
    allowed = surge.get(f"{WAITING}?labelSelector=app%3Dai-service", token="bob-token")
    assert allowed.status == 200


def test_methods_are_authorized_before_they_are_refused(surge: Surge, pki: PKI) -> None:
    """As in Kubernetes, authorization comes before routing: an allowed user gets the 405,
    an anonymous one the 401."""
    assert surge.get("/apis", method="POST").status == 401
    assert surge.get("/apis", pki.alice, method="DELETE").status == 405


# -- kubectl ------------------------------------------------------------------------------------


def _kubectl(
    tmp: Path, surge: Surge, path: str, *, identity: Identity | None = None, token: str = ""
) -> subprocess.CompletedProcess[str]:
    user: dict[str, str] = {}
    if identity is not None:
        user = {"client-certificate": str(identity.cert), "client-key": str(identity.key)}
    if token:
        user["token"] = token
    server = f"https://127.0.0.1:{surge.port}"
    config = kubeconfig.write_kubeconfig(tmp / "kubeconfig", server, ca=surge.ca, user=user)
    env = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": str(config), "HOME": str(tmp)}
    return subprocess.run(
        ["kubectl", "get", "--raw", path],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_kubectl_with_a_client_certificate(surge: Surge, pki: PKI, tmp_path: Path) -> None:
    done = _kubectl(
        tmp_path, surge, f"{WAITING}?labelSelector=app%3Dai-service", identity=pki.alice
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "MetricValueList"


def test_kubectl_with_tokens(surge: Surge, tmp_path: Path) -> None:
    done = _kubectl(tmp_path, surge, "/apis", token="bob-token")
    assert done.returncode == 0, done.stderr
    done = _kubectl(tmp_path, surge, "/apis", token="wrong")
    assert done.returncode == 1
    assert "Unauthorized" in done.stderr
    done = _kubectl(tmp_path, surge, WAITING, token="carol-token")
    assert done.returncode == 1
    assert 'Error from server (Forbidden): pods.custom.metrics.k8s.io "*" is forbidden' in (
        done.stderr
    )


def test_kubectl_with_a_certificate_from_an_unknown_ca(
    surge: Surge, pki: PKI, tmp_path: Path
) -> None:
    done = _kubectl(tmp_path, surge, "/apis", identity=pki.untrusted)
    assert done.returncode == 1
    assert done.stderr.startswith("Unable to connect to the server")


# -- the Kubernetes API down ---------------------------------------------------------------------


def test_api_down_cached_decisions_hold_uncached_fail_closed(
    surge: Surge, pki: PKI, standin: KubeStandinThread
) -> None:
    path = f"{WAITING}?labelSelector=app%3Dai-service"
    assert surge.get(path, pki.proxy, _proxied(HPA)).status == 200  # reviewed and cached
    standin.down = True
    try:
        assert surge.get(path, pki.proxy, _proxied(HPA)).status == 200  # from the cache
        reply = surge.get(path, pki.proxy, _proxied(HPA, "a-group-never-reviewed"))
        assert reply.status == 503
        assert reply.json()["reason"] == "ServiceUnavailable"
        reply = surge.get(path, token="a-token-never-reviewed")
        assert (reply.status, reply.json()) == (401, UNAUTHORIZED)
    finally:
        standin.down = False
    reply = surge.get(path, pki.proxy, _proxied(HPA, "a-group-never-reviewed"))
    assert reply.status == 200


def test_serving_ca_is_verified_by_clients(surge: Surge, pki: PKI) -> None:
    """The serving pair given by flags is what clients see (not a self-signed one)."""
    reply = https_get(surge.port, "/healthz", client_context(pki.serving_ca))
    assert reply.status == 200
    with pytest.raises(ssl.SSLError):
        https_get(surge.port, "/healthz", ssl.create_default_context())
