"""Watch events and watchers: what a watch stream is fed from."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from apiservice.selectors import Selector
from tests.support.kube_standin.fields import FieldSelector
from tests.support.kube_standin.resources import JSONObject, ResourceType


@dataclass(frozen=True)
class _Event:
    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: ResourceType
    obj: JSONObject
    old: JSONObject | None = None


@dataclass(eq=False)
class _Watcher:
    resource: ResourceType
    namespace: str | None
    labels: Selector
    fields: FieldSelector
    queue: asyncio.Queue[_Event | None] = field(default_factory=asyncio.Queue)

    def selects(self, obj: JSONObject | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels") or {}) and self.fields.matches(obj)

    def translate(self, event: _Event) -> str | None:
        """The event as this watcher sees it, or None if it is outside its selection."""
        now, before = self.selects(event.obj), self.selects(event.old)
        if event.type == "MODIFIED":
            if now and before:
                return "MODIFIED"
            return "ADDED" if now else "DELETED" if before else None
        return event.type if now else None
