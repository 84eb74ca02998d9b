"""A real VictoriaMetrics single-node server on loopback (Debian package `victoria-metrics`).

It speaks Prometheus' query API and, unlike Prometheus, refuses queries longer than
`-search.maxQueryLen` (16 KB by default): the limit naive adapters overflow.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

from surge import readiness
from surge.demo.localprom import free_port


class VictoriaMetrics:
    def __init__(self, data_dir: Path) -> None:
        binary = shutil.which("victoria-metrics")
        if binary is None:
            raise RuntimeError(
                "victoria-metrics not found on PATH: install it with "
                "`apt-get install victoria-metrics`"
            )
        self.binary = binary
        self.data_dir = data_dir
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / "victoria-metrics.log"
        log = log_path.open("ab")
        self._process = subprocess.Popen(
            [
                self.binary,
                f"-storageDataPath={self.data_dir / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-search.disableCache",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            readiness.wait_ready(
                self._process,
                lambda: readiness.http_ok(self.url + "/health"),
                30,
                name="victoria-metrics",
                log=lambda: log_path.read_text(errors="replace")[-3000:],
            )
        except RuntimeError:
            self.stop()
            raise

    def import_prometheus(self, text: str) -> None:
        """Write samples in Prometheus' text format (timestamps in ms) and make them visible."""
        request = urllib.request.Request(
            self.url + "/api/v1/import/prometheus", data=text.encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert resp.status in (200, 204)
        with urllib.request.urlopen(self.url + "/internal/force_flush", timeout=30):
            pass

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
