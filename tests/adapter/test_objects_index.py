"""The object index answers selector listings in Kubernetes' order, namespace by namespace."""

from __future__ import annotations

from adapter.objects import StaticObjects
from adapter.resources import BUILTIN
from apiservice.selectors import EVERYTHING, parse_selector

PODS = next(r for r in BUILTIN if r.resource == "pods")
NAMESPACES = next(r for r in BUILTIN if r.resource == "namespaces")


def _pod(ns: str, name: str, app: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"namespace": ns, "name": name, "labels": {"app": app}},
    }


INDEX = StaticObjects(
    [
        _pod("b", "web-2", "web"),
        _pod("a", "web-1", "web"),
        _pod("b", "web-1", "web"),
        _pod("a", "db-0", "db"),
        _pod("c", "web-0", "web"),
    ]
)


async def test_one_namespace_sorted_by_name() -> None:
    assert await INDEX.list_names(PODS, "b", EVERYTHING) == ["web-1", "web-2"]
    assert await INDEX.list_names(PODS, "a", parse_selector("app=web")) == ["web-1"]
    assert await INDEX.list_names(PODS, "zzz", EVERYTHING) == []


async def test_all_namespaces_in_namespace_then_name_order() -> None:
    objects = await INDEX.list_objects(PODS, "", parse_selector("app in (web)"))
    assert [(o.namespace, o.name) for o in objects] == [
        ("a", "web-1"),
        ("b", "web-1"),
        ("b", "web-2"),
        ("c", "web-0"),
    ]


async def test_namespaces_come_from_the_objects_when_not_listed() -> None:
    assert await INDEX.list_names(NAMESPACES, "", EVERYTHING) == ["a", "b", "c"]
    assert [r.resource for r in INDEX.mapper] == ["pods", "namespaces"]
