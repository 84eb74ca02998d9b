"""A bounded hypothesis run of every fuzz target (bench/fuzz.py runs 100,000 inputs):
nothing but the documented errors escapes, and no client mistake gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import fuzz


@pytest.fixture(scope="module")
def harness() -> Iterator[fuzz.AppHarness]:
    app = fuzz.AppHarness()
    yield app
    app.close()


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("routes", fuzz.check_route),
        ("selector", fuzz.check_selector),
        ("config", fuzz.check_config),
        ("prometheus", fuzz.check_prometheus),
        ("auth", fuzz.check_auth),
    ],
)
def test_pure_targets(name: str, check: fuzz.Check) -> None:
    strategy, _ = fuzz.TARGETS[name]
    result = fuzz.run_target(name, strategy, check, 300)
    assert result.failure == "" and result.inputs > 0


def test_the_whole_app(harness: fuzz.AppHarness) -> None:
    strategy, _ = fuzz.TARGETS["app"]
    result = fuzz.run_target("app", strategy, harness.check, 200)
    assert result.failure == "" and result.inputs > 0


def test_raw_http(harness: fuzz.AppHarness) -> None:
    strategy, _ = fuzz.TARGETS["http"]
    result = fuzz.run_target("http", strategy, harness.check_raw, 60)
    assert result.failure == "" and result.inputs > 0


def test_a_broken_promise_is_reported(harness: fuzz.AppHarness) -> None:
    """The runner itself: a check that fails is reported, shrunk, not swallowed."""

    def fails_on_long(text: str) -> None:
        if len(text) > 3:
            raise fuzz.FuzzFailure(f"too long: {text!r}")

    strategy, _ = fuzz.TARGETS["selector"]
    result = fuzz.run_target("selector", strategy, fails_on_long, 300)
    assert result.failure.startswith("FuzzFailure: too long:")


def test_the_only_5xx_allowed_is_the_documented_one(harness: fuzz.AppHarness) -> None:
    """A metricLabelSelector with no LabelSelector form gets Kubernetes' 500; a selector
    that does not parse is the client's mistake: 400."""
    from yarl import URL

    path = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns/pods/p/m"
    status, body = harness.loop.run_until_complete(
        harness._send("GET", URL(path).with_query(metricLabelSelector="a!=b"))
    )
    assert status == 500 and fuzz._documented_500(body)
    status, body = harness.loop.run_until_complete(
        harness._send("GET", URL(path).with_query(labelSelector="a===b"))
    )
    assert status == 400 and not fuzz._documented_500(body)


def test_the_commands_on_mutated_files() -> None:
    """The cli target: a few `surge` runs on mutated and broken files (seconds each)."""
    cli = fuzz.CliHarness()
    try:
        result = fuzz.run_target("cli", cli.inputs, cli.check, 6)
    finally:
        cli.close()
    assert result.failure == "" and result.inputs > 0
