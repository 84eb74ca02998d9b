"""A real Prometheus holding cAdvisor and kubelet series of known usage (promtool backfill)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_api_client import PrometheusConnect

from surge.demo.data import generate_resource_openmetrics
from surge.demo.localprom import LocalPrometheus, backfill
from tests.resource_metrics.data import USAGE, objects

ROOT = Path(__file__).resolve().parents[2]
# prometheus-adapter's resourceRules as its deploy manifests ship them (irate over 4m).
RULES = ROOT / "tests" / "adapter" / "configs" / "resource-rules.yaml"


@pytest.fixture(scope="session")
def resource_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    data = tmp_path_factory.mktemp("resource-prometheus")
    now = datetime.now(UTC)
    text = generate_resource_openmetrics(
        now - timedelta(hours=1), now + timedelta(hours=3), 15, USAGE
    )
    backfill(data, text)
    with LocalPrometheus(data) as prometheus:
        yield prometheus


@pytest.fixture(scope="session")
def objects_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resource-objects") / "objects.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects()}))
    return path


@pytest.fixture(scope="session")
def resource_oracle(
    resource_prometheus: LocalPrometheus,
) -> Callable[[str], list[dict[str, Any]]]:
    """PromQL run directly with prometheus-api-client: the independent side."""
    client = PrometheusConnect(url=resource_prometheus.url, disable_ssl=True)
    return client.custom_query
