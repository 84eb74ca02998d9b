"""The Helm scenarios get a control plane of their own, Surge registered by `helm install`.
Package scope: pytest collects this folder before the files beside it and tears its
cluster down before the next package's starts, so two never run at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import run_cluster
from tests.e2e.helm.cluster import HelmCluster


@pytest.fixture(scope="package")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[HelmCluster]:
    yield from run_cluster(HelmCluster(tmp_path_factory.mktemp("e2e-helm")), request)
