"""The alert and recording rules: valid for the real promtool, unit-tested with it, embedded
unchanged in the PrometheusRules, and written against the series Surge really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from adapter.engine import EngineMetrics
from apiservice.server import _Instruments
from tests.deploy.manifests import DEPLOY, NAMESPACE, Rendered

MONITORING = DEPLOY / "monitoring"
RULE_FILES = sorted(MONITORING.glob("*.rules.yaml"))
TEST_FILES = sorted((MONITORING / "tests").glob("*.test.yaml"))
# Each plain rule file and the PrometheusRule that embeds it.
EMBEDDED = {
    "surge.rules.yaml": DEPLOY / "monitoring" / "surge.prometheusrule.yaml",
    "ai-service.rules.yaml": DEPLOY
    / "examples"
    / "ai-service"
    / "monitoring"
    / "prometheusrule.yaml",
}


def promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _rules(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def test_rule_files_pass_promtool_check() -> None:
    assert {p.name for p in RULE_FILES} == set(EMBEDDED)
    run = promtool("check", "rules", *(p.name for p in RULE_FILES))
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_rule_unit_tests_pass(test_file: Path) -> None:
    run = promtool("test", "rules", str(test_file.relative_to(MONITORING)))
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for path in TEST_FILES
        for group in yaml.safe_load(path.read_text())["tests"]
        for case in group.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {r["alert"] for p in RULE_FILES for r in _rules(p) if "alert" in r}
    assert alerts == tested


def test_unit_tests_catch_a_changed_rule(tmp_path: Path) -> None:
    """The tests pin behaviour: fire SurgeDown after 1 minute instead of 5 and they fail."""
    shutil.copytree(MONITORING, tmp_path / "monitoring")
    rules = tmp_path / "monitoring" / "surge.rules.yaml"
    text = rules.read_text()
    changed = text.replace(
        'expr: absent(up{job="surge"} == 1)\n        for: 5m',
        'expr: absent(up{job="surge"} == 1)\n        for: 1m',
    )
    assert changed != text
    rules.write_text(changed)
    run = promtool("test", "rules", "tests/surge.rules.test.yaml", cwd=tmp_path / "monitoring")
    assert run.returncode != 0 and "SurgeDown" in run.stdout + run.stderr


def test_alerts_say_how_bad_and_what_happened() -> None:
    for path in RULE_FILES:
        for rule in _rules(path):
            if "alert" in rule:
                assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
                assert {"summary", "description"} <= rule["annotations"].keys(), rule["alert"]


@pytest.mark.parametrize("rule_file", sorted(EMBEDDED), ids=str)
def test_prometheusrules_embed_the_rule_files_unchanged(rule_file: str) -> None:
    plain = yaml.safe_load((MONITORING / rule_file).read_text())
    embedded = yaml.safe_load(EMBEDDED[rule_file].read_text())
    assert embedded["kind"] == "PrometheusRule"
    assert embedded["spec"] == plain, (
        f"{EMBEDDED[rule_file]} differs from {rule_file}: copy the groups over"
    )


def test_prod_renders_the_alerts_unchanged(prod: Rendered) -> None:
    rendered = prod.get("PrometheusRule", "surge", NAMESPACE)
    assert rendered["spec"] == yaml.safe_load((MONITORING / "surge.rules.yaml").read_text())


def _exported_series() -> set[str]:
    """Series names Surge's engine and API server export (counters as _total, histograms
    as _bucket/_sum/_count), from the real instrument definitions."""
    registry = CollectorRegistry()
    EngineMetrics(registry)
    _Instruments(registry)
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    return {
        family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]
    }


def test_alerts_read_series_surge_exports() -> None:
    exported = _exported_series()
    used = {
        name
        for rule in _rules(MONITORING / "surge.rules.yaml")
        for name in re.findall(r"\bsurge_[a-z_]+", rule["expr"])
    }
    assert used, "the alerts read no Surge series?"
    assert used <= exported, f"not exported by Surge: {sorted(used - exported)}"
