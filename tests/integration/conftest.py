"""Helpers for integration tests: `surge query` in process, the PromQL oracle, objects files."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_api_client import PrometheusConnect

from surge.cli import main
from tests.support.oracle import ConstantData

ROOT = Path(__file__).resolve().parents[2]
SEED_RULES = ROOT / "deploy" / "config" / "seed-rules.yaml"
RICH_RULES = ROOT / "tests" / "adapter" / "configs" / "rich.yaml"


@dataclass
class Answer:
    code: int
    body: dict[str, Any]
    stderr: str


@pytest.fixture
def surge_query(
    capsys: pytest.CaptureFixture[str], prometheus_constant: ConstantData, constant_objects: Path
) -> Callable[..., Answer]:
    """Run `surge query` in process against the constant Prometheus; parse what it printed."""

    def run(path: str, config: Path = SEED_RULES, *extra: str) -> Answer:
        capsys.readouterr()
        code = main(
            [
                "query",
                f"--config={config}",
                f"--prometheus-url={prometheus_constant.url}",
                f"--objects={constant_objects}",
                "--metrics-max-age=6h",
                *extra,
                path,
            ]
        )
        out, err = capsys.readouterr()
        return Answer(code, json.loads(out) if out.strip() else {}, err)

    return run


@pytest.fixture(scope="session")
def oracle(prometheus_constant: ConstantData) -> Callable[[str], list[dict[str, Any]]]:
    """PromQL run directly with prometheus-api-client: the independent side of comparisons."""
    client = PrometheusConnect(url=prometheus_constant.url, disable_ssl=True)

    def run(promql: str) -> list[dict[str, Any]]:
        return client.custom_query(promql)

    return run


def milli(value: str | float) -> int:
    """prometheus-adapter's value: int64(v*1000), truncated toward zero."""
    return int(float(value) * 1000)


def quantity_milli(text: str) -> int:
    """A canonical Quantity string as an exact number of milli-units (no Surge code)."""
    from decimal import Decimal

    suffixes = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(1000), "M": Decimal(10**6)}
    number = text.rstrip("mkM")
    return int(Decimal(number) * suffixes[text[len(number) :]] * 1000)
