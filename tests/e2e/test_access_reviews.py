"""Surge's broad SubjectAccessReviews (the cluster's Surge runs with the default,
--authorization-broad-reviews=true) against kube-apiserver's real RBAC: for users granted
cluster-wide (ClusterRoleBinding), in one namespace (RoleBinding) and for one object (a
Role with resourceNames), Surge's answer to each request, asked straight on its port,
matches kube-apiserver's own decision on the request's exact attributes (a
SubjectAccessReview asked as the admin), and its 403 is the one kube-apiserver writes for
the same path through the aggregator."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.cluster import Cluster, wait_for
from tests.e2e.exporter import Load
from tests.e2e.kubeapi import Kube, KubeError
from tests.e2e.workload import DEPLOYMENT, GIB, Workload

pytestmark = pytest.mark.timeout(300)

LOAD = Load(waiting=30, cpu_cores=1.0, memory_bytes=1 * GIB, gateway_pending=5)
CUSTOM = ("custom.metrics.k8s.io", "v1beta2")
EXTERNAL = ("external.metrics.k8s.io", "v1beta1")
METRICS_READER = "e2e-reviews-metrics-reader"
READERS = ("cluster-reader", "namespace-reader", "named-reader", "no-reader")
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Case:
    """A request and the attributes kube-apiserver's RequestInfo gives it, written out
    here rather than taken from Surge; `found` is Surge's answer when allowed."""

    path: str
    verb: str
    api: tuple[str, str]
    namespace: str
    resource: str
    subresource: str
    name: str
    found: int

    def attributes(self) -> dict[str, str]:
        group, version = self.api
        fields = {
            "verb": self.verb,
            "group": group,
            "version": version,
            "namespace": self.namespace,
            "resource": self.resource,
            "subresource": self.subresource,
            "name": self.name,
        }
        return {k: v for k, v in fields.items() if v}


def cases(namespace: str) -> list[Case]:
    custom = f"/apis/{'/'.join(CUSTOM)}/namespaces/{namespace}"
    pending = "gateway_requests_pending"
    waiting = "http_requests_waiting"
    return [
        Case(
            f"{custom}/pods/*/{waiting}?labelSelector={quote('app=ai-service')}",
            *("get", CUSTOM, namespace, "pods", waiting, "*", 200),
        ),
        Case(
            f"{custom}/deployments.apps/{DEPLOYMENT}/{pending}",
            *("get", CUSTOM, namespace, "deployments.apps", pending, DEPLOYMENT, 200),
        ),
        Case(
            f"{custom}/deployments.apps/no-such/{pending}",
            *("get", CUSTOM, namespace, "deployments.apps", pending, "no-such", 404),
        ),
        Case(
            f"/apis/{'/'.join(EXTERNAL)}/namespaces/{namespace}/ai_service_requests_waiting_total"
            f"?labelSelector={quote('service=ai-service')}",
            *("list", EXTERNAL, namespace, "ai_service_requests_waiting_total", "", "", 200),
        ),
    ]


NODE_CASE = Case(
    f"/apis/{'/'.join(CUSTOM)}/nodes/node-1/http_requests_waiting",
    *("get", CUSTOM, "", "nodes", "http_requests_waiting", "node-1", 404),
)


def _rbac(kube: Kube, home: str) -> None:
    """The grants: cluster-reader everywhere, namespace-reader in `home`, named-reader the
    ai-service Deployment's metrics in `home` only, no-reader nothing."""
    rbac = f"/apis/{RBAC}/v1"
    rules = [
        {
            "apiGroups": [CUSTOM[0], EXTERNAL[0]],
            "resources": ["*"],
            "verbs": ["get", "list"],
        }
    ]
    kube.create(
        f"{rbac}/clusterroles",
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": METRICS_READER},
            "rules": rules,
        },
    )
    named = [{**rules[0], "apiGroups": [CUSTOM[0]], "resourceNames": [DEPLOYMENT]}]
    kube.create(
        f"{rbac}/namespaces/{home}/roles",
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "Role",
            "metadata": {"name": "named-reader"},
            "rules": named,
        },
    )
    for name in READERS:
        kube.create(
            f"/api/v1/namespaces/{home}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
        )

    def subjects(name: str) -> list[dict[str, str]]:
        return [{"kind": "ServiceAccount", "name": name, "namespace": home}]

    kube.create(
        f"{rbac}/clusterrolebindings",
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{METRICS_READER}-{home}"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": METRICS_READER},
            "subjects": subjects("cluster-reader"),
        },
    )
    for name, kind, role in (
        ("namespace-reader", "ClusterRole", METRICS_READER),
        ("named-reader", "Role", "named-reader"),
    ):
        kube.create(
            f"{rbac}/namespaces/{home}/rolebindings",
            {
                "apiVersion": f"{RBAC}/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name},
                "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role},
                "subjects": subjects(name),
            },
        )


def _token(kube: Kube, namespace: str, account: str) -> str:
    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
    return str(kube.create(path, request)["status"]["token"])


def _allowed(kube: Kube, home: str, account: str, case: Case) -> bool:
    """kube-apiserver's own decision on the exact attributes: the oracle."""
    review: dict[str, Any] = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": f"system:serviceaccount:{home}:{account}",
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{home}",
                "system:authenticated",
            ],
            "resourceAttributes": case.attributes(),
        },
    }
    answer = kube.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(answer["status"].get("allowed"))


def _get(kube: Kube, path: str) -> tuple[int, str]:
    """The status and, when refused, the message."""
    try:
        kube.raw("GET", path)
    except KubeError as err:
        return err.code, err.message
    return 200, ""


@pytest.fixture
def elsewhere(cluster: Cluster, workload: Workload) -> Iterator[Workload]:
    """A second ai-service namespace, where only the cluster-wide grant reaches."""
    other = Workload(cluster, f"{workload.namespace[:60]}-b")
    yield other
    other.finish()


def test_broad_reviews_decide_as_kube_apiserver(
    cluster: Cluster, workload: Workload, elsewhere: Workload, say: Callable[[str], None]
) -> None:
    home = workload.namespace
    workload.create(LOAD)
    elsewhere.create(LOAD)
    admin = cluster.kube
    _rbac(admin, home)
    checks = [*cases(home), *cases(elsewhere.namespace), NODE_CASE]

    # Surge has the series of both namespaces (the admin is in system:masters: no review).
    pki = cluster.plane.pki
    surge_admin = Kube(cluster.surge_url, pki.ca.cert, cert=(pki.admin.cert, pki.admin.key))
    for case in checks:
        wait_for(
            lambda case=case: _get(surge_admin, case.path)[0] == case.found,
            60,
            f"Surge's {case.found} for {case.path} as the admin",
        )
    # The grants are in force in kube-apiserver's RBAC before Surge is asked.
    for account, case in (
        ("cluster-reader", checks[-1]),
        ("namespace-reader", checks[0]),
        ("named-reader", checks[1]),
    ):
        grant = functools.partial(_allowed, admin, home, account, case)
        wait_for(grant, 30, f"{account}'s grant in kube-apiserver's RBAC")

    ca = pki.ca.cert
    table = [f"{'account':<17} {'oracle':<7} {'surge':<6} request"]
    decisions: dict[str, list[bool]] = {}
    for account in READERS:
        token = _token(admin, home, account)
        direct = Kube(cluster.surge_url, ca, token=token)
        through = Kube(cluster.plane.server, ca, token=token)
        for case in checks:
            allowed = _allowed(admin, home, account, case)
            decisions.setdefault(account, []).append(allowed)
            code, message = _get(direct, case.path)
            verdict = "allow" if allowed else "deny"
            where = "home" if case.namespace == home else case.namespace and "elsewhere"
            what = f"{case.verb} {case.resource}/{case.subresource} {case.name or '(all)'}"
            table.append(f"{account:<17} {verdict:<7} {code:<6} {what} in {where or '(cluster)'}")
            if allowed:
                assert code == case.found, (account, case.path, message)
            else:
                assert code == 403, (account, case.path, code, message)
                # kube-apiserver refuses it first, in its own words: Surge's are the same.
                assert _get(through, case.path) == (403, message)
    say("\n".join(table))
    # The grants are what this test means them to be (home's four cases, elsewhere's
    # four, the node): so every kind of grant was checked both ways.
    assert decisions == {
        "cluster-reader": [True] * 9,
        "namespace-reader": [True] * 4 + [False] * 5,
        "named-reader": [False, True, False, False] + [False] * 5,
        "no-reader": [False] * 9,
    }
