"""Fixtures running prometheus-adapter and Surge on the same config, data and objects.

The objects live in a real kube-apiserver (tests/e2e's control plane: etcd and
kube-apiserver from tests/e2e/build.sh's cached build; without it the suite fails, it
never skips), so label selectors are matched by Kubernetes for PA, and by Surge's own
code only where Surge reads its --objects file.

The data is the constant data in three namespaces: ai-platform as the other suites have
it, and two more holding the same pod, Deployment and Service names with other values
(those of the constant model's 4th-6th and 7th-9th pods), so that an answer taken from
the wrong namespace, or from all of them, differs from PA's.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from surge.cli import main
from surge.demo.data import (
    NAMESPACE,
    ConstantModel,
    PodSample,
    demo_objects,
    generate_openmetrics,
    pod_names,
)
from surge.demo.localprom import LocalPrometheus, backfill
from tests.compat.prometheus_adapter import AdapterError, ClientPKI, PrometheusAdapter, build
from tests.e2e.controlplane import ControlPlane
from tests.e2e.objects import create_objects
from tests.support.oracle import ConstantData

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "seed": ROOT / "deploy" / "config" / "seed-rules.yaml",
    "rich": ROOT / "tests" / "adapter" / "configs" / "rich.yaml",
    "no-query": ROOT / "tests" / "adapter" / "configs" / "no-metrics-query.yaml",
}
DISCOVERY = (
    "/apis/custom.metrics.k8s.io/v1beta1",
    "/apis/custom.metrics.k8s.io/v1beta2",
    "/apis/external.metrics.k8s.io/v1beta1",
)


# namespace -> how many of the constant model's pods its pods are shifted by
OTHER_NAMESPACES = {"ai-platform-b": 3, "team-x": 6}


@dataclass(frozen=True)
class Shifted:
    """The constant model with pod i valued as pod i + offset."""

    offset: int

    def sample(self, pods: Sequence[str], index: int, t: float) -> PodSample:
        return ConstantModel().sample(pods, index + self.offset, t)


@pytest.fixture(scope="session")
def compat_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConstantData]:
    """A Prometheus of its own: the constant data's pods in the three namespaces."""
    data_dir = tmp_path_factory.mktemp("prometheus-compat")
    now = datetime.now(UTC)
    pods = tuple(pod_names(3, seed="constant"))  # the constant data's pods
    models = {NAMESPACE: Shifted(0), **{ns: Shifted(k) for ns, k in OTHER_NAMESPACES.items()}}
    for namespace, model in models.items():
        text = generate_openmetrics(
            now - timedelta(hours=1), now + timedelta(hours=3), 15, pods, model
        )
        backfill(data_dir, text.replace(f'namespace="{NAMESPACE}"', f'namespace="{namespace}"'))
    with LocalPrometheus(data_dir) as prometheus:
        yield ConstantData(prometheus, pods, ConstantModel())


def _in_namespace(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The demo objects moved to `namespace` (names kept, uids made unique)."""
    moved = copy.deepcopy(objects)
    new_uids = {
        o["metadata"]["uid"]: str(uuid.uuid5(uuid.UUID(o["metadata"]["uid"]), namespace))
        for o in objects
        if "uid" in o["metadata"]
    }
    for obj in moved:
        meta = obj["metadata"]
        if obj["kind"] == "Namespace":
            meta["name"] = namespace
            meta.get("labels", {})["kubernetes.io/metadata.name"] = namespace
        else:
            meta["namespace"] = namespace
        for ref in [meta, *meta.get("ownerReferences", [])]:
            # A dict the demo objects share (deepcopy keeps the sharing) is seen twice:
            # only an original uid is replaced, so owner references still name the owner.
            if ref.get("uid") in new_uids:
                ref["uid"] = new_uids[ref["uid"]]
    return moved


@dataclass(frozen=True)
class Cluster:
    """A kubeconfig for the kube-apiserver holding the demo objects (an admin's client
    certificate), and the same objects as an --objects file."""

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
    tmp_path_factory: pytest.TempPathFactory, compat_data: ConstantData
) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("compat-cluster")
    objects = demo_objects(compat_data.pods)
    objects += [o for ns in OTHER_NAMESPACES for o in _in_namespace(objects, ns)]
    # --objects serves the kinds in the file (plus namespaces), while PA maps labels to
    # every resource the cluster serves: the file holds one Job so that the `job` label
    # names jobs.batch for both.
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "ai-service-migrate", "namespace": compat_data.namespace},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "registry.example.com/m:1"}],
                }
            }
        },
    }
    objects_file = directory / "objects.yaml"
    objects_file.write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [*objects, job]})
    )
    # Without tests/e2e/build.sh's binaries this raises ControlPlaneError saying so.
    with ControlPlane(directory / "kube") as plane:
        create_objects(plane.admin(), [*objects, job])
        yield Cluster(plane.admin_kubeconfig, objects_file)


@pytest.fixture(scope="module")
def prometheus_adapter(
    adapter_binary: Path,
    client_pki: ClientPKI,
    cluster: Cluster,
    compat_data: ConstantData,
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
                compat_data.url,
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
    capsys: pytest.CaptureFixture[str], cluster: Cluster, compat_data: ConstantData
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
                f"--prometheus-url={compat_data.url}",
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
