"""The KEDA scenarios get a control plane of their own: Surge installed by helm in the
coexistence layout, KEDA's operator and metrics server beside it (see cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import run_cluster
from tests.e2e.keda.cluster import KedaCluster


@pytest.fixture(scope="package")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[KedaCluster]:
    yield from run_cluster(KedaCluster(tmp_path_factory.mktemp("e2e-keda")), request)
