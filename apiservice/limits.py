"""What one server accepts at once, how long it works on a request, how much it reads.

The defaults are Kubernetes' own: 400 requests in flight (then 429 with Retry-After, as its
max-in-flight filter answers), 60 s per request (then 504 Timeout, as its handlers
answer), 3 MiB of body. Health checks are never turned away: a kubelet probe that fails
under load would restart a server that is merely busy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from apiservice.errors import APIError

TOO_MANY_REQUESTS = "Too many requests, please try again later.\n"


@dataclass(frozen=True)
class Limits:
    max_requests_inflight: int = 400  # 0: no limit
    request_timeout_s: float = 60.0
    max_body_bytes: int = 3 * 1024 * 1024
    max_request_line_bytes: int = 16 * 1024
    max_header_field_bytes: int = 16 * 1024
    # An open connection with no complete request for this long is closed: idle
    # keep-alive connections and clients trickling their headers (slowloris) alike.
    idle_timeout_s: float = 30.0

    def server_args(self) -> dict[str, Any]:
        """aiohttp's per-connection settings (AppRunner keyword arguments)."""
        return {
            "keepalive_timeout": self.idle_timeout_s,
            "max_line_size": self.max_request_line_bytes,
            "max_field_size": self.max_header_field_bytes,
        }


class Timeout(APIError):
    """apierrors.NewTimeoutError: 504, reason Timeout, retryAfterSeconds 0 (left out)."""

    code = 504
    reason = "Timeout"

    def __init__(self) -> None:
        super().__init__(
            "Timeout: request did not complete within requested timeout - "
            "context deadline exceeded",
            details={},
        )


class Deadlines:
    """The request timeout with one timer per `grain` of start times, not one per request
    (asyncio.timeout's timer costs a request about as much as routing and encoding it):
    a request begun at t is cancelled between t + timeout and t + timeout + grain."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.grain_s = min(1.0, timeout_s / 10)
        self._group: set[asyncio.Task[Any]] = set()
        self._group_ends = float("-inf")
        self._expired: set[asyncio.Task[Any]] = set()

    def begin(self, task: asyncio.Task[Any]) -> set[asyncio.Task[Any]]:
        """Start `task`'s clock; give what this returns to `end` when it is done."""
        loop = task.get_loop()
        now = loop.time()
        if now >= self._group_ends:
            self._group, self._group_ends = set(), now + self.grain_s
            loop.call_at(self._group_ends + self.timeout_s, self._expire, self._group)
        self._group.add(task)
        return self._group

    def end(self, task: asyncio.Task[Any], group: set[asyncio.Task[Any]]) -> None:
        group.discard(task)
        self._expired.discard(task)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether `task` was cancelled by its deadline (and by nothing else): then its
        cancellation is withdrawn and the caller answers 504."""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        return task.uncancel() == 0

    def _expire(self, group: set[asyncio.Task[Any]]) -> None:
        for task in group:
            self._expired.add(task)
            task.cancel()
        group.clear()


class RequestEntityTooLarge(APIError):
    code = 413
    reason = "RequestEntityTooLarge"

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request entity too large: limit is {limit}", details={})


class InflightGate:
    """A count of requests being worked on, refused past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inflight = 0

    def enter(self) -> bool:
        if self.limit and self.inflight >= self.limit:
            return False
        self.inflight += 1
        return True

    def leave(self) -> None:
        self.inflight -= 1


def too_many_requests() -> web.Response:
    """Kubernetes' answer, plain text as Go's http.Error writes it; clients retry after 1 s."""
    headers = {
        "Retry-After": "1",
        "Content-Type": "text/plain; charset=utf-8",
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(text=TOO_MANY_REQUESTS, status=429, headers=headers)
