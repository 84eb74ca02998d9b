"""etcd, kube-apiserver and kube-controller-manager, built from Kubernetes' own Go modules
(tests/e2e/build.sh), run as a throwaway control plane on loopback.

Every process is started in its own session and killed with its process group on stop, so
no child outlives the test session. Each writes its log to the work directory; a failure
to start quotes the log's tail.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

from autoscaler.core.hpa import Options
from surge import readiness
from surge.demo.localprom import free_port
from tests.e2e.kubeapi import Kube, KubeError
from tests.e2e.pki import FRONT_PROXY_CLIENT, LOOPBACK, PKI, make_pki
from tests.support import kubeconfig

BUILD_SCRIPT = Path(__file__).resolve().parent / "build.sh"
SURGE_SERVICE = ("surge", "surge-system")  # the deploy/ manifests' Service: name, namespace
# The controllers the scenarios need, and nothing else (no GC, no namespace controller, no
# scheduler or kubelet: the fixture binds pods and reports their status).
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "horizontal-pod-autoscaler-controller",
)
# The HPA's clock, compressed 12x like the scenarios' behavior windows (upstream defaults in
# parentheses): sync 2s (15s), default scale-down stabilization 25s (5m), CPU
# initialization period 10s (5m; with the rules' 1m window, a new pod's CPU sample would
# still wait a minute).
HPA_OPTIONS = Options(
    tolerance=0.1,
    cpu_initialization_period_seconds=10,
    initial_readiness_delay_seconds=30,
    downscale_stabilization_window_seconds=25,
)
HPA_FLAGS = (
    "--horizontal-pod-autoscaler-sync-period=2s",
    f"--horizontal-pod-autoscaler-tolerance={HPA_OPTIONS.tolerance}",
    "--horizontal-pod-autoscaler-cpu-initialization-period="
    f"{HPA_OPTIONS.cpu_initialization_period_seconds:g}s",
    "--horizontal-pod-autoscaler-initial-readiness-delay="
    f"{HPA_OPTIONS.initial_readiness_delay_seconds:g}s",
    "--horizontal-pod-autoscaler-downscale-stabilization="
    f"{HPA_OPTIONS.downscale_stabilization_window_seconds}s",
)


class ControlPlaneError(RuntimeError):
    """A binary is missing or a component did not become ready."""


def bin_dir() -> Path:
    """The cached binaries of the pinned release; never builds (.ci/run does, outside pytest)."""
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--bin-dir"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ControlPlaneError(
            f"{done.stderr.strip()}\n(the e2e suite needs Go and one run of "
            f"`bash tests/e2e/build.sh`; .ci/run does it before pytest)"
        )
    return Path(done.stdout.strip())


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Process:
    """One component: started in its own process group, logged to `log`."""

    def __init__(
        self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = {**os.environ, **env} if env else None
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self._popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.env,
            )

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise ControlPlaneError(f"{self.name} is not running")
        return self._popen.pid

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait_ready(self, probe: Callable[[], bool], timeout_s: float) -> None:
        if self._popen is None:
            raise ControlPlaneError(f"{self.name} is not running")
        readiness.wait_ready(
            self._popen,
            probe,
            timeout_s,
            name=self.name,
            log=lambda: tail(self.log),
            error=ControlPlaneError,
        )

    def stop(self, grace_s: float = 10.0) -> None:
        if self._popen is None:
            return
        popen, self._popen = self._popen, None
        try:
            os.killpg(popen.pid, signal.SIGTERM)
            popen.wait(grace_s)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(5)


def write_kubeconfig(
    path: Path, server: str, ca: Path, *, cert: tuple[Path, Path] | None = None, token: str = ""
) -> Path:
    user = {"token": token}
    if cert:
        user = {"client-certificate": str(cert[0]), "client-key": str(cert[1])}
    return kubeconfig.write_kubeconfig(path, server, ca=ca, user=user, name="e2e")


class ControlPlane:
    """etcd + kube-apiserver (aggregation layer on, front-proxy certificate set) +
    kube-controller-manager, in `workdir`. A context manager: exit stops everything."""

    def __init__(self, workdir: Path, binaries: Path | None = None) -> None:
        self.workdir = workdir
        self.bin = binaries or bin_dir()
        self.pki: PKI = make_pki(workdir / "pki", SURGE_SERVICE)
        self.etcd_port = free_port()
        self.apiserver_port = free_port()
        self.server = f"https://{LOOPBACK}:{self.apiserver_port}"
        self.admin_kubeconfig = workdir / "admin.kubeconfig"
        self.nobody_kubeconfig = workdir / "nobody.kubeconfig"
        self.processes: list[Process] = []

    def admin(self) -> Kube:
        return Kube(self.server, self.pki.ca.cert, cert=(self.pki.admin.cert, self.pki.admin.key))

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def _start(self, name: str, argv: Sequence[str]) -> Process:
        binary = self.bin / argv[0]
        process = Process(name, [str(binary), *argv[1:]], self.log(name))
        process.start()
        self.processes.append(process)
        return process

    def start_etcd(self) -> None:
        peer = free_port()
        client_url = f"http://{LOOPBACK}:{self.etcd_port}"
        peer_url = f"http://{LOOPBACK}:{peer}"
        etcd = self._start(
            "etcd",
            [
                "etcd",
                "--name=e2e",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        etcd.wait_ready(lambda: readiness.http_ok(f"{client_url}/health"), timeout_s=30)

    def start_apiserver(self) -> None:
        p = self.pki
        apiserver = self._start(
            "kube-apiserver",
            [
                "kube-apiserver",
                f"--etcd-servers=http://{LOOPBACK}:{self.etcd_port}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={p.apiserver.cert}",
                f"--tls-private-key-file={p.apiserver.key}",
                f"--client-ca-file={p.ca.cert}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={p.service_account_pub}",
                f"--service-account-signing-key-file={p.service_account_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                # No ServiceAccount controller runs, so no namespace has a `default` account
                # for the admission plugin to assign.
                "--disable-admission-plugins=ServiceAccount",
                # The lease reconciler would write the loopback address into the
                # `kubernetes` Endpoints, which validation refuses.
                "--endpoint-reconciler-type=none",
                # The aggregation layer: its client certificate towards Surge, and the
                # front-proxy settings it publishes in kube-system/extension-apiserver-
                # authentication for extension servers (Surge reads them from there).
                f"--proxy-client-cert-file={p.front_proxy_client.cert}",
                f"--proxy-client-key-file={p.front_proxy_client.key}",
                f"--requestheader-client-ca-file={p.front_proxy_ca.cert}",
                f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                # --enable-aggregator-routing stays at its default (false): APIServices
                # resolve through the Service (ExternalName -> localhost), see README.
            ],
        )
        admin = self.admin()

        def ready() -> bool:
            try:
                return admin.raw("GET", "/readyz", timeout_s=3) == b"ok"
            except (KubeError, OSError):
                return False

        apiserver.wait_ready(ready, timeout_s=120)
        write_kubeconfig(
            self.admin_kubeconfig, self.server, p.ca.cert, cert=(p.admin.cert, p.admin.key)
        )
        write_kubeconfig(
            self.nobody_kubeconfig, self.server, p.ca.cert, cert=(p.nobody.cert, p.nobody.key)
        )

    def start_controller_manager(
        self, controllers: Sequence[str] = CONTROLLERS, flags: Sequence[str] = HPA_FLAGS
    ) -> Process:
        """The scenarios' controllers on their compressed clock; a benchmark passes its own
        (flags come last, so a flag given again there wins, e.g. --secure-port)."""
        # Each controller gets its own service account's credentials (as kubeadm runs it), so
        # the HPA reads the metrics APIs as system:serviceaccount:kube-system:horizontal-pod-
        # autoscaler, through RBAC and Surge's own SubjectAccessReview.
        return self._start(
            "kube-controller-manager",
            [
                "kube-controller-manager",
                f"--kubeconfig={self.admin_kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                "--use-service-account-credentials=true",
                f"--controllers={','.join(controllers)}",
                *flags,
            ],
        )

    def start(self) -> Self:
        self.start_etcd()
        self.start_apiserver()
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()
