"""bench.kube.fill: a fleet created through tests/e2e's real kube-apiserver, every pod
reported Running and Ready, and a refused create named in the error."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from bench import fleet
from bench.kube import FillError, api_object, fill
from tests.e2e.controlplane import ControlPlane

NAMESPACES, DEPLOYMENTS, PODS = 6, 90, 2


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("fill")) as started:
        yield started


def test_the_fleet_is_listed_with_every_pod_ready(plane: ControlPlane) -> None:
    objects = [api_object(o) for o in fleet.objects(fleet.fleet(NAMESPACES, DEPLOYMENTS, PODS))]
    filled = fill(plane, objects, inflight=16)

    pods = DEPLOYMENTS * PODS
    assert filled.objects == NAMESPACES + DEPLOYMENTS + pods
    assert filled.pods_ready == pods
    assert filled.requests >= filled.objects + pods
    admin = plane.admin()
    listed = admin.get("/api/v1/pods", labelSelector="app")["items"]
    assert len(listed) == pods
    for pod in listed:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert pod["status"]["phase"] == "Running" and ready["Ready"] == "True", pod
    deployments = admin.get("/apis/apps/v1/deployments")["items"]
    wanted = [o for o in objects if o["kind"] == "Deployment"]
    assert sorted(names(deployments)) == sorted(names(wanted))


def names(objects: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects]


def test_a_refused_create_names_the_object(plane: ControlPlane) -> None:
    pod = api_object(fleet.objects(fleet.fleet(1, 1))[2])
    stray = {**pod, "metadata": {**pod["metadata"], "namespace": "no-such-namespace"}}
    with pytest.raises(FillError, match="POST /api/v1/namespaces/no-such-namespace/pods: 404 "):
        fill(plane, [stray])


def test_owned_objects_are_refused_before_any_request(plane: ControlPlane) -> None:
    owned = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "n", "ownerReferences": [{"uid": "x"}]},
    }
    with pytest.raises(ValueError, match="ownerReferences"):
        fill(plane, [owned])
