"""deploy/examples/ai-service: the seed's HPAs as the project records them, one HPA per
Deployment in each variant, metrics the seed rules serve, and the stand-in workload that
exports what the HPAs read (run for real on loopback)."""

from __future__ import annotations

import importlib.util
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.manifests import DEPLOY, ROOT, Obj, Rendered, container, pod_spec, render, selects

EXAMPLE = DEPLOY / "examples" / "ai-service"
VARIANTS = ["queue", "latency", "external", "combined"]
SEED_HPAS = {
    doc["metadata"]["name"]: doc
    for doc in yaml.safe_load_all((ROOT / "tests" / "autoscaler" / "seed-hpa.yaml").read_text())
}


def _hpa(variant: str) -> Obj:
    return render(f"examples/ai-service/{variant}").one("HorizontalPodAutoscaler")


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_is_one_hpa_on_ai_service(variant: str) -> None:
    rendered = render(f"examples/ai-service/{variant}")
    # Two HPAs on one Deployment disable each other (AmbiguousSelector): one per variant.
    (hpa,) = rendered.objects
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["kind"] == "HorizontalPodAutoscaler"
    assert hpa["metadata"]["namespace"] == "ai-platform"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ai-service",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 20)


@pytest.mark.parametrize("variant", ["queue", "latency"])
def test_seed_hpas_are_the_seeds(variant: str) -> None:
    hpa = _hpa(variant)
    assert hpa == SEED_HPAS[hpa["metadata"]["name"]]


def test_combined_is_the_seeds_two_hpas_in_one() -> None:
    combined, queue, latency = _hpa("combined"), _hpa("queue"), _hpa("latency")
    assert combined["metadata"]["name"] == queue["metadata"]["name"]  # replaces it when applied
    assert combined["spec"]["behavior"] == queue["spec"]["behavior"]
    assert combined["spec"]["metrics"] == queue["spec"]["metrics"] + latency["spec"]["metrics"]


def test_external_hpa_divides_the_services_queue_over_the_pods() -> None:
    (metric,) = _hpa("external")["spec"]["metrics"]
    assert metric["type"] == "External"
    external = metric["external"]
    assert external["metric"]["selector"] == {"matchLabels": {"service": "ai-service"}}
    assert external["target"] == {"type": "AverageValue", "averageValue": "50"}


def test_hpas_read_metrics_the_seed_rules_serve() -> None:
    rules = yaml.safe_load((DEPLOY / "config" / "seed-rules.yaml").read_text())
    custom = {r["name"]["as"] for r in rules["rules"]}
    external = {r["name"]["as"] for r in rules["externalRules"]}
    for variant in VARIANTS:
        for metric in _hpa(variant)["spec"]["metrics"]:
            kind = metric["type"]
            if kind == "Resource":
                continue
            name = metric[kind.lower()]["metric"]["name"]
            assert name in (external if kind == "External" else custom), (variant, name)


@pytest.fixture(scope="module")
def standin() -> Rendered:
    return render("examples/ai-service/standin")


def test_standin_is_the_seeds_workload_shape(standin: Rendered) -> None:
    deployment = standin.get("Deployment", "ai-service", "ai-platform")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app"] == "ai-service"
    service = standin.get("Service", "ai-service", "ai-platform")
    assert selects(service["spec"]["selector"], labels)
    c = container(deployment, "ai-service")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    (http,) = service["spec"]["ports"]
    assert http["name"] == "http" and http["targetPort"] == ports["http"]
    # Each replica counts its ready peers through a headless Service selecting the same pods.
    env = {e["name"]: e["value"] for e in c["env"]}
    peers = standin.get("Service", env["PEERS_HOST"], "ai-platform")
    assert peers["spec"]["clusterIP"] == "None" and selects(peers["spec"]["selector"], labels)
    assert "app" not in peers["metadata"].get("labels", {}), "would be scraped twice"
    # The queue file is the key of the (not hash-named) load ConfigMap, mounted as a directory.
    queue = PurePosixPath(env["QUEUE_FILE"])
    mount = next(m for m in c["volumeMounts"] if PurePosixPath(m["mountPath"]) == queue.parent)
    assert "subPath" not in mount
    volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"])
    load = standin.get("ConfigMap", volume["configMap"]["name"], "ai-platform")
    assert load["metadata"]["name"] == "ai-service-load" and queue.name in load["data"]
    # Resource requests: the seed HPA's CPU and memory utilization need them.
    assert {"cpu", "memory"} <= c["resources"]["requests"].keys()


def test_servicemonitor_gives_the_labels_the_seed_rules_expect(standin: Rendered) -> None:
    monitoring = render("examples/ai-service/monitoring")
    monitor = monitoring.get("ServiceMonitor", "ai-service", "ai-platform")
    service = standin.get("Service", "ai-service", "ai-platform")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/actuator/prometheus"
    relabel = {r["targetLabel"]: r["sourceLabels"] for r in endpoint["relabelings"]}
    assert relabel["deployment"] == ["__meta_kubernetes_pod_label_app"]


def _load_standin() -> ModuleType:
    path = EXAMPLE / "standin" / "ai_service_standin.py"
    spec = importlib.util.spec_from_file_location("ai_service_standin", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def module() -> ModuleType:
    return _load_standin()


@pytest.fixture
def served(module: ModuleType) -> Iterator[tuple[object, str]]:
    pod = module.Pod()
    server = module.make_server(pod, 0, "127.0.0.1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield pod, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def _bucket_fraction(samples: dict, le: str) -> float:
    buckets = {
        labels["le"]: value for labels, value in samples["ai_llm_response_time_seconds_bucket"]
    }
    return buckets[le] / buckets["+Inf"]


@pytest.mark.parametrize(
    ("queue", "replicas", "scale_up"), [(40, 2, False), (600, 2, True), (600, 13, False)]
)
def test_standin_exports_its_share_and_a_matching_latency(
    served: tuple[object, str], queue: float, replicas: int, scale_up: bool
) -> None:
    pod, base = served
    pod.tick(queue, replicas, 600.0)  # ten minutes of calls at this load
    for path in ("/actuator/prometheus", "/metrics"):
        samples = _scrape(base + path)
        ((_, waiting),) = samples["http_requests_waiting"]
        assert waiting == round(queue / replicas)
        # The seed HPAs: 50 waiting per pod and a p99 of 5 s are crossed together.
        assert (waiting > 50) is scale_up
        assert (_bucket_fraction(samples, "5") < 0.99) is scale_up
        buckets = [value for _, value in samples["ai_llm_response_time_seconds_bucket"]]
        assert buckets == sorted(buckets), "cumulative buckets must not decrease"
        ((_, count),) = samples["ai_llm_response_time_seconds_count"]
        ((_, total),) = samples["http_requests_total"]
        assert buckets[-1] == count == total == math.floor(600 * 5.0)


def test_standin_reads_the_queue_and_counts_peers(module: ModuleType, tmp_path: Path) -> None:
    queue = tmp_path / "queue"
    assert module.read_queue(str(queue)) == 0.0  # not there yet
    queue.write_text("600\n")
    assert module.read_queue(str(queue)) == 600.0
    queue.write_text("lots")
    assert module.read_queue(str(queue)) == 0.0
    assert module.count_replicas("") == 1
    assert module.count_replicas("127.0.0.1") == 1


def test_standin_answers_404_elsewhere(served: tuple[object, str]) -> None:
    _, base = served
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/nope", timeout=10)
    assert err.value.code == 404
