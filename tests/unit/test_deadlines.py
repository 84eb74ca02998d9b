"""The request timeout (apiservice.limits.Deadlines): a request past its deadline is told so,
one cancelled for another reason stays cancelled, one done in time is left alone."""

from __future__ import annotations

import asyncio

import pytest

from apiservice.limits import Deadlines


async def _request(deadlines: Deadlines, work: asyncio.Event) -> str:
    """What the server's handler does around a request's work."""
    task = asyncio.current_task()
    assert task is not None
    clock = deadlines.begin(task)
    try:
        await work.wait()
        return "answered"
    except asyncio.CancelledError:
        if not deadlines.expired(task):
            raise
        return "timed out"
    finally:
        deadlines.end(task, clock)


async def test_a_request_past_its_deadline_is_timed_out_and_not_cancelled() -> None:
    deadlines = Deadlines(0.05)
    task = asyncio.create_task(_request(deadlines, asyncio.Event()))
    assert await task == "timed out"
    assert not task.cancelled() and task.cancelling() == 0


async def test_requests_done_in_time_are_left_alone() -> None:
    deadlines = Deadlines(30.0)
    done = asyncio.Event()
    done.set()
    tasks = [asyncio.create_task(_request(deadlines, done)) for _ in range(3)]
    assert await asyncio.gather(*tasks) == ["answered"] * 3
    assert not deadlines._group  # nothing left for the timer to cancel


async def test_a_request_cancelled_otherwise_stays_cancelled() -> None:
    deadlines = Deadlines(30.0)
    task = asyncio.create_task(_request(deadlines, asyncio.Event()))
    await asyncio.sleep(0)
    task.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_request_cancelled_otherwise_as_its_deadline_passes_stays_cancelled() -> None:
    deadlines = Deadlines(30.0)
    task = asyncio.create_task(_request(deadlines, asyncio.Event()))
    await asyncio.sleep(0)
    task.cancel()  # the client went away...
    deadlines._expire(deadlines._group)  # ...as the deadline's timer fired
    with pytest.raises(asyncio.CancelledError):
        await task
