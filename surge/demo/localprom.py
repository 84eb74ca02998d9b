"""A real Prometheus on loopback, with backfilled history: for `surge demo` and the tests.

How data stays "current" (verified against Prometheus 2.42 and its promtool):

- `promtool tsdb create-blocks-from openmetrics FILE DIR` turns samples into 2 h blocks
  (2.42 has no `--max-block-duration` for OpenMetrics input; the default suits us). Blocks
  may cover the future: backfilling from now-6h to now+3h at a 15 s step, instant queries
  at "now" (default 5 m lookback) keep finding a sample for the next three hours.
- Prometheus opens with the newest block's end as the head's lower bound, so with future
  blocks every scraped or remote-written sample would be refused as "out of bounds". The
  config therefore sets `storage.tsdb.out_of_order_time_window` (30 d): live samples are
  then accepted next to the backfilled ones, which is what the demo needs (history from
  the backfill, the present from scrapes).
- Retention is set to 100 y: with future data, time-based retention would otherwise count
  from the newest block and could drop history unexpectedly.
- Backfill before start(): a running Prometheus only picks new blocks up at its next
  compaction cycle. restart() keeps the port and the data directory.

The API is synchronous (subprocess and a short readiness poll); from asyncio use
`async with LocalPrometheus(...)` or `await asyncio.to_thread(prom.start)`.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import yaml

from surge.readiness import http_ok, wait_ready

LOOPBACK = "127.0.0.1"
OUT_OF_ORDER_WINDOW = "30d"
RETENTION = "100y"
_INSTALL_HINT = "install it with `apt-get install prometheus` (Debian/Ubuntu) or from prometheus.io"


class PrometheusError(RuntimeError):
    """Prometheus or promtool is missing, failed, or did not become ready."""


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PrometheusError(f"{name} not found on PATH: {_INSTALL_HINT}")
    return path


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def backfill(data_dir: Path, openmetrics: str | Path) -> None:
    """Write TSDB blocks into `data_dir` from OpenMetrics samples: a Path names a file, a str
    is the text itself. Raises PrometheusError with promtool's own message on failure."""
    promtool = _binary("promtool")
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="surge-backfill-") as scratch:
        if isinstance(openmetrics, Path):
            source = openmetrics
        else:
            source = Path(scratch) / "samples.om"
            source.write_text(openmetrics)
        done = subprocess.run(
            [
                promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                str(source),
                str(data_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise PrometheusError(
            f"promtool could not backfill {source.name} into {data_dir} "
            f"(exit {done.returncode}):\n{_tail(done.stderr or done.stdout)}"
        )


class LocalPrometheus:
    """The `prometheus` binary on 127.0.0.1 and a free port, its TSDB in `data_dir`.

    `scrape_targets` ("host:port", scraped at /metrics with honor_labels, so exposed
    job/instance labels win) and `flags` (added to Prometheus' command line) are optional.
    The remote-write receiver and the lifecycle API are on. Prometheus' log goes to
    `data_dir/prometheus.log`, quoted in errors.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        scrape_targets: Sequence[str] = (),
        scrape_interval: str = "15s",
        port: int | None = None,
        ready_timeout_s: float = 60.0,
        flags: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.scrape_targets = list(scrape_targets)
        self.scrape_interval = scrape_interval
        self.port = port or free_port()
        self.ready_timeout_s = ready_timeout_s
        self.flags = list(flags)  # more command-line flags, e.g. query limits
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "prometheus.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def config(self) -> dict[str, object]:
        """The prometheus.yml written at start."""
        scrape_configs = []
        if self.scrape_targets:
            scrape_configs.append(
                {
                    "job_name": "targets",
                    "honor_labels": True,
                    "static_configs": [{"targets": self.scrape_targets}],
                }
            )
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "storage": {"tsdb": {"out_of_order_time_window": OUT_OF_ORDER_WINDOW}},
            "scrape_configs": scrape_configs,
        }

    def start(self) -> None:
        """Start Prometheus and return once /-/ready answers 200, or raise PrometheusError
        quoting its log (bad flag, port taken, corrupt TSDB...)."""
        if self.running:
            return
        binary = _binary("prometheus")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.data_dir}",
                    f"--storage.tsdb.retention.time={RETENTION}",
                    f"--web.listen-address={LOOPBACK}:{self.port}",
                    "--web.enable-lifecycle",
                    "--web.enable-remote-write-receiver",
                    *self.flags,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self._wait_ready(log_start)

    def _wait_ready(self, log_start: int) -> None:
        process = self._process
        assert process is not None
        try:
            wait_ready(
                process,
                lambda: http_ok(f"{self.url}/-/ready"),
                self.ready_timeout_s,
                name=f"prometheus at {self.url}",
                log=lambda: self._log_since(log_start),
                error=PrometheusError,
            )
        except PrometheusError:
            self.stop()
            raise

    def _log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return _tail(log.read().decode(errors="replace"))

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (Prometheus flushes and closes its TSDB), SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Same port, same data: what a pod restart looks like to Surge."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
