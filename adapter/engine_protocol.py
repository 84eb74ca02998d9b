"""What the providers and KEDA's scaler ask of an engine; adapter.engine has two.

A new engine (another batching or caching strategy) implements this and is chosen in
surge.wiring; nothing else names the concrete classes.
"""

from __future__ import annotations

from typing import Protocol

from adapter.engine import Answer, CustomRequest, Values
from apiservice.changes import ChangeFeed


class Engine(Protocol):
    async def query(self, promql: str, rule: str = "") -> Answer:
        """One instant query, answered as the engine sees fit (fresh or from a snapshot)."""
        ...

    async def custom(self, req: CustomRequest) -> Values:
        """The values of one custom-metrics request."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def changes(self) -> ChangeFeed | None:
        """Where snapshot refreshes are announced; None when the engine keeps none."""
        ...
