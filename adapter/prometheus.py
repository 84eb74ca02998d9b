"""Async client for Prometheus' HTTP API: the only way Surge talks to its backend.

Works with anything that speaks the API (Prometheus, Thanos, Mimir/Cortex with
`X-Scope-OrgID`, VictoriaMetrics). Errors are split the way an HPA needs them: the
backend *answered* no (500, as prometheus-adapter) or could not answer (503: hold scale).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import aiohttp

from apiservice.errors import APIError, ServiceUnavailable

T = TypeVar("T")

_UNAVAILABLE = {429: "throttled", 502: "unavailable", 503: "unavailable", 504: "timeout"}


def url_problem(url: str) -> str | None:
    """Why `url` cannot be Prometheus' base URL (one line naming the flag), or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    return f"--prometheus-url {url!r}: expected http(s)://HOST[:PORT][/PATH]"


class BackendError(APIError):
    """Prometheus answered with an error (bad query, execution error): 500, as PA.

    `kind` says whose failure it is, which the engine needs to decide whether asking for
    less could succeed: "query" (this query: bad data, too many samples), "server-error"
    (an internal error or an answer that cannot be read)."""

    def __init__(self, message: str, kind: str = "query") -> None:
        super().__init__(message)
        self.kind = kind


class QueryRejected(BackendError):
    """Prometheus refused the query itself (bad_data): retrying the same text cannot help."""


class BackendUnavailable(ServiceUnavailable):
    """Prometheus was unreachable, timed out or overloaded: 503, so the HPA holds.

    `kind`: "unreachable", "throttled" (429), "unavailable" (Prometheus says so) are the
    whole backend's; "timeout" may be one heavy query's."""

    def __init__(self, message: str, kind: str = "unavailable") -> None:
        super().__init__(message)
        self.kind = kind


class Sample(NamedTuple):
    """A tuple, not a dataclass: a batched answer holds tens of thousands of them."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class QueryResult:
    result_type: str  # "vector" or "scalar" ("matrix"/"string" are refused by callers)
    samples: tuple[Sample, ...]


@dataclass
class PrometheusSettings:
    url: str
    timeout_s: float = 10.0
    bearer_token_file: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    client_cert_file: str | None = None
    client_key_file: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    verb: str = "auto"  # GET, POST, or auto: POST once the query is long
    post_above_bytes: int = 2048


def decode_query(body: Any) -> QueryResult:
    """Decode `data` of a /api/v1/query answer; malformed bodies are backend errors.
    Values are strings, NaN and +Inf included: float() reads them all."""
    try:
        data = body["data"]
        kind = data["resultType"]
        raw = data["result"]
        if kind == "vector":
            samples = tuple(
                Sample(item["metric"], float(item["value"][1]), float(item["value"][0]))
                for item in raw
            )
        elif kind == "scalar":
            samples = (Sample({}, float(raw[1]), float(raw[0])),)
        else:
            samples = ()
        return QueryResult(kind, samples)
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise BackendError(
            f"unable to decode the answer from Prometheus: {err!r}", "server-error"
        ) from None


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and (time, value) points, oldest first."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


def decode_range(body: Any) -> list[RangeSeries]:
    """Decode `data` of a /api/v1/query_range answer (a matrix)."""
    try:
        data = body["data"]
        if data["resultType"] != "matrix":
            raise BackendError(f"expected a matrix from Prometheus, got a {data['resultType']}")
        return [
            RangeSeries(item["metric"], tuple((float(t), float(v)) for t, v in item["values"]))
            for item in data["result"]
        ]
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise BackendError(f"unable to decode the answer from Prometheus: {err!r}") from None


def _series(body: Any) -> list[dict[str, str]]:
    data = body.get("data")
    if not isinstance(data, list):
        raise BackendError("unable to decode the series answer from Prometheus", "server-error")
    return [s for s in data if isinstance(s, dict)]


class PrometheusClient:
    """One aiohttp session, reused; every call bounded by the timeout."""

    INLINE_DECODE_CHARS = 64 * 1024

    _TOKEN_TTL_S = 60.0

    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self.base = settings.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_read_at = -math.inf

    def check_tls(self) -> None:
        """Load the CA and client certificate now: a bad file is a startup error, not a
        failure of every call (ssl.SSLError or OSError)."""
        self._ssl()

    def _ssl(self) -> ssl.SSLContext | bool:
        s = self.settings
        if not self.base.startswith("https"):
            return True
        if s.insecure_skip_verify:
            return False
        ctx = ssl.create_default_context(cafile=s.ca_file)
        if s.client_cert_file:
            ctx.load_cert_chain(s.client_cert_file, s.client_key_file)
        return ctx

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=64)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s)
            )
        return self._session

    async def _headers(self) -> dict[str, str]:
        s = self.settings
        headers = {"Accept": "application/json", **s.headers}
        if s.bearer_token_file:
            # Service-account tokens rotate: re-read now and then, off the event loop.
            if time.monotonic() - self._token_read_at > self._TOKEN_TTL_S:
                text = await asyncio.to_thread(Path(s.bearer_token_file).read_text)
                self._token = text.strip()
                self._token_read_at = time.monotonic()
            headers["Authorization"] = f"Bearer {self._token}"
        elif s.username is not None:
            pair = f"{s.username}:{s.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return headers

    async def _call(self, path: str, params: list[tuple[str, str]], then: Callable[[Any], T]) -> T:
        """One API call, its answer decoded and handed to `then`; large answers are
        decoded on a worker thread, so a batched refresh never stalls the event loop."""
        size = sum(len(k) + len(v) + 2 for k, v in params)
        verb = self.settings.verb.upper()
        if verb == "AUTO":
            verb = "POST" if size > self.settings.post_above_bytes else "GET"
        url = self.base + path
        session = self._session_now()
        headers = await self._headers()
        try:
            if verb == "POST":
                request = session.post(url, data=params, headers=headers)
            else:
                request = session.get(url, params=params, headers=headers)
            async with request as resp:
                text = await resp.text()
                status = resp.status
        except TimeoutError:
            raise BackendUnavailable(
                f"Prometheus at {self.base} did not answer within {self.settings.timeout_s:g}s",
                "timeout",
            ) from None
        except aiohttp.ClientError as err:
            raise BackendUnavailable(
                f"Prometheus at {self.base} is unreachable: {err}", "unreachable"
            ) from None
        if len(text) < self.INLINE_DECODE_CHARS:
            return then(self._decode(status, text))
        return await asyncio.to_thread(lambda: then(self._decode(status, text)))

    def _decode(self, status: int, text: str) -> Any:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "success":
            return body
        if isinstance(body, dict) and body.get("status") == "error":
            kind = body.get("errorType", "")
            message = f"Prometheus said {kind}: {body.get('error', '')}".strip()
            if kind in ("timeout", "canceled") or status == 504:
                raise BackendUnavailable(message, "timeout")
            if status == 429:
                raise BackendUnavailable(message, "throttled")
            if kind == "unavailable" or status in (502, 503):
                raise BackendUnavailable(message, "unavailable")
            if kind == "bad_data":
                raise QueryRejected(message)
            raise BackendError(message, "server-error" if status >= 500 else "query")
        if status in _UNAVAILABLE:
            raise BackendUnavailable(
                f"Prometheus at {self.base} answered HTTP {status}", _UNAVAILABLE[status]
            )
        raise BackendError(
            f"unexpected answer from Prometheus at {self.base}: HTTP {status} {text[:200]!r}",
            "server-error",
        )

    async def query(self, promql: str, at: float | None = None) -> QueryResult:
        params = [("query", promql)]
        if at is not None:
            params.append(("time", f"{at:.3f}"))
        return await self._call("/api/v1/query", params, decode_query)

    async def query_range(
        self, promql: str, start: float, end: float, step: float
    ) -> list[RangeSeries]:
        params = [
            ("query", promql),
            ("start", f"{start:.3f}"),
            ("end", f"{end:.3f}"),
            ("step", f"{step:g}"),
        ]
        return await self._call("/api/v1/query_range", params, decode_range)

    async def series(self, matchers: list[str], start: float, end: float) -> list[dict[str, str]]:
        params = [("match[]", m) for m in matchers]
        params += [("start", f"{start:.3f}"), ("end", f"{end:.3f}")]
        return await self._call("/api/v1/series", params, _series)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
