"""`surge check`: offline checks of a config (PromQL included), and with `--objects` or
`--kubeconfig` the resources its rules name. One line per problem, exit 1; warnings alone
exit 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from surge.demo.data import demo_objects
from tests.support.kube_standin import KubeStandinThread

ROOT = Path(__file__).resolve().parents[2]
SEED_RULES = ROOT / "deploy" / "config" / "seed-rules.yaml"
# Deliberately broken, for the tests that pin each problem (tests/adapter/test_rules.py).
BROKEN_ON_PURPOSE = {ROOT / "tests" / "adapter" / "configs" / "broken.yaml"}
# Helm values of prometheus-adapter's chart: tests/deploy/test_helm_chart.py renders them
# and runs `surge check` on the rendered rules.
HELM_VALUES = ROOT / "deploy" / "helm" / "examples"
PA_KEYS = {"rules", "externalRules", "resourceRules"}


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surge", "check", *map(str, args), "--log-format=text"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def _is_adapter_config(doc: object) -> bool:
    if not isinstance(doc, dict) or not doc or not set(doc) <= PA_KEYS:
        return False
    rules = [*(doc.get("rules") or []), *(doc.get("externalRules") or [])]
    return bool(doc.get("resourceRules")) or any(
        isinstance(r, dict) and "seriesQuery" in r for r in rules
    )


def adapter_configs() -> list[Path]:
    """Every prometheus-adapter config file under tests/ and deploy/ (the Helm chart's
    default rules included: deploy/helm/*/files)."""
    found = []
    for top in ("tests", "deploy"):
        for path in sorted((ROOT / top).rglob("*.y*ml")):
            if path in BROKEN_ON_PURPOSE:
                continue
            try:
                docs = list(yaml.safe_load_all(path.read_text()))
            except yaml.YAMLError:
                continue  # templates (Helm) and the like: not a config
            if docs and _is_adapter_config(docs[0]):
                found.append(path)
    return found


CONFIGS = adapter_configs()


def test_the_corpus_holds_every_file_with_rules() -> None:
    """No config escapes the corpus by its shape: every YAML file naming a seriesQuery or
    a containerQuery is in it (or broken on purpose)."""
    with_rules = {
        path
        for top in ("tests", "deploy")
        for path in (ROOT / top).rglob("*.y*ml")
        if re.search(r"seriesQuery|containerQuery", path.read_text(errors="replace"))
    }
    rendered = {p for p in with_rules if p.is_relative_to(HELM_VALUES)}
    assert with_rules - rendered == set(CONFIGS) | BROKEN_ON_PURPOSE
    assert SEED_RULES in with_rules


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_config_under_tests_and_deploy_is_accepted(config: Path) -> None:
    done = check(config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"{config}: OK")


def test_the_unbalanced_query_is_rejected_with_its_line_and_the_parsers_message(
    tmp_path: Path,
) -> None:
    config = tmp_path / "rules.yaml"
    config.write_text(
        "rules:\n"
        '  - seriesQuery: \'http_requests_waiting{namespace!="",pod!=""}\'\n'
        "    resources: {template: <<.Resource>>}\n"
        "    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>} by (<<.GroupBy>>)'\n"
    )
    done = check(config)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{config}:4: rules[0].metricsQuery: not valid PromQL once rendered (unclosed left "
        'parenthesis): sum(surge_check_series_total{namespace="default",pod="surge-check-pod"} '
        "by (pod)"
    ]


def test_a_rule_without_metrics_query_is_a_warning_and_exit_0() -> None:
    config = ROOT / "tests" / "adapter" / "configs" / "no-metrics-query.yaml"
    done = check(config)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert [line.split(": warning: ")[0] for line in lines[:2]] == [f"{config}:6", f"{config}:10"]
    assert lines[2] == f"{config}: OK (2 warnings)"


def _objects(tmp_path: Path, kinds_left_out: set[str]) -> tuple[Path, list[dict[str, object]]]:
    objects = [o for o in demo_objects(["ai-service-0"]) if o["kind"] not in kinds_left_out]
    path = tmp_path / "objects.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    return path, objects


_SEED_LINES = SEED_RULES.read_text().splitlines()
# Every seed rule that names deployments (1-based line, index in `rules`): two since the
# scale-to-zero rule (gateway_requests_pending) joined the seed's rules.
DEPLOYMENT_RULES = [
    (n + 1, sum(x.startswith("  - seriesQuery") for x in _SEED_LINES[:n]) - 1)
    for n, line in enumerate(_SEED_LINES)
    if line == '        deployment: {group: "apps", resource: "deployment"}'
]


def _unserved(path: Path, group: str, resource: str) -> list[str]:
    return [
        f"{path}:{line}: rules[{index}].resources.overrides.deployment: unable to "
        f"normalize group-resource {resource}.{group}: the cluster serves no resource "
        f'"{resource}" in group "{group}"'
        for line, index in DEPLOYMENT_RULES
    ]


UNSERVED = _unserved(SEED_RULES, "apps", "deployment")


def test_objects_must_serve_every_resource_a_rule_names(tmp_path: Path) -> None:
    pods_only, _ = _objects(tmp_path, {"Deployment"})
    done = check(SEED_RULES, "--objects", pods_only)
    assert (done.returncode, done.stdout.splitlines()) == (1, UNSERVED)
    everything, _ = _objects(tmp_path, set())
    assert check(SEED_RULES, "--objects", everything).returncode == 0


def test_the_cluster_must_serve_every_resource_a_rule_names(tmp_path: Path) -> None:
    cheese = tmp_path / "cheese.yaml"
    cheese.write_text(
        SEED_RULES.read_text().replace(
            '{group: "apps", resource: "deployment"}', '{group: "cheese.io", resource: "wheel"}'
        )
    )
    with KubeStandinThread() as standin:
        kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
        assert check(SEED_RULES, "--kubeconfig", kubeconfig).returncode == 0
        done = check(cheese, "--kubeconfig", kubeconfig)
    assert done.returncode == 1
    assert done.stdout.splitlines() == _unserved(cheese, "cheese.io", "wheel")
    # the stand-in is gone: one line, exit 1
    unreachable = check(SEED_RULES, "--kubeconfig", kubeconfig)
    assert unreachable.returncode == 1 and unreachable.stdout == ""
    assert unreachable.stderr.startswith("surge check: cannot discover the cluster's resources")
    assert len(unreachable.stderr.splitlines()) == 1 and "Traceback" not in unreachable.stderr
