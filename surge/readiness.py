"""Waiting for a child process to serve: the demo's Prometheus and, in tests, Surge,
prometheus-adapter, VictoriaMetrics and the control plane. A process that exits first, or
never passes its probe, is an error quoting its log, not a hang."""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable

POLL_S = 0.1


def wait_ready(
    process: subprocess.Popen[bytes],
    probe: Callable[[], bool],
    timeout_s: float,
    *,
    name: str,
    log: Callable[[], str],
    error: type[Exception] = RuntimeError,
) -> None:
    """Until `probe()` is true (an OSError from it means not yet). Raises `error` naming
    `name`, with `log()`, when the process exits or `timeout_s` passes; the caller stops it."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            code = process.returncode
            raise error(f"{name} exited with code {code} before it was ready:\n{log()}")
        try:
            if probe():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise error(f"{name} was not ready after {timeout_s:g}s:\n{log()}")
        time.sleep(POLL_S)


def http_ok(url: str | urllib.request.Request, context: ssl.SSLContext | None = None) -> bool:
    """GET `url` (a Request to send headers) answers 200; an error status or no answer
    raises OSError."""
    with urllib.request.urlopen(url, timeout=1, context=context) as answer:
        return bool(answer.status == 200)
