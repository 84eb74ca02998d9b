"""The e2e suite: one throwaway control plane (etcd, kube-apiserver with the aggregation
layer, kube-controller-manager) built from Kubernetes' Go modules, Surge registered behind
it, and a fresh namespace per scenario. The cluster lives as long as this package's tests
(package scope), so it is gone before the next suite starts. The binaries come from
tests/e2e/build.sh, which .ci/run calls before pytest; without them the suite fails (it
never skips)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.controlplane import tail
from tests.e2e.workload import Workload

C = TypeVar("C", bound=Cluster)


def run_cluster(cluster: C, request: pytest.FixtureRequest) -> Iterator[C]:
    """Start `cluster`, yield it, stop it; the last lines of its logs if a test failed."""
    with cluster as running:
        yield running
        if request.session.testsfailed:
            say = _writer(request)
            for log in running.logs():
                say(f"--- last lines of {log}:\n{tail(log, 15)}")


@pytest.fixture(scope="package")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    yield from run_cluster(Cluster(tmp_path_factory.mktemp("e2e")), request)


def _writer(request: pytest.FixtureRequest) -> Callable[[str], None]:
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")

    def say(text: str) -> None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in text.splitlines():
                reporter.write_line(line)

    return say


@pytest.fixture
def say(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Write to the terminal even under -q with output captured: the scenarios' evidence."""
    return _writer(request)


@pytest.fixture
def workload(
    cluster: Cluster, request: pytest.FixtureRequest, say: Callable[[str], None]
) -> Iterator[Workload]:
    """An ai-service namespace of its own (call .create(load)); its replica history and HPA
    events are printed at the end, pass or fail."""
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.removeprefix("test_").lower())
    running = Workload(cluster, f"e2e-{name}"[:63].rstrip("-"))
    yield running
    say(running.finish())
