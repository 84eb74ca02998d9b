"""The Kubernetes API stand-in, driven by real clients: kubernetes-asyncio and kubectl."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from surge.demo.data import NAMESPACE, demo_objects, pod_names
from tests.support.kube_standin import KubeStandin, KubeStandinThread, human_duration

PODS = pod_names(3)
_META_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def _pod(name: str, namespace: str = NAMESPACE, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"},
    }


@pytest.fixture
async def seeded(kube_standin: KubeStandin) -> KubeStandin:
    for obj in demo_objects(PODS):
        kube_standin.add(obj)
    kube_standin.add(_pod("other-a", app="other"))
    kube_standin.add(_pod("ai-service-elsewhere", "default", app="ai-service"))
    return kube_standin


@pytest.fixture
async def core(seeded: KubeStandin, tmp_path: Path) -> AsyncIterator[client.CoreV1Api]:
    kubeconfig = seeded.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = await config.new_client_from_config(config_file=str(kubeconfig))
    async with api_client:
        yield client.CoreV1Api(api_client)


async def _get(
    standin: KubeStandin, path: str, accept: str = "application/json"
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(standin.url + path, headers={"Accept": accept}) as answer,
    ):
        return answer.status, await answer.json(content_type=None)


async def _watch_lines(
    standin: KubeStandin, path: str, accept: str = "application/json"
) -> list[Any]:
    """Every event of a watch that ends by itself (timeoutSeconds, fault, expiry)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(standin.url + path, headers={"Accept": accept}) as answer,
    ):
        assert answer.status == 200
        return [json.loads(line) async for line in answer.content if line.strip()]


# ----- kubernetes-asyncio -----


async def test_list_with_label_selector(core: client.CoreV1Api, seeded: KubeStandin) -> None:
    pods = await core.list_namespaced_pod(NAMESPACE, label_selector="app=ai-service")
    assert [p.metadata.name for p in pods.items] == PODS
    assert pods.metadata.resource_version == str(seeded.resource_version)
    everywhere = await core.list_pod_for_all_namespaces(label_selector="app in (ai-service)")
    assert [(p.metadata.namespace, p.metadata.name) for p in everywhere.items] == sorted(
        [(NAMESPACE, n) for n in PODS] + [("default", "ai-service-elsewhere")]
    )
    none = await core.list_namespaced_pod(NAMESPACE, label_selector="app=ai-service,tier=gpu")
    assert none.items == []


async def test_bad_label_selector_is_a_400(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        await core.list_namespaced_pod(NAMESPACE, label_selector="app in (x")
    assert caught.value.status == 400
    body = json.loads(caught.value.body)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400)
    assert "unable to parse requirement" in body["message"]


async def test_get_and_not_found(core: client.CoreV1Api) -> None:
    pod = await core.read_namespaced_pod(PODS[1], NAMESPACE)
    assert pod.metadata.name == PODS[1] and pod.status.phase == "Running"
    with pytest.raises(ApiException) as caught:
        await core.read_namespaced_pod("missing", NAMESPACE)
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["message"] == 'pods "missing" not found'


async def test_watch_sees_add_update_delete(core: client.CoreV1Api, seeded: KubeStandin) -> None:
    listed = await core.list_namespaced_pod(NAMESPACE, label_selector="app=ai-service")
    events: list[tuple[str, str, str]] = []

    async def follow() -> None:
        stream = watch.Watch().stream(
            core.list_namespaced_pod,
            NAMESPACE,
            label_selector="app=ai-service",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=30,
        )
        async with stream:
            async for event in stream:
                obj = event["object"]
                events.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
                if len(events) == 4:
                    return

    follower = asyncio.create_task(follow())
    added = seeded.add(_pod("ai-service-7d9f8b6c5d-new01", app="ai-service"))
    seeded.add(_pod("not-selected", app="other"))
    relabelled = dict(
        added, metadata={**added["metadata"], "labels": {"app": "ai-service", "x": "1"}}
    )
    seeded.update(relabelled)
    moved_out = seeded.get("pods", NAMESPACE, PODS[0])
    assert moved_out is not None
    moved_out["metadata"]["labels"]["app"] = "retired"
    seeded.update(moved_out)
    gone = seeded.delete("Pod", NAMESPACE, "ai-service-7d9f8b6c5d-new01")
    await asyncio.wait_for(follower, 30)
    assert [(kind, name) for kind, name, _ in events] == [
        ("ADDED", "ai-service-7d9f8b6c5d-new01"),
        ("MODIFIED", "ai-service-7d9f8b6c5d-new01"),
        ("DELETED", PODS[0]),  # left the selection
        ("DELETED", "ai-service-7d9f8b6c5d-new01"),
    ]
    versions = [int(v) for _, _, v in events]
    assert versions == sorted(versions) and versions[-1] == int(gone["metadata"]["resourceVersion"])


async def test_watch_without_version_starts_with_the_state(seeded: KubeStandin) -> None:
    events = await _watch_lines(
        seeded,
        f"/api/v1/namespaces/{NAMESPACE}/pods?watch=1&labelSelector=app%3Dai-service&timeoutSeconds=1",
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", name) for name in PODS
    ]
    assert events[0]["object"]["kind"] == "Pod"


async def test_watch_timeout_ends_with_a_bookmark(seeded: KubeStandin) -> None:
    version = seeded.resource_version
    events = await _watch_lines(
        seeded,
        f"/apis/apps/v1/deployments?watch=true&resourceVersion={version}"
        "&timeoutSeconds=1&allowWatchBookmarks=true",
    )
    assert events == [
        {
            "type": "BOOKMARK",
            "object": {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "metadata": {"resourceVersion": str(version)},
            },
        }
    ]


async def test_watch_from_expired_version_is_410() -> None:
    async with KubeStandin(history=2) as standin:
        for i in range(4):
            standin.add(_pod(f"p{i}", app="x"))
        events = await _watch_lines(standin, "/api/v1/pods?watch=1&resourceVersion=2")
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    assert (events[0]["object"]["code"], events[0]["object"]["reason"]) == (410, "Expired")


# ----- raw HTTP: discovery, shapes, selectors, paging, faults -----


async def test_discovery(kube_standin: KubeStandin) -> None:
    status, api = await _get(kube_standin, "/api")
    assert status == 200 and api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    _, core = await _get(kube_standin, "/api/v1")
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get", "list", "watch"],
        "shortNames": ["po"],
    }
    assert {r["name"] for r in core["resources"]} >= {"pods", "namespaces", "nodes", "services"}
    aggregated = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    )
    _, groups = await _get(kube_standin, "/apis", aggregated)
    assert groups["kind"] == "APIGroupList"
    names = {g["name"]: g["preferredVersion"]["groupVersion"] for g in groups["groups"]}
    assert names["apps"] == "apps/v1" and names["batch"] == "batch/v1"
    _, apps = await _get(kube_standin, "/apis/apps/v1")
    assert {r["name"] for r in apps["resources"]} >= {
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
    }
    _, version = await _get(kube_standin, "/version")
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    status, missing = await _get(kube_standin, "/apis/example.com/v1")
    assert status == 404 and missing["reason"] == "NotFound"


async def test_list_shape_matches_kubernetes(seeded: KubeStandin) -> None:
    status, body = await _get(seeded, f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")
    assert status == 200
    assert (body["kind"], body["apiVersion"]) == ("DeploymentList", "apps/v1")
    assert body["metadata"]["resourceVersion"] == str(seeded.resource_version)
    assert [i["metadata"]["name"] for i in body["items"]] == ["ai-service"]
    assert "kind" not in body["items"][0]  # typed lists carry no per-item TypeMeta
    _, namespaces = await _get(seeded, "/api/v1/namespaces")
    assert [i["metadata"]["name"] for i in namespaces["items"]] == [NAMESPACE]
    _, namespace = await _get(seeded, f"/api/v1/namespaces/{NAMESPACE}")
    assert namespace["kind"] == "Namespace"


async def test_field_selector(seeded: KubeStandin) -> None:
    _, one = await _get(seeded, f"/api/v1/pods?fieldSelector=metadata.name%3D{PODS[2]}")
    assert [i["metadata"]["name"] for i in one["items"]] == [PODS[2]]
    _, rest = await _get(seeded, f"/api/v1/pods?fieldSelector=metadata.namespace!%3D{NAMESPACE}")
    assert [i["metadata"]["name"] for i in rest["items"]] == ["ai-service-elsewhere"]
    status, bad = await _get(seeded, "/api/v1/pods?fieldSelector=spec.bogus%3Dx")
    assert status == 400 and bad["reason"] == "BadRequest" and "spec.bogus" in bad["message"]


async def test_limit_and_continue(seeded: KubeStandin) -> None:
    names: list[str] = []
    path = f"/api/v1/namespaces/{NAMESPACE}/pods?limit=2"
    pages = 0
    while True:
        _, page = await _get(seeded, path)
        pages += 1
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
        assert page["metadata"]["remainingItemCount"] > 0
        path = f"/api/v1/namespaces/{NAMESPACE}/pods?limit=2&continue={token}"
    assert pages == 2 and names == sorted([*PODS, "other-a"])
    status, _ = await _get(seeded, "/api/v1/pods?continue=%25%25")
    assert status == 400


async def test_partial_metadata_and_table(seeded: KubeStandin) -> None:
    path = f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3Dai-service"
    _, partial = await _get(seeded, path, _META_LIST)
    assert (partial["kind"], partial["apiVersion"]) == (
        "PartialObjectMetadataList",
        "meta.k8s.io/v1",
    )
    assert partial["items"][0]["kind"] == "PartialObjectMetadata"
    assert set(partial["items"][0]) == {"kind", "apiVersion", "metadata"}
    _, table = await _get(seeded, path, _TABLE)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"][:5]] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert [r["cells"][:4] for r in table["rows"]] == [[p, "1/1", "Running", "0"] for p in PODS]
    status, refused = await _get(seeded, path, "application/vnd.kubernetes.protobuf")
    assert status == 406 and refused["reason"] == "NotAcceptable"
    status, _ = await _get(
        seeded, path, "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
    )
    assert status == 406


async def test_partial_metadata_watch(seeded: KubeStandin) -> None:
    events = await _watch_lines(
        seeded,
        f"/api/v1/namespaces/{NAMESPACE}/pods?watch=true&timeoutSeconds=1&labelSelector=app%3Dother",
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
    )
    assert [(e["type"], e["object"]["kind"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "PartialObjectMetadata", "other-a")
    ]


async def test_writes_are_refused(seeded: KubeStandin) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{seeded.url}/api/v1/namespaces/{NAMESPACE}/pods", json=_pod("x")) as answer,
    ):
        assert answer.status == 405
        assert (await answer.json())["reason"] == "MethodNotAllowed"


async def test_down_answers_503_and_ends_watches(seeded: KubeStandin) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{seeded.url}/api/v1/pods?watch=1&labelSelector=app%3Dother") as stream,
    ):
        first = json.loads(await stream.content.readline())
        assert first["object"]["metadata"]["name"] == "other-a"
        seeded.down = True
        assert await asyncio.wait_for(stream.content.read(), 10) == b""
    status, body = await _get(seeded, "/api/v1/pods")
    assert status == 503 and body["reason"] == "ServiceUnavailable"
    seeded.down = False
    status, _ = await _get(seeded, "/api/v1/pods")
    assert status == 200


async def test_stop_refuses_connections_then_comes_back_on_the_same_port(
    seeded: KubeStandin,
) -> None:
    url = seeded.url
    await seeded.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(seeded, "/api/v1/pods")
    await seeded.start()
    assert seeded.url == url
    status, body = await _get(seeded, "/api/v1/pods")
    assert status == 200 and len(body["items"]) == len(PODS) + 2


def test_control_api_validates(kube_standin_thread: KubeStandinThread) -> None:
    kube_standin_thread.add(_pod("a"))
    with pytest.raises(ValueError, match="already exists"):
        kube_standin_thread.add(_pod("a"))
    with pytest.raises(KeyError):
        kube_standin_thread.update(_pod("b"))
    with pytest.raises(KeyError):
        kube_standin_thread.delete("pods", NAMESPACE, "b")
    with pytest.raises(KeyError):
        kube_standin_thread.add(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        )
    stored = kube_standin_thread.get("po", NAMESPACE, "a")
    assert (
        stored is not None and stored["metadata"]["uid"] and stored["metadata"]["creationTimestamp"]
    )


@pytest.mark.parametrize(
    ("seconds", "printed"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (7200, "120m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 7200, "3d2h"),
        (400 * 86400, "400d"),
        (3 * 365 * 86400 + 86400 * 5, "3y5d"),
    ],
)
def test_age_is_printed_as_kubectl_does(seconds: int, printed: str) -> None:
    assert human_duration(seconds) == printed


# ----- the real kubectl -----


def _kubectl(kubeconfig: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_kubectl_get_pods_by_label(kube_standin_thread: KubeStandinThread, tmp_path: Path) -> None:
    for obj in demo_objects(PODS):
        kube_standin_thread.add(obj)
    kube_standin_thread.add(_pod("other-a", app="other"))
    kubeconfig = kube_standin_thread.write_kubeconfig(tmp_path / "kubeconfig")
    cache = tmp_path / "cache"

    names = _kubectl(
        kubeconfig, cache, "get", "pods", "-n", NAMESPACE, "-l", "app=ai-service", "-o", "name"
    )
    assert names.returncode == 0, names.stderr
    assert names.stdout.split() == [f"pod/{p}" for p in PODS]

    table = _kubectl(kubeconfig, cache, "get", "pods", "-n", NAMESPACE, "-l", "app=ai-service")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [r.split()[:4] for r in rows] == [[p, "1/1", "Running", "0"] for p in PODS]

    deploy = _kubectl(
        kubeconfig, cache, "get", "deploy", "ai-service", "-n", NAMESPACE, "-o", "json"
    )
    assert deploy.returncode == 0, deploy.stderr
    assert json.loads(deploy.stdout)["spec"]["selector"]["matchLabels"] == {"app": "ai-service"}

    raw = _kubectl(
        kubeconfig,
        cache,
        "get",
        "--raw",
        f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3Dother",
    )
    assert raw.returncode == 0, raw.stderr
    assert [i["metadata"]["name"] for i in json.loads(raw.stdout)["items"]] == ["other-a"]

    missing = _kubectl(kubeconfig, cache, "get", "pod", "nope", "-n", NAMESPACE)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr

    bad = _kubectl(kubeconfig, cache, "get", "pods", "-n", NAMESPACE, "-l", "app in (x")
    assert bad.returncode == 1 and "BadRequest" in bad.stderr

    kube_standin_thread.down = True
    down = _kubectl(kubeconfig, cache, "get", "--raw", "/api/v1/pods")
    assert down.returncode == 1 and "ServiceUnavailable" in down.stderr
