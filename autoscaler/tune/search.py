"""The search of `surge tune`: the fewest pod-hours whose p99 meets the objective often enough.

Every candidate is judged by the simulator itself (autoscaler.simulation.simulate: the
controller's own algorithm against the traffic and capacity model), never by a shortcut
model. To keep a week within minutes:

- the search runs on the hardest day of the tuning days (the one where the HPA as applied
  misses the objective longest, else the busiest), with two hours before it to warm up; the
  result is then checked, and its targets re-fitted, over all the tuning days;
- a candidate is stopped as soon as it cannot win: its time above the objective already
  exceeds what the attainment allows, or the pods it has run already cost more than the best
  candidate that met the objective;
- identical HPA documents are judged once.

Each step assumes what holds for an HPA: a higher target keeps fewer pods and more latency.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from autoscaler.simulation.capacity import CapacityModel
from autoscaler.simulation.simulate import (
    SYNC_PERIOD_S,
    Reading,
    Run,
    Settings,
    SimulationError,
    Source,
    read_hpa_document,
    simulate,
)
from autoscaler.tune import space
from autoscaler.tune.space import SCALE_DOWN_VARIANTS, SCALE_UP_VARIANTS, Knobs, Target

DAY_S = 86400.0
WARMUP_SHARE = 1 / 12  # the screening day starts this much of a day early: two hours
FACTOR_RANGE = (0.3, 2.0)  # the targets' first search, as multiples of the applied ones
FIRST_STEPS = 7  # bisections of the first search: a factor within 2.5%
REFINE_STEPS = 4
FULL_STEPS = 5  # bisections over all the tuning days: 2.5x within 3%


class Pruned(Exception):
    """A candidate that cannot win, stopped early."""


@dataclass(frozen=True)
class Window:
    """Simulate from `start` to `end`; judge from `judged_from`."""

    start: float
    end: float
    judged_from: float
    initial_replicas: int | None = None  # None: minReplicas

    @property
    def judged_seconds(self) -> float:
        return self.end - self.judged_from


@dataclass(frozen=True)
class Outcome:
    knobs: Knobs
    window: str  # "screen" or "tuning days"
    pod_hours: float | None  # None: stopped early
    attainment: float | None
    met: bool
    stopped: str = ""  # why it was stopped early: "objective" or "cost"

    def as_json(self) -> dict[str, Any]:
        return {
            "factors": list(self.knobs.factors),
            "minReplicas": self.knobs.min_replicas,
            "scaleUp": self.knobs.scale_up,
            "scaleDown": self.knobs.scale_down,
            "window": self.window,
            "podHours": self.pod_hours,
            "attainment": self.attainment,
            "met": self.met,
            "stopped": self.stopped or None,
        }


@dataclass
class _Judge:
    """A source that counts, as the run goes, what decides a candidate's fate."""

    inner: Source
    slo_latency_s: float
    judged_from: float
    allowed_above_s: float
    max_pod_seconds: float
    above_s: float = 0.0
    pod_seconds: float = 0.0

    @property
    def description(self) -> str:
        return self.inner.description

    def read(self, now: float, ready: int) -> Reading:
        reading = self.inner.read(now, ready)
        if now >= self.judged_from:
            p99 = reading.p99_seconds
            if p99 is not None and p99 > self.slo_latency_s:
                self.above_s += SYNC_PERIOD_S
                if self.above_s > self.allowed_above_s:
                    raise Pruned("objective")
            self.pod_seconds += ready * SYNC_PERIOD_S
            if self.pod_seconds > self.max_pod_seconds:
                raise Pruned("cost")
        return reading


def judged(run: Run, since: float, until: float, slo_latency_s: float) -> tuple[float, float]:
    """Pod-hours and attainment (share of syncs with p99 at or under the objective)."""
    steps = [s for s in run.steps if since <= s.time < until]
    if not steps:
        return 0.0, 1.0
    pod_hours = sum(s.desired for s in steps) * SYNC_PERIOD_S / 3600
    known = [s for s in steps if s.p99_seconds is not None]
    met = sum(1 for s in known if s.p99_seconds is not None and s.p99_seconds <= slo_latency_s)
    return pod_hours, met / len(known) if known else 1.0


@dataclass
class Problem:
    """What is tuned, against what, for which objective."""

    document: Mapping[str, Any]
    source: str  # where the HPA came from, for messages
    new_source: Callable[[], Source]
    settings: Settings
    capacity: CapacityModel
    slo_latency_s: float
    slo_attainment: float
    keep: frozenset[str] = frozenset()
    day_s: float = DAY_S  # the traffic's period: tests compress days
    utc_offset_hours: float = 0.0  # the trace's zone, for the times its runs report
    forecasts: frozenset[str] = frozenset()  # metrics a forecast rule serves, not the model
    targets: tuple[Target, ...] = field(init=False)
    tunable: tuple[bool, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.targets = space.targets(self.document)
        space.check_keep(self.keep, self.targets)
        self.tunable = space.tunable(self.targets, self.keep)

    @property
    def applied(self) -> Knobs:
        return Knobs(
            tuple(1.0 for _ in self.targets), int(self.document["spec"].get("minReplicas", 1))
        )

    def document_for(self, knobs: Knobs) -> dict[str, Any]:
        return space.apply(self.document, self.targets, knobs)

    def run(self, knobs: Knobs, start: float, end: float) -> Run:
        hpa = read_hpa_document(self.document_for(knobs), self.source)
        return simulate(
            hpa,
            self.new_source(),
            start,
            end,
            self.settings,
            self.capacity,
            utc_offset_hours=self.utc_offset_hours,
        )


@dataclass
class Search:
    """One search over a window; remembers every candidate it judged."""

    problem: Problem
    window: Window
    label: str
    advance: Callable[[], None] = lambda: None
    outcomes: list[Outcome] = field(default_factory=list)
    _seen: dict[str, Outcome] = field(default_factory=dict)
    best: Outcome | None = None

    def judge(self, knobs: Knobs, prune: bool = True, cost: bool = True) -> Outcome:
        """The candidate's outcome; with `prune`, stopped once it misses the objective, and
        with `cost` too, once it costs more than the best (its feasibility then unknown)."""
        p = self.problem
        document = p.document_for(knobs)
        key = json.dumps(document["spec"], sort_keys=True)
        seen = self._seen.get(key)
        if seen is not None and (
            seen.pod_hours is not None or (prune and (seen.stopped == "objective" or cost))
        ):
            return replace(seen, knobs=knobs)  # the same HPA: other knobs can change nothing
        w = self.window
        allowed = (1 - p.slo_attainment) * w.judged_seconds if prune else math.inf
        best = self.best.pod_hours if prune and cost and self.best else None
        # A little over the best still runs: an equal cost with fewer changes is preferred.
        ceiling = best * 3600 * 1.001 if best is not None else math.inf
        hpa = read_hpa_document(document, p.source)
        judge = _Judge(p.new_source(), p.slo_latency_s, w.judged_from, allowed, ceiling)
        try:
            run = simulate(hpa, judge, w.start, w.end, p.settings, p.capacity, w.initial_replicas)
        except Pruned as why:
            outcome = Outcome(knobs, self.label, None, None, False, str(why))
        else:
            pod_hours, attainment = judged(run, w.judged_from, w.end, p.slo_latency_s)
            met = attainment >= p.slo_attainment
            outcome = Outcome(knobs, self.label, pod_hours, attainment, met)
            if met and (self.best is None or pod_hours < (self.best.pod_hours or math.inf)):
                self.best = outcome
        self._seen[key] = outcome
        self.outcomes.append(outcome)
        self.advance()
        return outcome

    def better(self, outcome: Outcome, than: Outcome) -> bool:
        return outcome.met and (
            not than.met or (outcome.pod_hours or math.inf) < (than.pod_hours or math.inf)
        )

    def largest_feasible(
        self, make: Callable[[float], Knobs], low: float, high: float, steps: int
    ) -> tuple[float, Outcome] | None:
        """The largest x in [low, high] (geometric bisection) whose candidate meets the
        objective, assuming a larger x keeps fewer pods; None if even `low` misses."""
        # Feasibility decides each step: no candidate is stopped for its cost here.
        top = self.judge(make(high), cost=False)
        if top.met:
            return high, top
        bottom = self.judge(make(low), cost=False)
        if not bottom.met:
            return None
        found = (low, bottom)
        for _ in range(steps):
            mid = math.sqrt(low * high)
            outcome = self.judge(make(mid), cost=False)
            if outcome.met:
                low, found = mid, (mid, outcome)
            else:
                high = mid
        return found


def _uniform(problem: Problem, base: Knobs) -> Callable[[float], Knobs]:
    return lambda f: base.scaled(f, problem.tunable)


def _tuned(problem: Problem, base: Knobs) -> Callable[[float], Knobs]:
    """Scales the targets already tuned (all tunable ones if none is)."""
    moved = tuple(ok and f != 1.0 for ok, f in zip(problem.tunable, base.factors, strict=True))
    return lambda f: base.scaled(f, moved if any(moved) else problem.tunable)


def _one(problem: Problem, base: Knobs, index: int) -> Callable[[float], Knobs]:
    only = tuple(i == index for i in range(len(problem.targets)))
    return lambda f: base.scaled(f, only)


def search_window(search: Search) -> Outcome | None:
    """The cheapest candidate meeting the objective on the search's window, or None."""
    p = search.problem
    keep = p.keep
    start = p.applied
    search.judge(start)
    current: Outcome | None = None
    if any(p.tunable):
        found = search.largest_feasible(_uniform(p, start), *FACTOR_RANGE, FIRST_STEPS)
        if found is None:
            return None
        current = found[1]
        # A metric whose target can rise alone (the others still keep latency) saves more.
        if sum(p.tunable) > 1:
            for i, ok in enumerate(p.tunable):
                if not ok:
                    continue
                relaxed = search.largest_feasible(_one(p, current.knobs, i), 1.0, 2.5, 3)
                if relaxed and search.better(relaxed[1], current):
                    current = relaxed[1]
    else:
        current = search.judge(start)
        if not current.met:
            return None
    if "minReplicas" not in keep:
        for low in range(1, current.knobs.min_replicas):
            outcome = search.judge(replace(current.knobs, min_replicas=low))
            if search.better(outcome, current):
                current = outcome
                break
    if "behavior" not in keep and "scaleDown" not in keep:
        base = current
        for name, _ in SCALE_DOWN_VARIANTS:
            outcome = search.judge(replace(base.knobs, scale_down=name))
            if search.better(outcome, current):
                current = outcome
    if "behavior" not in keep and "scaleUp" not in keep:
        base = current
        for name, _ in SCALE_UP_VARIANTS:
            knobs = replace(base.knobs, scale_up=name)
            if any(p.tunable):
                # Faster scale-up buys latency, which higher targets can spend.
                found = search.largest_feasible(_uniform(p, knobs), 1.0, 1.3, 2)
                outcome = found[1] if found else search.judge(knobs)
            else:
                outcome = search.judge(knobs)
            if search.better(outcome, current):
                current = outcome
    if any(p.tunable):
        found = search.largest_feasible(_uniform(p, current.knobs), 0.85, 1.2, REFINE_STEPS)
        if found and search.better(found[1], current):
            current = found[1]
    return _fewest_changes(search, current)


def _fewest_changes(search: Search, current: Outcome) -> Outcome:
    """Each tuned field back as applied where that costs nothing: the diff shows only what
    pays for itself."""
    applied = search.problem.applied
    for i, factor in enumerate(current.knobs.factors):
        if factor != 1.0:
            factors = tuple(1.0 if j == i else f for j, f in enumerate(current.knobs.factors))
            current = _if_free(search, current, replace(current.knobs, factors=factors))
    for name in ("min_replicas", "scale_up", "scale_down"):
        if getattr(current.knobs, name) != getattr(applied, name):
            knobs = replace(current.knobs, **{name: getattr(applied, name)})
            current = _if_free(search, current, knobs)
    return current


def _if_free(search: Search, current: Outcome, knobs: Knobs) -> Outcome:
    outcome = search.judge(knobs)
    if outcome.met and (outcome.pod_hours or math.inf) <= (current.pod_hours or 0) * 1.001:
        return outcome
    return current


def screening_window(problem: Problem, before: Run, start: float, end: float) -> Window:
    """The hardest whole day of [start, end) for the HPA as applied, with a warm-up."""
    day_s = problem.day_s
    days = int((end - start + 1e-6) // day_s)
    if days <= 1:
        return warm_window(before, start, start, end)

    def hardness(day: int) -> tuple[float, float]:
        lo, hi = start + day * day_s, start + (day + 1) * day_s
        _, attainment = judged(before, lo, hi, problem.slo_latency_s)
        peak = max((s.qps or 0.0 for s in before.steps if lo <= s.time < hi), default=0.0)
        return -attainment, peak

    day = max(range(days), key=hardness)
    judged_from = start + day * day_s
    return warm_window(
        before, max(start, judged_from - day_s * WARMUP_SHARE), judged_from, judged_from + day_s
    )


def warm_window(before: Run, start: float, judged_from: float, end: float) -> Window:
    """A window that starts with the replicas the HPA as applied had then: a cold start at
    minReplicas in the middle of the traffic would judge the warm-up, not the HPA."""
    replicas = next((s.replicas for s in before.steps if s.time >= start), None)
    return Window(start, end, judged_from, replicas)


@dataclass(frozen=True)
class Result:
    best: Outcome | None  # None: the objective cannot be met within maxReplicas
    closest: Outcome  # the best attainment found (reported when nothing meets it)
    outcomes: tuple[Outcome, ...]
    screen: Window  # where the search ran
    tuning: Window  # where its result was held to the objective

    @property
    def screened(self) -> bool:
        return self.screen != self.tuning


def tune(
    problem: Problem,
    before: Run,
    start: float,
    end: float,
    advance: Callable[[], None] = lambda: None,
) -> Result:
    """Search the screening day, then hold the winner to the objective over [start, end).

    The objective is over all the tuning days, so the hardest day alone is stricter: the
    targets found there are re-fitted over all of them (up to 2.5 times higher, or lower if
    the other days need it). When even the hardest day cannot meet it alone, the search
    runs over all the tuning days."""
    screen = screening_window(problem, before, start, end)
    full = warm_window(before, start, start, end)
    first = Search(problem, screen, "screen" if screen != full else "tuning days", advance)
    found = search_window(first)
    outcomes = list(first.outcomes)
    check = Search(problem, full, "tuning days", advance)
    if found is None and screen != full:
        found = search_window(check)
        outcomes += check.outcomes
        if found is not None:
            return Result(found, found, tuple(outcomes), full, full)
    if found is None:
        closest = _closest(problem, full)
        return Result(None, closest, (*outcomes, closest), screen, full)
    if screen == full:
        return Result(found, found, tuple(outcomes), screen, full)
    verdict = check.judge(found.knobs, prune=False)
    if any(problem.tunable):
        make = _tuned(problem, found.knobs)
        if verdict.met:
            refined = check.largest_feasible(make, 1.0, 2.5, FULL_STEPS)
        else:
            refined = check.largest_feasible(make, 0.5, 1.0, FULL_STEPS)
        if refined is not None:
            verdict = refined[1]
    if verdict.met:  # what paid on the hardest day must pay over all the tuning days too
        verdict = _fewest_changes(check, verdict)
    outcomes += check.outcomes
    return Result(verdict if verdict.met else None, verdict, tuple(outcomes), screen, full)


@dataclass(frozen=True)
class Tuned:
    """Both HPAs over the whole traffic, and the search's result."""

    before: Run
    after: Run
    result: Result
    split: float  # where the held-out days begin (the end when there are none)


def tune_and_hold_out(
    problem: Problem,
    start: float,
    end: float,
    holdout_s: float,
    advance: Callable[[], None] = lambda: None,
) -> Tuned:
    """Tune on [start, end - holdout_s); run both HPAs over all of [start, end)."""
    split = end - holdout_s
    before = problem.run(problem.applied, start, end)
    advance()
    result = tune(problem, before, start, split, advance)
    after = problem.run((result.best or result.closest).knobs, start, end)
    return Tuned(before, after, result, split)


def _closest(problem: Problem, full: Window) -> Outcome:
    """The highest attainment within maxReplicas: the lowest targets tried, minReplicas kept."""
    low = FACTOR_RANGE[0] if any(problem.tunable) else 1.0
    knobs = problem.applied.scaled(low, problem.tunable)
    whole = Search(problem, full, "tuning days")
    return whole.judge(knobs, prune=False)


def check_capacity(problem: Problem) -> None:
    """Fail early, with the simulator's own message, on an HPA the model cannot serve."""
    from autoscaler.simulation.simulate import ScenarioSource

    hpa = read_hpa_document(dict(problem.document), problem.source)
    ScenarioSource.check(hpa, problem.capacity, problem.forecasts)


def summaries_steps(run: Run, since: float, until: float) -> Run:
    """The run cut to [since, until), for a summary of part of it."""
    steps = tuple(s for s in run.steps if since <= s.time < until)
    if not steps:
        raise SimulationError("no syncs in the held-out days")
    return replace(run, steps=steps)
