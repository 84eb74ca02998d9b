"""The aggregator in front of Surge: APIServices Available, Surge's answers through
`kubectl get --raw`, and who may ask."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import quote

import pytest

from apiservice.quantity import Quantity
from tests.e2e.cluster import APISERVICES, Cluster, wait_for
from tests.e2e.exporter import Load
from tests.e2e.workload import GIB, Workload

pytestmark = pytest.mark.timeout(300)

LOAD = Load(waiting=30, cpu_cores=1.0, memory_bytes=1 * GIB, llm_calls=8)
SELECTOR = quote("app=ai-service")


def custom_path(namespace: str) -> str:
    return (
        f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/pods/*/"
        f"http_requests_waiting?labelSelector={SELECTOR}"
    )


def raw(cluster: Cluster, path: str) -> dict[str, object]:
    return dict(json.loads(cluster.kubectl("get", "--raw", path).stdout))


def raw_when_found(cluster: Cluster, path: str) -> dict[str, object] | None:
    """The answer, or None while Surge has not listed the series yet (404)."""
    done = cluster.kubectl("get", "--raw", path, check=False)
    if done.returncode != 0:
        assert "NotFound" in done.stderr, done.stderr
        return None
    return dict(json.loads(done.stdout))


def test_apiservices_are_available(cluster: Cluster, say: Callable[[str], None]) -> None:
    table = cluster.kubectl("get", "apiservice", *APISERVICES).stdout
    say(f"$ kubectl get apiservice {' '.join(APISERVICES)}\n{table}")
    for name in APISERVICES:
        obj = cluster.kubectl_json("get", "apiservice", name)
        available = {c["type"]: c for c in obj["status"]["conditions"]}["Available"]
        assert available["status"] == "True", available
        assert obj["spec"]["service"]["name"] == "surge"
        assert obj["spec"]["service"]["namespace"] == "surge-system"
        assert not obj["spec"].get("insecureSkipTLSVerify")
        row = next(line for line in table.splitlines() if line.startswith(name))
        assert row.split()[1:3] == ["surge-system/surge", "True"], row


def test_raw_answers_come_from_surge(cluster: Cluster, workload: Workload) -> None:
    workload.create(LOAD)
    pods = set(cluster.kubelet.running()[workload.namespace])

    def listed() -> dict[str, object] | None:
        body = raw_when_found(cluster, custom_path(workload.namespace))
        if body is None:
            return None
        names = {item["describedObject"]["name"] for item in body["items"]}  # type: ignore[union-attr]
        return body if names == pods else None

    body = wait_for(listed, 60, "both pods' http_requests_waiting through the aggregator")
    assert body["kind"] == "MetricValueList"
    assert body["apiVersion"] == "custom.metrics.k8s.io/v1beta2"
    assert {item["value"] for item in body["items"]} == {"15"}  # type: ignore[union-attr]

    # The same path straight to Surge (client certificate of system:masters) gives the same.
    direct = _direct(cluster, custom_path(workload.namespace), cert="admin")
    assert direct[0] == 200
    assert _values(json.loads(direct[1])) == _values(body)

    external = raw(
        cluster,
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{workload.namespace}/"
        f"ai_service_requests_waiting_total?labelSelector={quote('service=ai-service')}",
    )
    assert external["kind"] == "ExternalMetricValueList"
    assert [item["value"] for item in external["items"]] == ["30"]  # type: ignore[union-attr]

    def pod_metrics() -> dict[str, object] | None:
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{workload.namespace}/pods"
        body = raw_when_found(cluster, path)
        return body if body and len(body["items"]) == 2 else None  # type: ignore[arg-type]

    metrics = wait_for(pod_metrics, 60, "PodMetrics of both pods")
    assert metrics["kind"] == "PodMetricsList"
    for item in metrics["items"]:  # type: ignore[union-attr]
        assert item["metadata"]["name"] in pods
        usage = item["containers"][0]["usage"]
        assert Quantity.parse(usage["memory"]).value() == GIB
        assert Quantity.parse(usage["cpu"]).milli_value() == pytest.approx(500, abs=5)

    groups = cluster.kubectl("api-versions").stdout.split()
    assert {"custom.metrics.k8s.io/v1beta2", "external.metrics.k8s.io/v1beta1"} <= set(groups)


def _values(body: dict[str, object]) -> dict[str, str]:
    return {i["describedObject"]["name"]: i["value"] for i in body["items"]}  # type: ignore[union-attr]


def _direct(
    cluster: Cluster, path: str, cert: str | None, token: str | None = None
) -> tuple[int, str]:
    """GET straight to Surge's port, verifying its certificate, with a client certificate
    of the cluster CA (`admin` in system:masters, `nobody` without any RBAC), a bearer
    token, or nothing."""
    pki = cluster.plane.pki
    tls = ssl.create_default_context(cafile=str(pki.ca.cert))
    if cert:
        pair = pki.admin if cert == "admin" else pki.nobody
        tls.load_cert_chain(str(pair.cert), str(pair.key))
    request = urllib.request.Request(cluster.surge_url + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, context=tls, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_user_without_rbac_is_refused(cluster: Cluster, say: Callable[[str], None]) -> None:
    path = custom_path("default")
    through = cluster.kubectl(
        "get", "--raw", path, kubeconfig=cluster.plane.nobody_kubeconfig, check=False
    )
    say(f"$ kubectl --user e2e-nobody get --raw '{path}'\n{through.stderr.strip()}")
    assert through.returncode != 0
    assert "Forbidden" in through.stderr

    # Surge's own delegated checks: nobody is authenticated by its client CA (from
    # kube-system/extension-apiserver-authentication) and refused by SubjectAccessReview;
    # no credentials at all is 401; the cluster admin passes.
    code, body = _direct(cluster, path, cert="nobody")
    assert code == 403, body
    assert json.loads(body)["reason"] == "Forbidden"
    code, body = _direct(cluster, path, cert=None)
    assert code == 401, body
    code, body = _direct(cluster, "/apis/custom.metrics.k8s.io/v1beta2", cert="admin")
    assert code == 200, body

    # A bearer token goes through TokenReview: a real service account's token is
    # authenticated, then refused (no RBAC); a forged one is 401.
    cluster.kubectl("create", "serviceaccount", "e2e-no-rbac", "-n", "surge-system")
    token = cluster.kubectl("create", "token", "e2e-no-rbac", "-n", "surge-system").stdout.strip()
    code, body = _direct(cluster, path, cert=None, token=token)
    assert code == 403, body
    assert "system:serviceaccount:surge-system:e2e-no-rbac" in json.loads(body)["message"]
    code, body = _direct(cluster, path, cert=None, token=token[:-4] + "AAAA")
    assert code == 401, body


def test_loopback_endpoints_are_refused(cluster: Cluster) -> None:
    """Why the Service is ExternalName: an EndpointSlice (or Endpoints) naming Surge's
    loopback address is refused by validation (ValidateEndpointIP)."""
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "surge-loopback", "namespace": "surge-system"},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"]}],
        "ports": [{"name": "https", "port": cluster.surge_port, "protocol": "TCP"}],
    }
    done = cluster.kubectl("create", "-f", "-", stdin=json.dumps(slice_), check=False)
    assert done.returncode != 0
    assert "may not be in the loopback range" in done.stderr, done.stderr
