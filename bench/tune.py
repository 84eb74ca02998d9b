"""`python -m bench tune`: `surge tune` on four generated week-long shapes
(autoscaler.tune.shapes), each tuned on six days and judged on the seventh against the best
single target found by brute force on that day. `--small`: the tests' size, three-hour days.
"""

from __future__ import annotations

from collections.abc import Sequence

from autoscaler.tune.shapes import (
    DAY_S,
    HELD_OUT_FLOOR,
    SHAPES,
    SLO_ATTAINMENT,
    SLO_LATENCY_S,
    WITHIN,
    run_shape,
)


def main(small: bool, names: Sequence[str]) -> int:
    day_s = 3 * 3600.0 if small else DAY_S
    step_s = 15.0 if small else 60.0
    failed = 0
    print(
        f"{'shape':16} {'as applied':>22} {'held-out day, tuned':>22} {'brute force':>18} "
        f"{'CPU s':>6} {'wall s':>6}  verdict"
    )
    for shape in SHAPES:
        if names and shape.name not in names:
            continue
        o = run_shape(shape, 7, day_s, step_s)
        brute = (
            f"{o.brute_pod_hours:.1f} ph at {o.brute_factor:.2f}x" if o.brute_pod_hours else "none"
        )
        failed += not o.ok
        print(
            f"{o.shape:16} {o.before_attainment:>9.2%} {o.before_pod_hours:>8.1f} ph "
            f"{o.held_out_attainment:>9.2%} {o.held_out_pod_hours:>8.1f} ph {brute:>18} "
            f"{o.seconds:>6.0f} {o.wall_seconds:>6.0f}  {'ok' if o.ok else 'MISSED'}"
        )
        for change in o.changes:
            print(f"    {change['field']}: {change['before']} -> {change['after']}")
    print(
        f"objective p99 <= {SLO_LATENCY_S:g} s for {SLO_ATTAINMENT:.0%}; held-out day must reach "
        f"{HELD_OUT_FLOOR:.1%} within {WITHIN - 1:.0%} of the brute force's pod-hours"
    )
    return 1 if failed else 0
