"""The real prometheus-adapter (PA) as a subprocess on loopback, for side-by-side checks.

PA needs a Kubernetes API to start; it gets the suite's kube-apiserver through a
kubeconfig. Requests carry a client certificate for the group system:masters signed by a
CA PA trusts (`--client-ca-file`), so PA authenticates and authorizes them locally and
never asks the API server for TokenReview or SubjectAccessReview.
"""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import trustme

from surge import readiness
from surge.demo.localprom import LOOPBACK, free_port

BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "build_prometheus_adapter.sh"
PA_VERSION = "v0.12.0"
# A cold build fetches PA's modules and compiles them: minutes on a 2-core machine.
BUILD_TIMEOUT_S = 900.0
STARTUP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0


class AdapterError(RuntimeError):
    """PA could not be built or did not come up; the message says why."""


def build(version: str = PA_VERSION) -> Path:
    """The PA binary, built (or reused from the cache) by bench/build_prometheus_adapter.sh."""
    try:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), version],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AdapterError(
            f"building prometheus-adapter {version} took over {BUILD_TIMEOUT_S:.0f}s"
        ) from None
    binary = Path(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    if done.returncode != 0 or binary is None or not binary.is_file():
        raise AdapterError(
            f"cannot build prometheus-adapter {version} with {BUILD_SCRIPT} "
            f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    return binary


@dataclass(frozen=True)
class ClientPKI:
    """A CA for PA's --client-ca-file and a client certificate it issued (O=system:masters)."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path) -> ClientPKI:
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        leaf = ca.issue_cert("compat", common_name="compat", organization_name="system:masters")
        pki = cls(directory / "ca.crt", directory / "client.crt", directory / "client.key")
        ca.cert_pem.write_to_path(str(pki.ca_file))
        pki.cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(pki.key_file))
        return pki


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: the status code and the body as sent."""

    status: int
    body: str


class PrometheusAdapter:
    """One PA process serving `config` from `prometheus_url`, objects from `kubeconfig`."""

    def __init__(
        self,
        binary: Path,
        config: Path,
        prometheus_url: str,
        kubeconfig: Path,
        pki: ClientPKI,
        workdir: Path,
    ) -> None:
        self.binary, self.config, self.prometheus_url = binary, config, prometheus_url
        self.kubeconfig, self.pki, self.workdir = kubeconfig, pki, workdir
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._context: ssl.SSLContext | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "adapter.log"

    @property
    def cert_dir(self) -> Path:
        return self.workdir / "certs"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        kc = str(self.kubeconfig)
        argv = [
            str(self.binary),
            f"--secure-port={self.port}",
            f"--bind-address={LOOPBACK}",
            f"--cert-dir={self.cert_dir}",
            f"--lister-kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--authentication-skip-lookup",
            f"--client-ca-file={self.pki.ca_file}",
            f"--prometheus-url={self.prometheus_url}",
            f"--config={self.config}",
            "--metrics-relist-interval=30s",
            "--metrics-max-age=6h",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def wait_listed(self, paths: tuple[str, ...], timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Until every discovery path in `paths` lists a metric: PA has polled Prometheus."""
        pending = list(paths)
        last = ["no answer yet"]

        def listed() -> bool:
            try:
                answer = self.get(pending[0])
            except (OSError, http.client.HTTPException) as err:
                last[0] = repr(err)
                return False
            last[0] = f"{answer.status} {answer.body[:200]}"
            if answer.status == 200 and json.loads(answer.body).get("resources"):
                pending.pop(0)
            return not pending

        assert self._process is not None, "start() first"
        readiness.wait_ready(
            self._process,
            listed,
            timeout_s,
            name="prometheus-adapter",
            log=lambda: f"no metrics at {pending[0]} (last: {last[0]})\n{self.log_tail()}",
            error=AdapterError,
        )

    def _ssl_context(self) -> ssl.SSLContext:
        # PA writes its self-signed serving certificate and that certificate's CA to
        # cert-dir/apiserver.crt at startup; trust exactly that.
        if self._context is None:
            context = ssl.create_default_context(cafile=str(self.cert_dir / "apiserver.crt"))
            context.load_cert_chain(str(self.pki.cert_file), str(self.pki.key_file))
            self._context = context
        return self._context

    def get(self, path: str) -> Answer:
        """GET `path` over HTTPS/1.1 as an authenticated system:masters client."""
        connection = http.client.HTTPSConnection(
            LOOPBACK, self.port, timeout=REQUEST_TIMEOUT_S, context=self._ssl_context()
        )
        try:
            connection.request("GET", path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            return Answer(response.status, response.read().decode())
        finally:
            connection.close()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

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
