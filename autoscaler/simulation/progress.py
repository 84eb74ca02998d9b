"""Progress of long work: a rich bar on a terminal, nothing otherwise.

Simulations and range reads can take seconds to minutes; a bar helps a person waiting at
a terminal, while logs and pipes should get only the result.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO


class Progress(Protocol):
    def advance(self, amount: float = 1) -> None: ...


class _Silent:
    def advance(self, amount: float = 1) -> None:
        return None


class _Bar:
    def __init__(self, bar: object, task: object) -> None:
        self._bar, self._task = bar, task

    def advance(self, amount: float = 1) -> None:
        self._bar.advance(self._task, amount)  # type: ignore[attr-defined]


@contextmanager
def progress(description: str, total: float, stream: TextIO | None = None) -> Iterator[Progress]:
    """A bar of `total` steps on `stream` (stderr by default) if it is a terminal."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield _Silent()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with RichProgress(*columns, console=Console(file=stream), transient=True) as bar:
        yield _Bar(bar, bar.add_task(description, total=total))
