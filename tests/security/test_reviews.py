"""TokenReview and SubjectAccessReview clients against the stand-in, with an injected clock
for the caches and the reviews counted as the API received them; broad reviews; RequestInfo
attributes, Forbidden messages and front-proxy headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from apiservice import auth
from apiservice.auth import (
    AccessReviewer,
    Attributes,
    FrontProxyConfig,
    KubeCalls,
    ReviewError,
    TokenReviewer,
    UserInfo,
    access_review_spec,
    forbidden,
    path_allowed,
    request_attributes,
    review_scopes,
)
from apiservice.kube import KubeUnreachable, load_client
from tests.support.clock import Clock
from tests.support.kube_standin import AccessRule, KubeStandin, TokenUser


@pytest.fixture
async def kube(kube_standin: KubeStandin, tmp_path: Path) -> AsyncIterator[KubeCalls]:
    config = kube_standin.write_kubeconfig(tmp_path / "kubeconfig")
    calls = KubeCalls(await load_client(str(config)))
    yield calls
    await calls.close()


POD_METRIC = Attributes(
    "get",
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods/*/rps",
    True,
    "custom.metrics.k8s.io",
    "v1beta2",
    "ns",
    "pods",
    "rps",
    "*",
)
HPA = UserInfo("hpa", "", ("system:serviceaccounts", "system:authenticated"))
CM = "/apis/custom.metrics.k8s.io/v1beta2"


# -- the client -----------------------------------------------------------------------------------

_PROXY_VARIABLES = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
)


async def test_the_proxy_environment_is_read_once_and_honoured(
    kube_standin: KubeStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As client-go: HTTP(S)_PROXY and NO_PROXY apply; read when the client is made, not
    per request (kubernetes-asyncio's session would read them, and ~/.netrc, each time)."""
    config = str(kube_standin.write_kubeconfig(tmp_path / "kubeconfig"))
    asked: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.append(await reader.readline())
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    proxied = KubeCalls(await load_client(config))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    bypassed = KubeCalls(await load_client(config))
    for name in ("HTTP_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name)  # read already: changes now do not matter
    try:
        with pytest.raises(KubeUnreachable):
            await proxied.request("GET", "/api/v1/namespaces")
        # (aiohttp asks twice: a GET is retried once on a closed connection)
        assert set(asked) == {f"GET {kube_standin.url}/api/v1/namespaces HTTP/1.1\r\n".encode()}
        proxied_calls = len(asked)
        assert (await bypassed.request("GET", "/api/v1/namespaces"))[0] == 200
        assert len(asked) == proxied_calls
    finally:
        await proxied.close()
        await bypassed.close()
        server.close()


# -- TokenReview ---------------------------------------------------------------------------------


async def test_token_review_answers_and_caches_both_ways(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    kube_standin.set_token("good", TokenUser("bob", "u-1", ("devs",), {"scope": ["a", "b"]}))
    clock = Clock(1000.0)
    tokens = TokenReviewer(kube, ttl_s=10, clock=clock)
    for _ in range(3):
        assert await tokens.review("good") == UserInfo(
            "bob", "u-1", ("devs",), {"scope": ("a", "b")}
        )
        assert await tokens.review("bad") is None
    assert kube_standin.review_calls["tokenreviews"] == 2
    kube_standin.set_token("good", None)  # revoked: still valid until the cache expires
    clock.now += 9.9
    assert await tokens.review("good") is not None
    clock.now += 0.2
    assert await tokens.review("good") is None
    assert kube_standin.review_calls["tokenreviews"] == 3


async def test_review_cache_is_bounded_least_recently_used_first(
    kube_standin: KubeStandin, kube: KubeCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its size the cache forgets the answer used longest ago; an expired answer is
    asked again."""
    monkeypatch.setattr(auth, "_CACHE_SIZE", 2)
    for token in ("a", "b", "c"):
        kube_standin.set_token(token, TokenUser(token))
    clock = Clock(1000.0)
    tokens = TokenReviewer(kube, ttl_s=10, clock=clock)

    async def review(token: str) -> int:
        """How many TokenReviews the API has received after this review."""
        assert await tokens.review(token) == UserInfo(token)
        return kube_standin.review_calls["tokenreviews"]

    assert [await review(t) for t in ("a", "b", "a")] == [1, 2, 2]
    assert await review("c") == 3  # full: "b" (used longest ago) is forgotten
    assert [await review(t) for t in ("a", "c")] == [3, 3]
    assert await review("b") == 4
    clock.now += 10.1  # every answer expired
    assert await review("b") == 5


async def test_token_review_audiences(kube_standin: KubeStandin, kube: KubeCalls) -> None:
    kube_standin.set_token("t", TokenUser("bob", audiences=("surge",)))
    assert await TokenReviewer(kube, audiences=("surge",)).review("t") == UserInfo("bob")
    assert await TokenReviewer(kube, audiences=("other",)).review("t") is None
    assert kube_standin.reviews[-1]["spec"] == {"token": "t", "audiences": ["other"]}


async def test_token_review_errors_are_not_cached(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    kube_standin.set_token("good", TokenUser("bob"))
    tokens = TokenReviewer(kube, clock=Clock(1000.0))
    kube_standin.down = True
    with pytest.raises(ReviewError, match="503"):
        await tokens.review("good")
    kube_standin.down = False
    assert await tokens.review("good") == UserInfo("bob")


async def test_token_review_with_the_api_gone(kube_standin: KubeStandin, kube: KubeCalls) -> None:
    await kube_standin.stop()
    with pytest.raises(ReviewError, match="unreachable"):
        await TokenReviewer(kube).review("anything")


async def test_concurrent_reviews_of_one_token_are_one_call(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    kube_standin.set_token("good", TokenUser("bob"))
    tokens = TokenReviewer(kube)
    answers = await asyncio.gather(*(tokens.review("good") for _ in range(20)))
    assert set(answers) == {UserInfo("bob")}
    assert kube_standin.review_calls["tokenreviews"] == 1


async def test_empty_token_is_refused_by_the_api(kube: KubeCalls) -> None:
    with pytest.raises(ReviewError, match="token is required"):
        await TokenReviewer(kube).review("")


# -- SubjectAccessReview: exact reviews (--authorization-broad-reviews=false) ---------------------


async def test_access_review_spec_and_answer(kube_standin: KubeStandin, kube: KubeCalls) -> None:
    """Exact reviews carry the request's attributes as the webhook authorizer writes them."""
    kube_standin.allow(AccessRule(user="hpa", resource="pods", reason="RBAC: allowed"))
    reviewer = AccessReviewer(kube, clock=Clock(1000.0), broad=False)
    decision = await reviewer.decide(HPA, POD_METRIC)
    assert (decision.allowed, decision.reason) == (True, "RBAC: allowed")
    assert kube_standin.reviews[-1] == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "namespace": "ns",
                "verb": "get",
                "group": "custom.metrics.k8s.io",
                "version": "v1beta2",
                "resource": "pods",
                "subresource": "rps",
                "name": "*",
            },
            "user": "hpa",
            "groups": ["system:serviceaccounts", "system:authenticated"],
        },
    }


async def test_allowed_and_denied_have_their_own_ttls(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    kube_standin.allow(AccessRule(user="hpa"))
    clock = Clock(1000.0)
    reviewer = AccessReviewer(kube, allowed_ttl_s=30, denied_ttl_s=5, clock=clock, broad=False)
    denied_user = UserInfo("eve", groups=("system:authenticated",))
    for _ in range(3):
        assert (await reviewer.decide(HPA, POD_METRIC)).allowed
        assert not (await reviewer.decide(denied_user, POD_METRIC)).allowed
    assert kube_standin.review_calls["subjectaccessreviews"] == 2
    kube_standin.allow(AccessRule(user="eve"))
    clock.now += 6  # the denial expired, the allowance did not
    assert (await reviewer.decide(denied_user, POD_METRIC)).allowed
    assert (await reviewer.decide(HPA, POD_METRIC)).allowed
    assert kube_standin.review_calls["subjectaccessreviews"] == 3
    kube_standin.clear_access()
    clock.now += 30
    assert not (await reviewer.decide(HPA, POD_METRIC)).allowed
    assert kube_standin.review_calls["subjectaccessreviews"] == 4


async def test_exact_reviews_ask_once_per_object(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    kube_standin.allow(AccessRule(user="hpa"))
    reviewer = AccessReviewer(kube, clock=Clock(1000.0), broad=False)
    for _ in range(2):
        for name in NAMES:
            assert (await reviewer.decide(HPA, _deployment_metric("ns", name))).allowed
    assert kube_standin.review_calls["subjectaccessreviews"] == len(NAMES)
    assert [r["spec"]["resourceAttributes"]["name"] for r in kube_standin.reviews] == NAMES


async def test_explicit_denial_wins(kube_standin: KubeStandin, kube: KubeCalls) -> None:
    kube_standin.allow(AccessRule(group="system:authenticated"))
    kube_standin.deny(AccessRule(user="hpa", namespace="ns", reason="no ns for you"))
    decision = await AccessReviewer(kube, broad=False).decide(HPA, POD_METRIC)
    assert (decision.allowed, decision.reason) == (False, "no ns for you")


# -- SubjectAccessReview: broad reviews (the default) ---------------------------------------------

NAMES = [f"web-{i}" for i in range(20)]


def _deployment_metric(namespace: str, name: str, metric: str = "rps") -> Attributes:
    """An Object metric's attributes: the review names the Deployment."""
    return request_attributes(
        "GET", f"{CM}/namespaces/{namespace}/deployments.apps/{name}/{metric}", {}
    )


def _scopes(kube_standin: KubeStandin) -> list[tuple[str, str]]:
    """(namespace, name) of every resource review asked, in order."""
    asked = [r["spec"].get("resourceAttributes") for r in kube_standin.reviews]
    return [(a.get("namespace", ""), a.get("name", "")) for a in asked if a is not None]


async def test_a_cluster_wide_allowance_covers_every_object_with_one_review(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    kube_standin.allow(AccessRule(user="hpa", api_group="custom.metrics.k8s.io"))
    reviewer = AccessReviewer(kube, clock=Clock(1000.0))
    requests = [_deployment_metric(f"ns-{n}", name) for n in range(5) for name in NAMES]
    decisions = await asyncio.gather(*(reviewer.decide(HPA, a) for a in requests))
    assert all(d.allowed for d in decisions)
    assert kube_standin.review_calls["subjectaccessreviews"] == 1  # 100 objects, coalesced
    assert kube_standin.reviews[0]["spec"] == {
        "resourceAttributes": {
            "verb": "get",
            "group": "custom.metrics.k8s.io",
            "version": "v1beta2",
            "resource": "deployments.apps",
            "subresource": "rps",
        },
        "user": "hpa",
        "groups": ["system:serviceaccounts", "system:authenticated"],
    }
    # Another metric (subresource) or resource is another question; pods/* is all pods.
    assert (await reviewer.decide(HPA, _deployment_metric("ns-0", "web-0", "p99"))).allowed
    assert (await reviewer.decide(HPA, POD_METRIC)).allowed
    assert (await reviewer.decide(HPA, replace(POD_METRIC, namespace="ns-3"))).allowed
    assert kube_standin.review_calls["subjectaccessreviews"] == 3
    assert _scopes(kube_standin) == [("", "")] * 3


async def test_a_namespace_grant_costs_one_review_per_namespace(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    """As a RoleBinding in ns-1: the cluster-wide question is denied, ns-1's allowed; in
    ns-2 every object is asked on its own, and denied."""
    kube_standin.allow(AccessRule(user="hpa", namespace="ns-1"))
    reviewer = AccessReviewer(kube, clock=Clock(1000.0))
    for _ in range(2):
        for name in NAMES:
            assert (await reviewer.decide(HPA, _deployment_metric("ns-1", name))).allowed
        for name in NAMES[:3]:
            assert not (await reviewer.decide(HPA, _deployment_metric("ns-2", name))).allowed
    assert _scopes(kube_standin) == [
        ("", ""),
        ("ns-1", ""),
        ("ns-2", ""),
        ("ns-2", "web-0"),
        ("ns-2", "web-1"),
        ("ns-2", "web-2"),
    ]


async def test_a_resource_names_grant_falls_through_to_the_exact_review(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    """As a Role with resourceNames: both broader questions are denied (and cached), the
    named object is allowed by its own review, any other object denied by its own, with
    the 403 of an exact review."""
    kube_standin.allow(
        AccessRule(user="hpa", namespace="ns", resource="deployments.apps", name="web")
    )
    reviewer = AccessReviewer(kube, clock=Clock(1000.0))
    web, api = _deployment_metric("ns", "web"), _deployment_metric("ns", "api")
    for _ in range(2):
        assert (await reviewer.decide(HPA, web)).allowed
        denied = await reviewer.decide(HPA, api)
        assert not denied.allowed
    assert _scopes(kube_standin) == [("", ""), ("ns", ""), ("ns", "web"), ("ns", "api")]
    assert forbidden(HPA, api, denied.reason).message == (
        'deployments.apps.custom.metrics.k8s.io "api" is forbidden: User "hpa" cannot get '
        'resource "deployments.apps/rps" in API group "custom.metrics.k8s.io" in the '
        'namespace "ns"'
    )


async def test_broad_answers_expire_with_their_ttls(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    kube_standin.allow(AccessRule(user="hpa", namespace="ns"))
    clock = Clock(1000.0)
    reviewer = AccessReviewer(kube, allowed_ttl_s=30, denied_ttl_s=5, clock=clock)
    assert (await reviewer.decide(HPA, POD_METRIC)).allowed
    assert _scopes(kube_standin) == [("", ""), ("ns", "")]
    kube_standin.allow(AccessRule(user="hpa"))  # now cluster-wide
    clock.now += 4.9  # the cluster-wide denial still holds: each namespace asks its own
    for namespace in ("a", "b"):
        assert (await reviewer.decide(HPA, replace(POD_METRIC, namespace=namespace))).allowed
    assert _scopes(kube_standin)[2:] == [("a", ""), ("b", "")]
    clock.now += 0.2  # it expired: asked again, now allowed for every namespace
    for namespace in ("c", "d"):
        assert (await reviewer.decide(HPA, replace(POD_METRIC, namespace=namespace))).allowed
    assert _scopes(kube_standin)[4:] == [("", "")]
    kube_standin.clear_access()
    clock.now += 29.9  # allowed answers hold their 30s
    assert (await reviewer.decide(HPA, POD_METRIC)).allowed
    clock.now += 0.2
    assert not (await reviewer.decide(HPA, POD_METRIC)).allowed
    assert _scopes(kube_standin)[5:] == [("", ""), ("ns", "")]


async def test_broad_reviews_trust_a_broader_allowance_over_a_narrower_denial(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    """Why --authorization-broad-reviews=false exists: RBAC never denies, but an authorizer
    that denies one namespace while allowing all is answered for all."""
    kube_standin.allow(AccessRule(group="system:authenticated"))
    kube_standin.deny(AccessRule(user="hpa", namespace="ns", reason="no ns for you"))
    assert (await AccessReviewer(kube).decide(HPA, POD_METRIC)).allowed
    assert not (await AccessReviewer(kube, broad=False).decide(HPA, POD_METRIC)).allowed


async def test_access_review_errors_are_not_cached(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    """A broader denial is cached; the API failing on the next scope fails the decision
    (503 for the caller), and nothing of it is kept."""
    kube_standin.allow(AccessRule(user="hpa", namespace="ns"))
    reviewer = AccessReviewer(kube, clock=Clock(1000.0))
    other = UserInfo("other", groups=("system:authenticated",))
    assert not (await reviewer.decide(other, POD_METRIC)).allowed  # ("", "") and ns denied
    kube_standin.down = True
    with pytest.raises(ReviewError):
        await reviewer.decide(HPA, POD_METRIC)
    assert not (await reviewer.decide(other, POD_METRIC)).allowed  # cached: no call
    kube_standin.down = False
    calls = kube_standin.review_calls["subjectaccessreviews"]
    assert (await reviewer.decide(HPA, POD_METRIC)).allowed
    assert kube_standin.review_calls["subjectaccessreviews"] == calls + 2
    assert _scopes(kube_standin)[-2:] == [("", ""), ("ns", "")]


@pytest.mark.parametrize(
    ("path", "scopes"),
    [
        (f"{CM}/namespaces/ns/pods/*/rps", [("", ""), ("ns", "")]),
        (f"{CM}/namespaces/ns/deployments.apps/web/rps", [("", ""), ("ns", ""), ("ns", "web")]),
        (f"{CM}/nodes/n1/cpu", [("", ""), ("", "n1")]),
        (f"{CM}/nodes/*/cpu", [("", "")]),
        ("/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/queue", [("", ""), ("ns", "")]),
    ],
)
def test_review_scopes(path: str, scopes: list[tuple[str, str]]) -> None:
    attrs = request_attributes("GET", path, {})
    broad = list(review_scopes(attrs, broad=True))
    assert [(s.namespace, s.name) for s in broad] == scopes
    assert {(s.verb, s.group, s.version, s.resource, s.subresource, s.path) for s in broad} == {
        (attrs.verb, attrs.group, attrs.version, attrs.resource, attrs.subresource, "")
    }
    assert list(review_scopes(attrs, broad=False)) == [replace(attrs, path="")]
    discovery = request_attributes("GET", "/apis", {})
    assert list(review_scopes(discovery, broad=True)) == [discovery]


async def test_invalid_access_review_is_422(kube: KubeCalls) -> None:
    with pytest.raises(ReviewError, match=r"422.*at least one of user or group"):
        await AccessReviewer(kube).decide(UserInfo(""), POD_METRIC)


async def test_a_caller_giving_up_does_not_fail_the_others(
    kube_standin: KubeStandin, kube: KubeCalls
) -> None:
    kube_standin.allow(AccessRule(user="hpa"))
    reviewer = AccessReviewer(kube)
    first = asyncio.create_task(reviewer.decide(HPA, POD_METRIC))
    second = asyncio.create_task(reviewer.decide(HPA, POD_METRIC))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).allowed
    assert kube_standin.review_calls["subjectaccessreviews"] == 1


# -- request attributes, as kube-apiserver's RequestInfo ----------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        (
            "GET",
            f"{CM}/namespaces/ns/pods/*/rps",
            {},
            ("get", True, "custom.metrics.k8s.io", "v1beta2", "ns", "pods", "rps", "*"),
        ),
        (
            "GET",
            f"{CM}/namespaces/ns/deployments.apps/web/rps",
            {},
            (
                "get",
                True,
                "custom.metrics.k8s.io",
                "v1beta2",
                "ns",
                "deployments.apps",
                "rps",
                "web",
            ),
        ),
        (
            "GET",
            f"{CM}/namespaces/ns/metrics/queue",
            {},
            ("get", True, "custom.metrics.k8s.io", "v1beta2", "ns", "metrics", "", "queue"),
        ),
        (
            "GET",
            f"{CM}/nodes/n1/cpu",
            {},
            ("get", True, "custom.metrics.k8s.io", "v1beta2", "", "nodes", "cpu", "n1"),
        ),
        (
            "GET",
            f"{CM}/namespaces/ns",
            {},
            ("get", True, "custom.metrics.k8s.io", "v1beta2", "ns", "namespaces", "", "ns"),
        ),
        (
            "GET",
            f"{CM}/namespaces/ns/status",
            {},
            ("get", True, "custom.metrics.k8s.io", "v1beta2", "ns", "namespaces", "status", "ns"),
        ),
        (
            "GET",
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/ns/queue_depth",
            {},
            ("list", True, "external.metrics.k8s.io", "v1beta1", "ns", "queue_depth", "", ""),
        ),
        (
            "GET",
            f"{CM}/pods",
            {"watch": "true"},
            ("watch", True, "custom.metrics.k8s.io", "v1beta2", "", "pods", "", ""),
        ),
        (
            "GET",
            f"{CM}/watch/namespaces/ns/pods",
            {},
            ("watch", True, "custom.metrics.k8s.io", "v1beta2", "ns", "pods", "", ""),
        ),
        (
            "DELETE",
            f"{CM}/namespaces/ns/pods",
            {},
            ("deletecollection", True, "custom.metrics.k8s.io", "v1beta2", "ns", "pods", "", ""),
        ),
        (
            "HEAD",
            f"{CM}/pods/p/m",
            {},
            ("get", True, "custom.metrics.k8s.io", "v1beta2", "", "pods", "m", "p"),
        ),
        (
            "POST",
            f"{CM}/pods",
            {},
            ("create", True, "custom.metrics.k8s.io", "v1beta2", "", "pods", "", ""),
        ),
        (
            "GET",
            "/api/v1/namespaces/ns/pods/p/log",
            {},
            ("get", True, "", "v1", "ns", "pods", "log", "p"),
        ),
        ("GET", "/apis", {}, ("get", False, "", "", "", "", "", "")),
        ("GET", "/apis/custom.metrics.k8s.io", {}, ("get", False, "", "", "", "", "", "")),
        ("GET", CM, {}, ("get", False, "", "", "", "", "", "")),
        ("GET", "/openapi/v2", {}, ("get", False, "", "", "", "", "", "")),
        ("HEAD", "/openapi/v3", {}, ("head", False, "", "", "", "", "", "")),
        ("GET", "/", {}, ("get", False, "", "", "", "", "", "")),
    ],
)
def test_request_attributes(
    method: str, path: str, query: dict[str, str], expected: tuple[object, ...]
) -> None:
    a = request_attributes(method, path, query)
    got = (
        a.verb,
        a.resource_request,
        a.group,
        a.version,
        a.namespace,
        a.resource,
        a.subresource,
        a.name,
    )
    assert got == expected and a.path == path


def test_forbidden_messages() -> None:
    bob = UserInfo('b"o<b>')
    error = forbidden(bob, POD_METRIC, "no")
    assert error.message == (
        'pods.custom.metrics.k8s.io "*" is forbidden: User "b\\"o&lt;b&gt;" cannot get resource '
        '"pods/rps" in API group "custom.metrics.k8s.io" in the namespace "ns": no'
    )
    assert error.details == {"name": "*", "group": "custom.metrics.k8s.io", "kind": "pods"}
    path = Attributes("get", "/openapi/v2\n")
    assert forbidden(UserInfo("x"), path).message == (
        'forbidden: User "x" cannot get path "/openapi/v2\\n"'
    )
    core = Attributes("list", "/api/v1/pods", True, "", "v1", "", "pods")
    assert forbidden(UserInfo("x"), core).message == (
        'pods is forbidden: User "x" cannot list resource "pods" in API group "" '
        "at the cluster scope"
    )


def test_access_review_spec_leaves_empty_fields_out() -> None:
    user = UserInfo("u", "id", (), {"b": ("2",), "a": ("1",)})
    spec = access_review_spec(user, Attributes("get", "/apis"))
    assert spec == {
        "nonResourceAttributes": {"path": "/apis", "verb": "get"},
        "user": "u",
        "extra": {"a": ["1"], "b": ["2"]},
        "uid": "id",
    }


def test_always_allow_paths() -> None:
    patterns = ("/healthz", "/debug/*")
    assert path_allowed(patterns, "/healthz")
    assert not path_allowed(patterns, "/healthz/etcd")
    assert path_allowed(patterns, "/debug/pprof/x")
    assert not path_allowed(patterns, "/apis")


def _headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_front_proxy_headers() -> None:
    proxy = FrontProxyConfig((), username_headers=("X-Remote-User", "X-Other-User"))
    user = proxy.user(
        _headers(
            ("x-remote-user", " "),
            ("X-Other-User", "alice"),
            ("X-Remote-Group", "g1"),
            ("X-Remote-Group", " g2 "),
            ("X-Remote-Group", ""),
            ("X-Remote-Extra-Scopes", "read"),
            ("x-remote-extra-scopes", "write"),
            ("X-Remote-Extra-Example.com%2fkey", "v"),
            ("X-Remote-Extra-Bad%ff", "raw"),
        )
    )
    assert user == UserInfo(
        "alice",
        "",
        ("g1", "g2"),
        {"scopes": ("read", "write"), "example.com/key": ("v",), "bad%ff": ("raw",)},
    )
    assert proxy.user(_headers(("X-Remote-Group", "g1"))) is None
