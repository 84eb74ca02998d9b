"""The settable clock tests inject wherever code takes `clock: Callable[[], float]`."""

from __future__ import annotations

import time


class Clock:
    """Settable time, starting at the real now (test data is dated around it) unless told."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
