"""The object index from the Kubernetes API (the stand-in): the first list is paged, and
primed resources are listed before any request, readiness waiting for them; the listed
index is kept out of the cyclic collector's way."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import config as kube_config

from adapter.objects import LIST_PAGE, ClusterObjects, KubeAPI
from apiservice.errors import ServiceUnavailable
from apiservice.provider import GroupResource
from apiservice.selectors import parse_selector
from tests.support.kube_standin import KubeStandin

PODS = GroupResource("", "pods")
NAMESPACES = 3
PER_NAMESPACE = 410  # 1,230 pods: three pages of LIST_PAGE and a short one


class RecordingAPI(KubeAPI):
    """The real client, keeping the parameters of every collection GET."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.lists: list[dict[str, str]] = []

    async def get(
        self, path: str, params: Mapping[str, str] | None = None, accept: str = "application/json"
    ) -> Any:
        if path.endswith("/pods"):
            self.lists.append(dict(params or {}))
        return await super().get(path, params, accept)


@pytest.fixture
async def api(kube_standin: KubeStandin, tmp_path: Path) -> AsyncIterator[RecordingAPI]:
    kubeconfig = kube_standin.write_kubeconfig(tmp_path / "kubeconfig")
    recording = RecordingAPI(await kube_config.new_client_from_config(config_file=str(kubeconfig)))
    yield recording
    await recording.client.close()


def _pod(namespace: str, i: int) -> dict[str, Any]:
    labels = {"app": f"svc-{i % 7}"}
    meta = {"name": f"pod-{i:04d}", "namespace": namespace, "labels": labels}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


async def _until(check: Any, limit_s: float = 20.0) -> None:
    for _ in range(int(limit_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


async def test_primed_pods_are_listed_in_pages_before_ready(
    kube_standin: KubeStandin, api: RecordingAPI
) -> None:
    for n in range(NAMESPACES):
        for i in range(PER_NAMESPACE):
            kube_standin.add(_pod(f"team-{n}", i))
    objects = ClusterObjects(api, await api.discover(), watch=True)
    try:
        assert objects.ready()  # nothing indexed yet
        objects.prime([PODS, GroupResource("", "nosuchresources")])
        assert not objects.ready()  # the pods' first list is under way
        await _until(objects.ready)

        total = NAMESPACES * PER_NAMESPACE
        pages = -(-total // LIST_PAGE)
        assert [p["limit"] for p in api.lists] == [str(LIST_PAGE)] * pages
        assert "continue" not in api.lists[0]
        assert all(p.get("continue") for p in api.lists[1:])
        res = objects.mapper.resource_for(PODS)
        assert res is not None
        everything = await objects.list_objects(res, "", parse_selector(""))
        assert len(everything) == total
        # The listed index is out of the cyclic collector's generations (gc.freeze).
        assert gc.is_tracked(everything[0])
        assert all(o is not everything[0] for o in gc.get_objects())
        svc3 = await objects.list_names(res, "team-1", parse_selector("app=svc-3"))
        assert svc3 == [f"pod-{i:04d}" for i in range(PER_NAMESPACE) if i % 7 == 3]
        assert len(api.lists) == pages  # answered from the index, not listed again
    finally:
        await objects.close()


async def test_a_primed_resource_that_cannot_be_listed_does_not_hold_readiness(
    kube_standin: KubeStandin, api: RecordingAPI
) -> None:
    objects = ClusterObjects(api, await api.discover(), watch=True)
    kube_standin.down = True  # every request answers 503
    try:
        objects.prime([PODS])
        await _until(objects.ready)
        res = objects.mapper.resource_for(PODS)
        assert res is not None
        with pytest.raises(ServiceUnavailable, match="cannot list pods"):
            await objects.list_names(res, "team-0", parse_selector(""))
    finally:
        await objects.close()
