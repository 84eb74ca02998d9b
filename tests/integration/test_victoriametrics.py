"""The same answers from VictoriaMetrics, where a naive regex of 1,000 pods overflows the
server's 16 KB query limit and the batched engine does not."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench import fleet
from surge.cli import main
from tests.support.victoria import VictoriaMetrics

SERVICE = fleet.fleet(namespaces=1, deployments=1, pods=1000)[0]
PATH = (
    f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{SERVICE.namespace}/pods/*/"
    f"http_requests_waiting?labelSelector=app%3D{SERVICE.deployment}"
)


@pytest.fixture(scope="module")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VictoriaMetrics, Path]]:
    folder = tmp_path_factory.mktemp("victoria")
    vm = VictoriaMetrics(folder / "vm")
    vm.start()
    now = int(time.time())
    lines = [
        f"{name}{{{labels}}} {value} {t * 1000}"
        for name, labels, value in fleet.series([SERVICE])
        for t in range(now - 1800, now + 4 * 3600, 300)
    ]
    vm.import_prometheus("\n".join(lines) + "\n")
    (folder / "rules.yaml").write_text(fleet.RULES)
    (folder / "objects.yaml").write_text(yaml.safe_dump_all(fleet.objects([SERVICE])))
    try:
        yield vm, folder
    finally:
        vm.stop()


def _query(capsys: pytest.CaptureFixture[str], vm: VictoriaMetrics, folder: Path, *flags: str):
    capsys.readouterr()
    code = main(
        [
            "query",
            f"--config={folder / 'rules.yaml'}",
            f"--prometheus-url={vm.url}",
            f"--objects={folder / 'objects.yaml'}",
            "--metrics-max-age=2h",
            *flags,
            PATH,
        ]
    )
    return code, json.loads(capsys.readouterr().out)


def test_batched_engine_answers_1000_pods(victoria, capsys) -> None:
    vm, folder = victoria
    code, body = _query(capsys, vm, folder)
    assert code == 0, body
    got = {i["describedObject"]["name"]: i["value"] for i in body["items"]}
    assert len(got) == 1000
    for pod in SERVICE.pods[::97]:
        assert got[pod] == str(int(fleet.waiting(SERVICE, pod)))


def test_naive_regex_query_overflows_the_backend(victoria, capsys) -> None:
    vm, folder = victoria
    code, body = _query(capsys, vm, folder, "--engine=naive")
    assert code == 1
    assert body["code"] == 500
    assert body["message"] == "Internal error occurred: unable to fetch metrics"


def test_per_request_fallback_splits_below_the_limit(victoria, capsys) -> None:
    vm, folder = victoria
    code, body = _query(capsys, vm, folder, "--max-series-per-query=10", "--max-query-length=8000")
    assert code == 0, body
    assert len(body["items"]) == 1000
    assert [i["describedObject"]["name"] for i in body["items"]] == sorted(SERVICE.pods)
