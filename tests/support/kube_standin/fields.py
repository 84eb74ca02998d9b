"""Field selectors as the apiserver applies them to lists and watches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.kube_standin.errors import StandinError
from tests.support.kube_standin.resources import JSONObject, ResourceType


def _split_term(term: str) -> tuple[str, bool, str] | None:
    """(field, equal?, value) of one field-selector term, or None if it has no operator."""
    for op, equal in (("!=", False), ("==", True), ("=", True)):
        key, found, value = term.partition(op)
        if found:
            return key.strip(), equal, value.strip()
    return None


@dataclass(frozen=True)
class FieldSelector:
    """A field selector: terms `field=value`, `field==value`, `field!=value`, ANDed."""

    terms: tuple[tuple[str, bool, str], ...] = ()  # (field, equal?, value)

    @classmethod
    def parse(cls, text: str | None, resource: ResourceType) -> FieldSelector:
        if not text:
            return cls()
        allowed = {"metadata.name", "metadata.namespace", *resource.fields}
        terms = []
        for term in text.split(","):
            split = _split_term(term)
            if split is None:
                raise StandinError(
                    400, "BadRequest", f"invalid selector: '{text}'; can't understand '{term}'"
                )
            key, equal, value = split
            if key not in allowed:
                raise StandinError(
                    400,
                    "BadRequest",
                    f'"{key}" is not a known field selector: only "{", ".join(sorted(allowed))}"',
                )
            terms.append((key, equal, value))
        return cls(tuple(terms))

    def matches(self, obj: JSONObject) -> bool:
        for key, equal, value in self.terms:
            have: Any = obj
            for part in key.split("."):
                have = have.get(part, "") if isinstance(have, dict) else ""
            if (str(have or "") == value) != equal:
                return False
        return True
