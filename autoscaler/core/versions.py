"""The Kubernetes releases the HPA port can decide as: feature-gate defaults and rule changes.

Clusters run several releases at once, and the HPA controller changed between them
(kube_features.go and pkg/controller/podautoscaler of v1.34.12, v1.35.4, v1.36.3, v1.37.2):
- HPAConfigurableTolerance (KEP-4951): alpha/off in 1.34, beta/on in 1.35 and 1.36,
  GA and locked on in 1.37. With it, behavior.scaleUp/scaleDown.tolerance apply.
- HPAScaleToZero (KEP-2021): alpha/off until 1.36, beta/on in 1.37. From 1.36 the
  controller keeps the ScaledToZero condition (gate on) and leaves an HPA at zero replicas
  alone unless that condition holds; 1.34 and 1.35 read the gate only in the API server
  (minReplicas 0) and scale up from zero whenever minReplicas is 0.
- PodLevelResources: beta/on from 1.34; pod-level requests win over containers'.
- From 1.35: Object Value proposals saturate at MaxInt32 and the External sum at MaxInt64
  (1.34 wrapped), and a ContainerResource metric fails on a pod without that container.
- From 1.37: the texts of the Object metric error and of the ambiguous-selector condition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DEFAULT_VERSION = "1.37"

TOLERANCE_GATE = "HPAConfigurableTolerance"
SCALE_TO_ZERO_GATE = "HPAScaleToZero"
POD_LEVEL_RESOURCES_GATE = "PodLevelResources"

# Each gate's default per release, and the releases where it is locked to that default (GA).
_DEFAULTS: dict[str, dict[str, bool]] = {
    "1.34": {TOLERANCE_GATE: False, SCALE_TO_ZERO_GATE: False, POD_LEVEL_RESOURCES_GATE: True},
    "1.35": {TOLERANCE_GATE: True, SCALE_TO_ZERO_GATE: False, POD_LEVEL_RESOURCES_GATE: True},
    "1.36": {TOLERANCE_GATE: True, SCALE_TO_ZERO_GATE: False, POD_LEVEL_RESOURCES_GATE: True},
    "1.37": {TOLERANCE_GATE: True, SCALE_TO_ZERO_GATE: True, POD_LEVEL_RESOURCES_GATE: True},
}
_LOCKED: dict[str, frozenset[str]] = {"1.37": frozenset({TOLERANCE_GATE})}

VERSIONS = tuple(_DEFAULTS)
GATES = tuple(_DEFAULTS[DEFAULT_VERSION])


class VersionError(ValueError):
    """An unknown release or gate, or a locked gate set against its default (one line)."""


@dataclass(frozen=True)
class Release:
    """One release's controller: its minor version and the effective feature gates."""

    version: str = DEFAULT_VERSION
    gates: Mapping[str, bool] = field(
        default_factory=lambda: MappingProxyType(dict(_DEFAULTS[DEFAULT_VERSION]))
    )

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def configurable_tolerance(self) -> bool:
        return self.gates[TOLERANCE_GATE]

    @property
    def scale_to_zero(self) -> bool:
        return self.gates[SCALE_TO_ZERO_GATE]

    @property
    def zero_rules(self) -> bool:
        """From 1.36 an HPA at zero replicas scales only under the ScaledToZero condition
        (which needs the gate); 1.34 and 1.35 scale up from zero whenever minReplicas is 0."""
        return self.minor >= 36

    @property
    def pod_level_resources(self) -> bool:
        return self.gates[POD_LEVEL_RESOURCES_GATE]

    @property
    def saturates_overflow(self) -> bool:
        return self.minor >= 35

    @property
    def requires_named_container(self) -> bool:
        return self.minor >= 35

    @property
    def texts_of_1_37(self) -> bool:
        return self.minor >= 37

    def overridden(self) -> dict[str, bool]:
        """The gates that differ from the release's defaults."""
        defaults = _DEFAULTS[self.version]
        return {g: v for g, v in self.gates.items() if v != defaults[g]}

    def describe(self) -> str:
        """One line for people: the release and the gates that matter to the HPA."""
        gates = ", ".join(f"{g}={'on' if v else 'off'}" for g, v in self.gates.items())
        changed = self.overridden()
        note = f" (overridden: {', '.join(changed)})" if changed else ""
        return f"Kubernetes {self.version} HPA rules; gates {gates}{note}"


_VERSION = re.compile(r"^v?1\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


def minor_version(text: str) -> str:
    """ "1.37", "v1.37.2" or "v1.37.2-gke.100" as "1.37" (not checked against VERSIONS)."""
    m = _VERSION.match(text.strip())
    if m is None:
        raise VersionError(f'"{text}" is not a Kubernetes version (expected e.g. "1.37")')
    return f"1.{int(m.group(1))}"


def release(version: str = DEFAULT_VERSION, gates: Mapping[str, bool] | None = None) -> Release:
    """The controller of a release ("1.34".."1.37", or "v1.37.2"), with gates overridden.

    The function `surge simulate --kubernetes-version` and the tuner call; raises
    VersionError with a one-line reason.
    """
    minor = minor_version(version)
    if minor not in _DEFAULTS:
        raise VersionError(f'unknown Kubernetes version "{version}" (known: {", ".join(VERSIONS)})')
    effective = dict(_DEFAULTS[minor])
    for gate, value in (gates or {}).items():
        if gate not in effective:
            raise VersionError(f'unknown feature gate "{gate}" (known: {", ".join(GATES)})')
        if gate in _LOCKED.get(minor, ()) and value != effective[gate]:
            raise VersionError(
                f"feature gate {gate} is locked to {str(effective[gate]).lower()} in {minor}"
            )
        effective[gate] = value
    return Release(minor, MappingProxyType(effective))


def parse_gates(text: str) -> dict[str, bool]:
    """--feature-gates as kube-controller-manager takes it: "A=true,B=false"."""
    gates: dict[str, bool] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or value.lower() not in ("true", "false"):
            raise VersionError(f'--feature-gates: "{part}" is not NAME=true or NAME=false')
        gates[name.strip()] = value.lower() == "true"
    for gate in gates:
        if gate not in GATES:
            raise VersionError(f'unknown feature gate "{gate}" (known: {", ".join(GATES)})')
    return gates


def server_release(git_version: str | None, gates: Mapping[str, bool] | None = None) -> Release:
    """The release whose rules explain a live cluster, from its API server's /version.

    A cluster older than the oldest known release gets that release's rules, a newer one
    the newest's; Release.describe() and server_note() say so.
    """
    if git_version is None or _VERSION.match(git_version.strip()) is None:
        return release(DEFAULT_VERSION, gates)
    minor = int(minor_version(git_version).split(".")[1])
    known = [int(v.split(".")[1]) for v in VERSIONS]
    return release(f"1.{min(max(minor, known[0]), known[-1])}", gates)


def server_note(git_version: str | None, applied: Release) -> str:
    """Where the applied release came from, in one phrase."""
    if git_version is None or _VERSION.match(git_version.strip()) is None:
        shown = git_version or "unreadable"
        return f"the API server's /version ({shown}) names no release: the default"
    if minor_version(git_version) == applied.version:
        return f"the API server's /version is {git_version}"
    return (
        f"the API server's /version is {git_version}, outside the known releases "
        f"({VERSIONS[0]} to {VERSIONS[-1]}): the nearest"
    )
