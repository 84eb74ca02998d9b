"""The overlays rendered once per session by the real `kubectl kustomize`."""

from __future__ import annotations

import pytest

from tests.deploy.manifests import Rendered, render


@pytest.fixture(scope="session")
def dev() -> Rendered:
    return render("overlays/dev")


@pytest.fixture(scope="session")
def prod() -> Rendered:
    return render("overlays/prod")


@pytest.fixture(scope="session", params=["dev", "prod"])
def overlay(request: pytest.FixtureRequest, dev: Rendered, prod: Rendered) -> Rendered:
    return {"dev": dev, "prod": prod}[request.param]
