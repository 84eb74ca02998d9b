"""The prometheus-adapter config file's contents as typed values (read by adapter.rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from apiservice.provider import GroupResource


@dataclass(frozen=True)
class RegexFilter:
    is_: str = ""
    is_not: str = ""


@dataclass(frozen=True)
class ResourceMapping:
    template: str = ""
    overrides: dict[str, GroupResource] = field(default_factory=dict)  # as written, unnormalized
    namespaced: bool | None = None


@dataclass(frozen=True)
class NameMapping:
    matches: str = ""
    as_: str = ""


@dataclass(frozen=True)
class DiscoveryRule:
    series_query: str
    series_filters: list[RegexFilter] = field(default_factory=list)
    resources: ResourceMapping = field(default_factory=ResourceMapping)
    name: NameMapping = field(default_factory=NameMapping)
    metrics_query: str = ""
    line: int = 0
    where: str = ""  # "rules[2]", "externalRules[0]"
    lines: Mapping[str, int] = field(default_factory=dict)  # "name.matches" -> its line

    def line_of(self, key: str) -> int:
        """The line of a field (`seriesFilters[0]`, `resources.overrides.pod`), or the rule's."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return self.line


@dataclass(frozen=True)
class ResourceRule:
    container_query: str
    node_query: str
    resources: ResourceMapping
    container_label: str
    line: int = 0


@dataclass(frozen=True)
class ResourceRules:
    cpu: ResourceRule
    memory: ResourceRule
    window: float  # seconds; PA leaves it 0 when the file does not say
    line: int = 0


@dataclass(frozen=True)
class AdapterConfig:
    rules: list[DiscoveryRule] = field(default_factory=list)
    external_rules: list[DiscoveryRule] = field(default_factory=list)
    resource_rules: ResourceRules | None = None
    source: str = ""
