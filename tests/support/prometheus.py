"""Prometheus fixtures (a pytest plugin of tests/conftest.py): the session's Prometheus with
the constant data, one a test may stop and restart, and the objects of their pods."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from surge.demo.data import ConstantModel, generate_openmetrics, pod_names, write_objects_yaml
from surge.demo.localprom import LocalPrometheus, backfill
from tests.support.oracle import ConstantData

# The constant data covers this span around the session's start, sampled every 15 s, so
# instant queries "now" find it for hours.
CONSTANT_PAST = timedelta(hours=6)
CONSTANT_FUTURE = timedelta(hours=3)
CONSTANT_STEP_S = 15


@pytest.fixture(scope="session")
def prometheus_constant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConstantData]:
    """A real Prometheus (session-wide, do not stop it) with ConstantModel series for three
    ai-service pods: compare Surge's answers with tests.support.oracle's."""
    data_dir = tmp_path_factory.mktemp("prometheus-constant")
    pods = tuple(pod_names(3, seed="constant"))
    model = ConstantModel()
    now = datetime.now(UTC)
    text = generate_openmetrics(
        now - CONSTANT_PAST, now + CONSTANT_FUTURE, CONSTANT_STEP_S, pods, model
    )
    backfill(data_dir, text)
    with LocalPrometheus(data_dir) as prometheus:
        yield ConstantData(prometheus, pods, model)


@pytest.fixture
def own_prometheus(tmp_path: Path) -> Iterator[LocalPrometheus]:
    """A Prometheus this test may stop and restart (the session one is shared), with the
    constant data of the same three pods from an hour ago to two hours ahead."""
    now = datetime.now(UTC)
    pods = pod_names(3, seed="constant")
    backfill(
        tmp_path / "tsdb",
        generate_openmetrics(
            now - timedelta(hours=1), now + timedelta(hours=2), 15, pods, ConstantModel()
        ),
    )
    with LocalPrometheus(tmp_path / "tsdb") as prometheus:
        yield prometheus


@pytest.fixture(scope="session")
def constant_objects(
    tmp_path_factory: pytest.TempPathFactory, prometheus_constant: ConstantData
) -> Path:
    """The demo's Kubernetes objects for the constant data's pods, as an --objects file."""
    path = tmp_path_factory.mktemp("objects") / "objects.yaml"
    write_objects_yaml(path, prometheus_constant.pods)
    return path
