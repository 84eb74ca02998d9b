"""Status answers (kind Status, reason, code) as the apiserver writes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web

from tests.support.kube_standin.resources import JSONObject, ResourceType


def _dumps(body: object) -> str:
    """Compact, as the apiserver writes JSON."""
    return json.dumps(body, separators=(",", ":"))


def _json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(body), status=status, content_type="application/json")


class StandinError(Exception):
    """An answer that is a metav1.Status."""

    def __init__(self, code: int, reason: str, message: str, details: JSONObject | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> JSONObject:
        body: JSONObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    def response(self) -> web.Response:
        return _json_response(self.status(), status=self.code)


def _not_found_path() -> StandinError:
    return StandinError(404, "NotFound", "the server could not find the requested resource", {})


def _not_found(resource: ResourceType, name: str) -> StandinError:
    details = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    qualified = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
    return StandinError(404, "NotFound", f'{qualified} "{name}" not found', details)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
