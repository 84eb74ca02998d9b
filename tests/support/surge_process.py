"""`python -m surge serve` as a subprocess (this checkout's code) on a free loopback port.

`spawn` and `wait_ready` are the two steps every such test takes; `SurgeProcess` is the
common case: --insecure-skip-auth, a self-signed pair, stopped by SIGTERM with exit 0.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

from surge import readiness
from surge.demo.localprom import free_port

READY_WAIT_S = 60.0


def spawn(flags: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """`surge serve FLAGS` with its logs (stderr) in `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "surge", "serve", *flags],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_ready(process: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]) -> None:
    """Until `ready()` (a /readyz probe); the log in the failure if Surge exits or never is."""
    try:
        readiness.wait_ready(
            process,
            ready,
            READY_WAIT_S,
            name="surge serve",
            log=lambda: log.read_text(errors="replace"),
            error=AssertionError,
        )
    except AssertionError:
        process.kill()
        process.wait()
        raise


def readyz(url: str) -> bool:
    """GET /readyz over TLS without verifying the certificate (a self-signed pair)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return readiness.http_ok(f"{url}/readyz", ctx)


class SurgeProcess:
    """Serves with --insecure-skip-auth and a self-signed pair in `workdir`/certs; `cert`
    is that certificate (it is its own CA)."""

    def __init__(self, workdir: Path, *flags: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / "surge.log"
        self.cert = workdir / "certs" / "apiserver.crt"
        self._flags = [
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={workdir / 'certs'}",
            "--insecure-skip-auth",
            "--log-format=json",
            *flags,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.process = spawn(self._flags, self.log)
        wait_ready(self.process, self.log, lambda: readyz(self.url))
        return self

    def __exit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        assert code == 0, self.log.read_text()
