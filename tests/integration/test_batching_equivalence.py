"""For every rule of the test configs, the batched engine answers exactly as per-request
queries (prometheus-adapter's way, `--engine=naive`) do, on the same real Prometheus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import RICH_RULES, SEED_RULES, Answer, quantity_milli
from tests.support.oracle import ConstantData

CM = "/apis/custom.metrics.k8s.io/v1beta2"
NAMES = {"deployments.apps": ["ai-service"], "services": ["ai-service"], "jobs.batch": ["x"]}


def _paths(surge_query: Callable[..., Answer], config: Path, pods: tuple[str, ...]) -> list[str]:
    listing = surge_query(CM, config)
    assert listing.code == 0
    paths = []
    for resource in listing.body["resources"]:
        kind, metric = resource["name"].split("/")
        if kind == "namespaces":
            paths.append(f"{CM}/namespaces/ai-platform/metrics/{metric}")
            continue
        base = f"{CM}/namespaces/ai-platform/{kind}"
        paths.append(f"{base}/*/{metric}")
        paths.append(f"{base}/*/{metric}?labelSelector=app%3Dai-service")
        for name in NAMES.get(kind, list(pods)):
            paths.append(f"{base}/{name}/{metric}")
    return paths


def _comparable(answer: Answer) -> tuple[int, object, dict[str, int]]:
    body = dict(answer.body)
    values: dict[str, int] = {}
    for item in body.get("items", []):
        values[item["describedObject"]["name"]] = quantity_milli(item.pop("value"))
        item.pop("timestamp")
    return answer.code, body, values


@pytest.mark.parametrize("config", [SEED_RULES, RICH_RULES], ids=["seed", "rich"])
def test_batched_equals_per_request_for_every_rule(
    surge_query: Callable[..., Answer], prometheus_constant: ConstantData, config: Path
) -> None:
    paths = _paths(surge_query, config, prometheus_constant.pods)
    assert len(paths) > 10
    for path in paths:
        batched = _comparable(surge_query(path, config))
        naive = _comparable(surge_query(path, config, "--engine=naive"))
        assert batched[:2] == naive[:2], path
        assert batched[2].keys() == naive[2].keys(), path
        for name, value in batched[2].items():
            # rate() evaluated at two instants may round either way at the last milli-unit
            assert abs(value - naive[2][name]) <= 1, (path, name)
