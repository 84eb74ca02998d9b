"""Shared fixtures: a real Prometheus with known data, the Kubernetes API stand-in, ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from surge.demo.data import ConstantModel, generate_openmetrics, pod_names
from surge.demo.localprom import LocalPrometheus, backfill
from surge.demo.localprom import free_port as _free_port
from tests.support.kube_standin import KubeStandin, KubeStandinThread
from tests.support.oracle import ConstantData

# The constant data covers this span around the session's start, sampled every 15 s, so
# instant queries "now" find it for hours.
CONSTANT_PAST = timedelta(hours=6)
CONSTANT_FUTURE = timedelta(hours=3)
CONSTANT_STEP_S = 15


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Call it for a loopback port nobody listens on."""
    return _free_port


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
async def kube_standin() -> AsyncIterator[KubeStandin]:
    """An empty Kubernetes API stand-in on the test's event loop; fill it with add()."""
    async with KubeStandin() as standin:
        yield standin


@pytest.fixture
def kube_standin_thread() -> Iterator[KubeStandinThread]:
    """The stand-in on its own thread and loop: for kubectl or a Surge subprocess."""
    with KubeStandinThread() as standin:
        yield standin
