"""A small synchronous client of the throwaway kube-apiserver, for the fixture's own work
(creating objects, binding and patching pods, watching) from plain threads.

The scenarios assert through kubectl, as a person would; this client only sets the stage.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


class KubeError(RuntimeError):
    """A non-2xx answer: the status code and the server's message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Kube:
    """HTTPS to `server` with a client certificate, or a bearer token."""

    def __init__(
        self,
        server: str,
        ca: Path,
        cert: tuple[Path, Path] | None = None,
        token: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.timeout_s = timeout_s
        self._tls = ssl.create_default_context(cafile=str(ca))
        if cert:
            self._tls.load_cert_chain(str(cert[0]), str(cert[1]))
        self._token = token

    def raw(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = JSON,
        timeout_s: float | None = None,
    ) -> bytes:
        """One request; the answer's bytes, or KubeError with the server's message."""
        url = self.server + path + (f"?{urlencode(params)}" if params else "")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", JSON)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self._token:
            req.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(
                req, context=self._tls, timeout=timeout_s or self.timeout_s
            ) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            try:
                message = json.loads(text).get("message", text)
            except ValueError:
                message = text
            raise KubeError(err.code, message) from None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = JSON,
        timeout_s: float | None = None,
    ) -> Any:
        """One request; the answer parsed as JSON."""
        raw = self.raw(
            method, path, body, params=params, content_type=content_type, timeout_s=timeout_s
        )
        return json.loads(raw) if raw else None

    def get(self, path: str, **params: str) -> Any:
        return self.request("GET", path, params=params or None)

    def create(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, body, content_type=MERGE_PATCH)

    def watch(
        self, path: str, resource_version: str, timeout_s: int = 60
    ) -> Iterator[dict[str, Any]]:
        """Watch events from `resource_version` until the server ends the watch (after
        about `timeout_s`); the caller lists and watches again."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_s),
        }
        url = f"{self.server}{path}?{urlencode(params)}"
        req = urllib.request.Request(url, headers={"Accept": JSON})
        if self._token:
            req.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(req, context=self._tls, timeout=timeout_s + 10) as resp:
                for line in resp:
                    if line.strip():
                        yield json.loads(line)
        except (TimeoutError, ConnectionError):
            return
