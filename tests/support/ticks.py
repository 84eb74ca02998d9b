"""An injected sleep for code that loops on a timer (the engine's refresh-ahead loop, the
KEDA streams' ticker), driven by the test one tick at a time on an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

GUARD_S = 30.0  # only against a hang: no assertion depends on it


class Advancing(Protocol):
    def advance(self, seconds: float) -> None: ...


class Ticks:
    """Pass as `sleep`: each call waits for `step()`, then advances the clock by the time
    asked for instead of waiting it out."""

    def __init__(self, clock: Advancing) -> None:
        self.clock = clock
        self.slept: list[float] = []
        self.calls = 0
        self._go: asyncio.Queue[None] = asyncio.Queue()
        self._called = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.calls += 1
        self._called.set()
        await self._go.get()
        self.clock.advance(seconds)
        self.slept.append(seconds)

    async def _sleeping(self, calls: int) -> None:
        while self.calls < calls:
            self._called.clear()
            await self._called.wait()

    async def step(self, rounds: int = 1) -> None:
        """End one sleep, then wait until the loop sleeps again: its round is done."""
        for _ in range(rounds):
            await asyncio.wait_for(self._sleeping(self.calls or 1), GUARD_S)
            calls = self.calls
            self._go.put_nowait(None)
            await asyncio.wait_for(self._sleeping(calls + 1), GUARD_S)


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until work running on the loop (a woken stream, a server) makes `condition`
    true; GUARD_S only guards against a hang."""
    for _ in range(int(GUARD_S / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"still false after {GUARD_S:g}s: {condition}")
