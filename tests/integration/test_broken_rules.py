"""Rules fail one at a time: the seed rules over an objects file with Pods only.

The Deployment rule names `deployment.apps`, which such a cluster does not serve. It is
reported (log at each relist, surge_broken_rules, the reason in its 404, /readyz) and
skipped; every other rule is served. Once a Deployment appears in the objects file, the
next relist serves it too, without a restart.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench.commands import DEPLOYMENT_PATH, PODS_PATH
from tests.integration.conftest import SEED_RULES
from tests.support.oracle import ConstantData
from tests.support.surge_process import SurgeProcess

# the line of the rule's override naming the Deployment
OVERRIDE_LINE = (
    SEED_RULES.read_text()
    .splitlines()
    .index('        deployment: {group: "apps", resource: "deployment"}')
    + 1
)
BROKEN = (
    f"rule rules[1] (line {OVERRIDE_LINE}) is skipped: unable to normalize group-resource "
    'deployment.apps: the cluster serves no resource "deployment" in group "apps"'
)


def _split_objects(objects: Path, into: Path) -> tuple[list[Any], list[Any]]:
    """The constant data's objects: (everything but Deployments, the Deployments)."""
    items = yaml.safe_load(objects.read_text())["items"]
    deployments = [o for o in items if o["kind"] == "Deployment"]
    assert deployments, "the constant objects hold a Deployment"
    rest = [o for o in items if o["kind"] != "Deployment"]
    into.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": rest}))
    return rest, deployments


def test_query_serves_pods_and_says_why_the_deployment_rule_is_skipped(
    tmp_path: Path, prometheus_constant: ConstantData, constant_objects: Path
) -> None:
    pods_only = tmp_path / "pods-only.yaml"
    _split_objects(constant_objects, pods_only)

    def query(path: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "surge",
                "query",
                f"--config={SEED_RULES}",
                f"--prometheus-url={prometheus_constant.url}",
                f"--objects={pods_only}",
                "--metrics-max-age=6h",
                "--log-format=text",
                path,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    pods = query(PODS_PATH)
    assert pods.returncode == 0, pods.stderr
    items = json.loads(pods.stdout)["items"]
    assert sorted(i["describedObject"]["name"] for i in items) == sorted(prometheus_constant.pods)
    assert BROKEN in pods.stderr and "Traceback" not in pods.stderr

    deployment = query(DEPLOYMENT_PATH)
    assert deployment.returncode == 1, deployment.stderr
    assert len(deployment.stdout.strip().splitlines()) == 1
    status = json.loads(deployment.stdout)
    assert status["code"] == 404
    assert status["message"] == (
        "the server could not find the metric ai_llm_response_time_p99_seconds for "
        f"deployments.apps: {BROKEN}"
    )
    assert "Traceback" not in deployment.stderr


def _get(url: str) -> tuple[int, str]:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _until(check: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_serve_skips_the_broken_rule_until_a_deployment_appears(
    tmp_path: Path, prometheus_constant: ConstantData, constant_objects: Path
) -> None:
    objects = tmp_path / "objects.yaml"
    rest, deployments = _split_objects(constant_objects, objects)
    flags = (
        f"--config={SEED_RULES}",
        f"--prometheus-url={prometheus_constant.url}",
        f"--objects={objects}",
        "--metrics-max-age=6h",
        "--metrics-relist-interval=1s",
    )
    with SurgeProcess(tmp_path, *flags) as surge:
        code, body = _get(surge.url + PODS_PATH)
        assert code == 200, body
        assert len(json.loads(body)["items"]) == len(prometheus_constant.pods)

        code, body = _get(surge.url + DEPLOYMENT_PATH)
        assert code == 404 and BROKEN in json.loads(body)["message"], body
        code, body = _get(surge.url + "/readyz")
        assert (code, body) == (
            200,
            "ok: 2 of 5 rules broken and skipped (see surge_broken_rules in /metrics and the log)",
        )
        _, metrics = _get(surge.url + "/metrics")
        assert 'surge_broken_rules{reason="resource_not_served",rule="rules[1]"} 1.0' in metrics
        # loud and lasting: reported again at each relist while it stays broken
        assert _until(lambda: surge.log.read_text().count(BROKEN.split(":")[0]) >= 2)

        objects.write_text(
            yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": rest + deployments})
        )
        assert _until(lambda: _get(surge.url + DEPLOYMENT_PATH)[0] == 200)
        items = json.loads(_get(surge.url + DEPLOYMENT_PATH)[1])["items"]
        assert [i["describedObject"]["kind"] for i in items] == ["Deployment"]
        assert _get(surge.url + PODS_PATH)[0] == 200
        _, metrics = _get(surge.url + "/metrics")
        assert "surge_broken_rules{" not in metrics
        assert _get(surge.url + "/readyz") == (200, "ok")
