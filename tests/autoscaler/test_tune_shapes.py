"""`surge tune` on traffic it has never seen (autoscaler.tune.shapes), small: a week of
three-hour days, tuned on six, judged on the seventh. The held-out day must reach 98.5%
attainment at no more than 15% above the pod-hours of the best single target found by
brute force on that day. `python -m bench tune` runs the same at full size."""

from __future__ import annotations

import pytest

from autoscaler.tune.shapes import HELD_OUT_FLOOR, SHAPES, WITHIN, Shape, run_shape

SMALL_DAY_S, SMALL_STEP_S = 3 * 3600.0, 15.0


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_tuned_on_six_days_holds_on_the_seventh(shape: Shape) -> None:
    outcome = run_shape(shape, 7, SMALL_DAY_S, SMALL_STEP_S)
    assert outcome.brute_pod_hours is not None, "no single target meets the objective"
    assert outcome.held_out_attainment >= HELD_OUT_FLOOR, outcome
    assert outcome.held_out_pod_hours <= WITHIN * outcome.brute_pod_hours, outcome
    assert outcome.changes, "each shape's first-guess HPA has something to tune"
