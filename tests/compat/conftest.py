"""Fixtures running prometheus-adapter and Surge on the same config, data and objects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from surge.cli import main
from surge.demo.data import demo_objects
from tests.compat.prometheus_adapter import AdapterError, ClientPKI, PrometheusAdapter, build
from tests.support.kube_standin import KubeStandinThread
from tests.support.oracle import ConstantData

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "seed": ROOT / "deploy" / "config" / "seed-rules.yaml",
    "rich": ROOT / "tests" / "adapter" / "configs" / "rich.yaml",
}
DISCOVERY = (
    "/apis/custom.metrics.k8s.io/v1beta1",
    "/apis/custom.metrics.k8s.io/v1beta2",
    "/apis/external.metrics.k8s.io/v1beta1",
)


@dataclass(frozen=True)
class Cluster:
    """A kubeconfig for the stand-in serving the demo objects, and the same objects as an
    --objects file."""

    kubeconfig: Path
    objects_file: Path


@dataclass(frozen=True)
class SurgeAnswer:
    """What `surge query` printed and its exit code (0 for a 2xx answer, 1 for an error)."""

    exit_code: int
    body: str
    stderr: str


@pytest.fixture(scope="session")
def adapter_binary() -> Path:
    """PA, built once from the Go module proxy (a no-op when cached). A missing PA is a
    failure, not a skip: without it nothing here is compared."""
    try:
        return build()
    except AdapterError as err:
        problem = str(err)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def client_pki(tmp_path_factory: pytest.TempPathFactory) -> ClientPKI:
    return ClientPKI.create(tmp_path_factory.mktemp("compat-pki"))


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, prometheus_constant: ConstantData
) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("compat-cluster")
    objects = demo_objects(prometheus_constant.pods)
    # --objects serves the kinds in the file (plus namespaces), while PA maps labels to
    # every resource the cluster serves: the stand-in serves batch/v1, so the file holds
    # one Job to serve the same resources (the `job` label names jobs.batch for both).
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "ai-service-migrate", "namespace": prometheus_constant.namespace},
    }
    objects_file = directory / "objects.yaml"
    objects_file.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [*objects, job]})
    )
    with KubeStandinThread() as standin:
        for obj in [*objects, job]:
            standin.add(obj)
        yield Cluster(standin.write_kubeconfig(directory / "kubeconfig"), objects_file)


@pytest.fixture(scope="module")
def prometheus_adapter(
    adapter_binary: Path,
    client_pki: ClientPKI,
    cluster: Cluster,
    prometheus_constant: ConstantData,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], PrometheusAdapter]]:
    """Call it with a name of CONFIGS for PA serving that config: started on first use
    (after its first Prometheus poll), then shared by the module's tests."""
    running: dict[str, PrometheusAdapter] = {}
    problems: dict[str, str] = {}

    def adapter(config_name: str) -> PrometheusAdapter:
        if config_name not in running and config_name not in problems:
            started = PrometheusAdapter(
                adapter_binary,
                CONFIGS[config_name],
                prometheus_constant.url,
                cluster.kubeconfig,
                client_pki,
                tmp_path_factory.mktemp(f"prometheus-adapter-{config_name}"),
            )
            started.start()
            try:
                started.wait_listed(DISCOVERY)
                running[config_name] = started
            except AdapterError as err:
                started.stop()
                problems[config_name] = str(err)
        if config_name in problems:
            pytest.fail(problems[config_name], pytrace=False)
        return running[config_name]

    try:
        yield adapter
    finally:
        for started in running.values():
            started.stop()


@pytest.fixture
def surge_query(
    capsys: pytest.CaptureFixture[str], cluster: Cluster, prometheus_constant: ConstantData
) -> Callable[[str, str, str], SurgeAnswer]:
    """`surge query PATH` in process on CONFIGS[config_name] and PA's Prometheus, with
    objects from the --objects file ("objects") or listed from the stand-in ("kubeconfig")."""
    sources = {
        "objects": f"--objects={cluster.objects_file}",
        "kubeconfig": f"--kubeconfig={cluster.kubeconfig}",
    }

    def run(config_name: str, path: str, source: str) -> SurgeAnswer:
        capsys.readouterr()
        code = main(
            [
                "query",
                f"--config={CONFIGS[config_name]}",
                f"--prometheus-url={prometheus_constant.url}",
                sources[source],
                "--metrics-relist-interval=30s",
                "--metrics-max-age=6h",
                "--log-format=json",
                "--log-level=warning",
                path,
            ]
        )
        out, err = capsys.readouterr()
        return SurgeAnswer(code, out, err)

    return run
