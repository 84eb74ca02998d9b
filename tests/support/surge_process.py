"""`python -m surge serve` as a subprocess on a free loopback port, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Self

from surge.demo.localprom import free_port


class SurgeProcess:
    """Serves with --insecure-skip-auth and a self-signed pair in `workdir`/certs; `cert`
    is that certificate (it is its own CA)."""

    def __init__(self, workdir: Path, *flags: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / "surge.log"
        self.cert = workdir / "certs" / "apiserver.crt"
        self._args = [
            sys.executable,
            "-m",
            "surge",
            "serve",
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
        self.process = subprocess.Popen(
            self._args,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"surge serve exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.process.kill()
        raise AssertionError(f"surge serve did not become ready: {self.log.read_text()}")

    def __exit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        assert code == 0, self.log.read_text()
