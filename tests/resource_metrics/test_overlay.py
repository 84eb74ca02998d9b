"""deploy/overlays/resource-metrics: builds, registers metrics.k8s.io, and its rules work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from adapter.engine import NaiveEngine
from adapter.objects import StaticObjects
from adapter.prometheus import PrometheusClient, PrometheusSettings
from adapter.resources_provider import ResourceMetricsSource
from adapter.rules import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OVERLAY = DEPLOY / "overlays" / "resource-metrics"


def test_overlay_registers_metrics_k8s_io_and_ships_the_rules() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    objects = [o for o in yaml.safe_load_all(built.stdout) if o]
    services = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "APIService"}
    assert services["v1beta1.metrics.k8s.io"]["group"] == "metrics.k8s.io"
    assert services["v1beta1.metrics.k8s.io"]["service"] == {
        "name": "surge",
        "namespace": "surge-system",
        "port": 443,
    }
    (rules,) = [o for o in objects if o["kind"] == "ConfigMap" and "config.yaml" in o["data"]]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "rules", "configMap": {"name": rules["metadata"]["name"]}} in volumes
    assert "resourceRules" in yaml.safe_load(rules["data"]["config.yaml"])


def test_overlay_rules_are_the_seeds_plus_resource_rules() -> None:
    """The seed's rules verbatim (so the overlay serves what the base serves), then
    resourceRules Surge can serve."""
    seed = (DEPLOY / "config" / "seed-rules.yaml").read_text()
    rules = (OVERLAY / "rules.yaml").read_text()
    assert rules.startswith(seed)
    config = load_config(str(OVERLAY / "rules.yaml"))
    # a 1m window: with 5m, the HPA's CPU initialization period would ignore every pod
    # Ready for less than five minutes (see tests/e2e/README.md)
    assert config.resource_rules is not None and config.resource_rules.window == 60
    source = ResourceMetricsSource(
        config.resource_rules,
        StaticObjects([]),
        NaiveEngine(PrometheusClient(PrometheusSettings("http://127.0.0.1:1"))),
    )
    assert source.cpu.pods.widened is not None and source.memory.nodes.widened is not None
