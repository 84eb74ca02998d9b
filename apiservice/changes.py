"""Which snapshots an answer was read from, and word when they are replaced.

A Provider answers from snapshots its backend keeps fresh (adapter/engine.py). A consumer
that must push on change rather than poll (KEDA's StreamIsActive) evaluates under
`recording()` to learn the snapshot keys the answer came from, and subscribes to a
`ChangeFeed` that names the keys whose snapshot was replaced or failed to refresh. Keys
are opaque strings; only the backend gives them meaning.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Protocol

Listener = Callable[[frozenset[str]], None]

_reads: ContextVar[set[str] | None] = ContextVar("surge_snapshot_reads", default=None)


def note_read(key: str) -> None:
    """Called by the backend for every snapshot an answer reads; free when nobody records."""
    reads = _reads.get()
    if reads is not None:
        reads.add(key)


@contextlib.contextmanager
def recording() -> Iterator[set[str]]:
    """Collect the keys read inside the block, including by tasks it gathers."""
    reads: set[str] = set()
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


class ChangeFeed(Protocol):
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` (on the event loop, without blocking) with the keys of every
        refreshed or failed snapshot; returns the function that unsubscribes."""
        ...
