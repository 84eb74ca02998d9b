"""The object index answers selector listings in Kubernetes' order, namespace by namespace,
and what a selector selects follows every change of the objects."""

from __future__ import annotations

import pytest

from adapter import objects
from adapter.objects import ObjectMeta, StaticObjects, _Store
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


def _meta(ns: str, name: str, app: str) -> ObjectMeta:
    return ObjectMeta(ns, name, {"app": app})


def test_a_kept_selection_follows_every_change_of_its_namespace() -> None:
    store = _Store([_meta("a", "web-1", "web"), _meta("b", "web-1", "web")])
    web = parse_selector("app=web")

    def names(namespace: str, namespaced: bool = True) -> list[tuple[str, str]]:
        return [(o.namespace, o.name) for o in store.select(namespace, web, namespaced)]

    assert names("a") == [("a", "web-1")]
    assert names("", namespaced=True) == [("a", "web-1"), ("b", "web-1")]
    store.put(_meta("a", "web-0", "web"))  # added
    assert names("a") == [("a", "web-0"), ("a", "web-1")]
    store.put(_meta("a", "web-1", "db"))  # relabelled: no longer selected
    assert names("a") == [("a", "web-0")]
    store.drop("b", "web-1")  # another namespace: what every namespace selects changes
    assert names("") == [("a", "web-0")]
    assert names("b") == []
    store.drop("a", "web-0")
    assert names("a") == []


def test_kept_selections_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(objects, "_SELECTIONS_KEPT", 3)
    store = _Store([_meta("a", f"web-{i}", f"web-{i}") for i in range(5)])
    for i in range(5):
        assert [o.name for o in store.select("a", parse_selector(f"app=web-{i}"), True)] == [
            f"web-{i}"
        ]
    assert len(store._selected["a"]) <= 3
