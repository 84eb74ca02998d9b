"""Shared fixtures: the Kubernetes API stand-in, ports; Prometheus: tests.support.prometheus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from surge.demo.localprom import free_port as _free_port
from tests.support.kube_standin import KubeStandin, KubeStandinThread

pytest_plugins = ["tests.support.prometheus"]


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Call it for a loopback port nobody listens on."""
    return _free_port


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
