"""Fixtures running prometheus-adapter and Surge on the same config, data and objects."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from surge.cli import main
from surge.demodata import demo_objects, write_objects_yaml
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
    """The stand-in serving the demo objects, and the same objects as an --objects file."""

    standin: KubeStandinThread
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
    objects_file = directory / "objects.yaml"
    write_objects_yaml(objects_file, prometheus_constant.pods)
    with KubeStandinThread() as standin:
        for obj in demo_objects(prometheus_constant.pods):
            standin.add(obj)
        yield Cluster(standin, standin.write_kubeconfig(directory / "kubeconfig"), objects_file)


@pytest.fixture(scope="module")
def config_name(request: pytest.FixtureRequest) -> str:
    """Which config of CONFIGS a test runs on: set by indirect parametrization."""
    return str(request.param)


@pytest.fixture(scope="module")
def prometheus_adapter(
    config_name: str,
    adapter_binary: Path,
    client_pki: ClientPKI,
    cluster: Cluster,
    prometheus_constant: ConstantData,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PrometheusAdapter]:
    """PA serving CONFIGS[config_name], once per config, after its first Prometheus poll."""
    adapter = PrometheusAdapter(
        adapter_binary,
        CONFIGS[config_name],
        prometheus_constant.url,
        cluster.kubeconfig,
        client_pki,
        tmp_path_factory.mktemp(f"prometheus-adapter-{config_name}"),
    )
    with adapter:
        try:
            adapter.wait_listed(DISCOVERY)
        except AdapterError as err:
            problem = str(err)
        else:
            yield adapter
            return
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def surge_query(
    capsys: pytest.CaptureFixture[str],
    config_name: str,
    cluster: Cluster,
    prometheus_constant: ConstantData,
) -> Callable[[str, str], SurgeAnswer]:
    """`surge query PATH` in process on the same config and Prometheus as PA, with objects
    from the --objects file ("objects") or listed from the stand-in ("kubeconfig")."""
    sources = {
        "objects": f"--objects={cluster.objects_file}",
        "kubeconfig": f"--kubeconfig={cluster.kubeconfig}",
    }

    def run(path: str, source: str) -> SurgeAnswer:
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
