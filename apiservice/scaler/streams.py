"""StreamIsActive without a poller per stream: streams wake when their snapshots change.

Every open stream records which snapshot keys its last evaluation read
(apiservice.changes). The hub holds one subscription to the backend's ChangeFeed and
wakes just the streams whose keys were refreshed or failed; each re-evaluates (answered
from the snapshot that was just refreshed, so no query of its own) and pushes only if
its answer changed. Re-evaluating on every refresh also keeps those snapshots wanted, so
the backend goes on refreshing them while a stream is open.

A backend with no snapshots (the naive engine) has no feed: one shared ticker then wakes
every stream each `tick_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from apiservice.changes import ChangeFeed

log = logging.getLogger(__name__)


class Watch:
    """One stream's interest: the keys its answer came from, and a wake-up flag."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def changed(self) -> None:
        """Wait until a snapshot this stream read was refreshed (at once if it already was)."""
        await self._woken.wait()
        self._woken.clear()


class StreamHub:
    def __init__(
        self,
        feed: ChangeFeed | None,
        tick_s: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._feed = feed
        self._tick_s = tick_s
        self._sleep = sleep  # the ticker's, injected with a clock in tests
        self._watches: set[Watch] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def streams(self) -> int:
        return len(self._watches)

    def start(self) -> None:
        if self._feed is not None:
            if self._unsubscribe is None:
                self._unsubscribe = self._feed.subscribe(self._changed)
        elif self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name="scaler-stream-ticker")

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None

    @contextlib.contextmanager
    def watch(self) -> Iterator[Watch]:
        watch = Watch()
        self._watches.add(watch)
        try:
            yield watch
        finally:
            self._watches.discard(watch)

    def _changed(self, keys: frozenset[str]) -> None:
        for watch in self._watches:
            if not watch.keys.isdisjoint(keys):
                watch.wake()

    async def _tick(self) -> None:
        while True:
            await self._sleep(self._tick_s)
            for watch in list(self._watches):
                watch.wake()
