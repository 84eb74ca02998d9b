"""Batched answers equal per-request answers on fleets hypothesis generates (several
namespaces with the same object names, label sets, missing series, counters that reset),
for every custom rule of the test configs, on a real Prometheus fed by remote write.
A bounded pass; `python -m bench fuzz --target engine` runs the full size."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import fuzz, variety

EXAMPLES = 20  # about 20 s here; each fleet is written, listed and asked ~200 questions


@pytest.fixture(scope="module")
def equivalence() -> Iterator[variety.Equivalence]:
    harness = variety.Equivalence()
    yield harness
    harness.close()


def test_batched_equals_per_request_on_generated_fleets(
    equivalence: variety.Equivalence,
) -> None:
    result = fuzz.run_target("engine", variety.fleets(), equivalence.check, EXAMPLES)
    assert result.failure == ""
    assert result.inputs == EXAMPLES
    # both kinds of answer were compared: values and 404s (missing series)
    assert equivalence.outcomes["values"] > EXAMPLES * 10
    assert equivalence.outcomes["NotFound"] > EXAMPLES
