"""The stand-in on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Self

from tests.support.kube_standin.access import AccessRule, TokenUser
from tests.support.kube_standin.resources import JSONObject, ResourceType, T
from tests.support.kube_standin.server import KubeStandin


class KubeStandinThread:
    """The stand-in on its own event loop in a background thread, for synchronous tests and
    for subprocess clients (kubectl, a Surge process). Control calls run on that loop."""

    def __init__(self, port: int = 0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kube-standin", daemon=True
        )
        self.standin: KubeStandin | None = None
        self._port = port

    def _call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout=30)

    def _await(self, make: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    @property
    def _server(self) -> KubeStandin:
        if self.standin is None:
            raise RuntimeError("the stand-in thread is not started")
        return self.standin

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()
        if self.standin is None:
            self.standin = self._call(lambda: KubeStandin(self._port))
        self._await(self._server.start)

    def stop(self) -> None:
        self._await(self._server.stop)

    def close(self) -> None:
        """Stop the server and the loop; the object cannot be started again."""
        if self.standin is not None and self._thread.is_alive():
            self.stop()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def down(self) -> bool:
        return self._server.down

    @down.setter
    def down(self, value: bool) -> None:
        server = self._server
        self._call(lambda: setattr(server, "down", value))

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        return self._server.write_kubeconfig(path, namespace)

    def install(self, resource: ResourceType) -> None:
        self._call(lambda: self._server.install(resource))

    def add(self, obj: JSONObject) -> JSONObject:
        return self._call(lambda: self._server.add(obj))

    def update(self, obj: JSONObject) -> JSONObject:
        return self._call(lambda: self._server.update(obj))

    def delete(self, kind: str, namespace: str | None, name: str) -> JSONObject:
        return self._call(lambda: self._server.delete(kind, namespace, name))

    def get(self, kind: str, namespace: str | None, name: str) -> JSONObject | None:
        return self._call(lambda: self._server.get(kind, namespace, name))

    def objects(self, kind: str, namespace: str | None = None) -> list[JSONObject]:
        return self._call(lambda: self._server.objects(kind, namespace))

    def set_token(self, token: str, user: TokenUser | None) -> None:
        self._call(lambda: self._server.set_token(token, user))

    def allow(self, rule: AccessRule) -> None:
        self._call(lambda: self._server.allow(rule))

    def deny(self, rule: AccessRule) -> None:
        self._call(lambda: self._server.deny(rule))

    def clear_access(self) -> None:
        self._call(self._server.clear_access)

    def review_calls(self) -> dict[str, int]:
        """Reviews received so far, by resource (tokenreviews, subjectaccessreviews)."""
        return self._call(lambda: dict(self._server.review_calls))

    def reviews(self) -> list[JSONObject]:
        """Every review object received, in order."""
        return self._call(lambda: copy.deepcopy(self._server.reviews))
