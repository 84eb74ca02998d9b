"""deploy/examples/keda: the ScaledObjects' trigger metadata is what the scaler reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from apiservice.scaler.metadata import CustomSource, ExternalSource, parse_trigger

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "keda"


def test_both_trigger_kinds_parse_and_point_at_the_scaler_port() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(EXAMPLES)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    scaled = {
        o["metadata"]["name"]: o
        for o in yaml.safe_load_all(built.stdout)
        if o and o["kind"] == "ScaledObject"
    }
    kinds = {}
    for name, obj in scaled.items():
        (trigger,) = obj["spec"]["triggers"]
        kinds[trigger["type"]] = parse_trigger(
            trigger["metadata"], obj["metadata"]["namespace"], allow_query=False
        )
        assert trigger["metadata"]["scalerAddress"] == "surge.surge-system.svc:9443", name
        assert trigger["authenticationRef"] == {"name": "surge-scaler-tls"}
        assert obj["spec"]["fallback"]["failureThreshold"] >= 1
    assert isinstance(kinds["external"].source, CustomSource)
    assert isinstance(kinds["external-push"].source, ExternalSource)


def test_the_component_serves_the_scaler_port() -> None:
    text = (EXAMPLES / "surge-scaler" / "kustomization.yaml").read_text()
    assert "--scaler-port=9443" in text and "--scaler-allow-raw-query" not in text
