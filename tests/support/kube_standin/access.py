"""The delegated auth reviews: which tokens are valid and what access is allowed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tests.support.kube_standin.errors import StandinError
from tests.support.kube_standin.resources import JSONObject


@dataclass(frozen=True)
class AccessRule:
    """One allow or deny rule for SubjectAccessReviews: "*" matches anything, and a rule
    names a user, a group, or neither (everyone). A rule with `path` matches only
    non-resource requests, one without only resource requests."""

    user: str | None = None
    group: str | None = None
    verb: str = "*"
    api_group: str = "*"
    resource: str = "*"
    subresource: str = "*"
    namespace: str = "*"
    name: str = "*"
    path: str | None = None
    reason: str = ""

    def matches(self, spec: JSONObject) -> bool:
        if self.user is not None and spec.get("user") != self.user:
            return False
        if self.group is not None and self.group not in (spec.get("groups") or []):
            return False
        if self.path is not None:
            attrs = spec.get("nonResourceAttributes")
            if attrs is None:
                return False
            wanted = {"path": self.path, "verb": self.verb}
        else:
            attrs = spec.get("resourceAttributes")
            if attrs is None:
                return False
            wanted = {
                "verb": self.verb,
                "group": self.api_group,
                "resource": self.resource,
                "subresource": self.subresource,
                "namespace": self.namespace,
                "name": self.name,
            }
        return all(want == "*" or attrs.get(key, "") == want for key, want in wanted.items())


@dataclass(frozen=True)
class TokenUser:
    """status.user of an authenticated TokenReview."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)
    audiences: tuple[str, ...] = ("https://kubernetes.default.svc.cluster.local",)

    def status_user(self) -> JSONObject:
        user: JSONObject = {"username": self.username}
        if self.uid:
            user["uid"] = self.uid
        if self.groups:
            user["groups"] = list(self.groups)
        if self.extra:
            user["extra"] = self.extra
        return user


def _review_body(raw: bytes, api_version: str, kind: str) -> JSONObject:
    """The posted object, checked the way the apiserver's decoder checks it."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise StandinError(
            400,
            "BadRequest",
            "the body of the request was in an unknown format - accepted media types "
            "include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ) from None
    if not isinstance(body, dict):
        raise StandinError(400, "BadRequest", f"{kind} in body must be an object")
    if body.get("apiVersion") != api_version or body.get("kind") != kind:
        raise StandinError(
            400,
            "BadRequest",
            f"the API version in the data ({body.get('apiVersion')}) does not match the "
            f"expected API version ({api_version})",
        )
    if not isinstance(body.get("spec"), dict):
        body["spec"] = {}
    return body
