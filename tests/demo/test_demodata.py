"""The generated data: the seed's shape, valid text, consistent counters, the live exporter."""

from __future__ import annotations

import itertools
import math
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from apiservice.selectors import parse_selector
from surge.demo.data import (
    LATENCY_BUCKETS,
    NAMESPACE,
    ConstantModel,
    WorkdayModel,
    demo_objects,
    exposition,
    generate_openmetrics,
    pod_names,
    series_labels,
    start_exporter,
    write_objects_yaml,
)
from tests.support.oracle import histogram_quantile

PODS = pod_names(4)
MODEL = WorkdayModel()
# A Thursday, 00:00 in the seed's time zone (UTC+8).
MIDNIGHT = datetime(2026, 3, 5, tzinfo=UTC).timestamp() - 8 * 3600

# The seed's workday table: (from hour, to hour, min QPS, max QPS).
SEED_TRAFFIC = [
    (0, 6, 40, 80),
    (6, 9, 200, 400),
    (9, 18, 800, 1200),
    (18, 22, 1000, 1400),
    (22, 24, 300, 500),
]


def test_pod_names_look_like_a_replicaset_s() -> None:
    names = pod_names(12)
    assert len(set(names)) == 12 and names == sorted(names)
    for name in names:
        prefix, _, suffix = name.rpartition("-")
        assert prefix == "ai-service-7d9f8b6c5d"
        assert len(suffix) == 5 and all(c in "bcdfghjklmnpqrstvwxz2456789" for c in suffix)
    assert pod_names(12) == names
    assert pod_names(12, seed="other") != names


@pytest.mark.parametrize(("start", "end", "low", "high"), SEED_TRAFFIC)
def test_qps_follows_the_seed_workday(start: int, end: int, low: int, high: int) -> None:
    """Inside each band of the seed's table (half an hour from its edges), every minute."""
    for minute in range(start * 60 + 30, end * 60 - 30 + 1):
        qps = MODEL.qps(MIDNIGHT + minute * 60)
        assert low <= qps <= high, f"{minute // 60:02d}:{minute % 60:02d} has {qps:.0f} QPS"


def test_traffic_repeats_daily_and_is_shared_by_pods() -> None:
    t = MIDNIGHT + 13.3 * 3600
    assert MODEL.qps(t) == pytest.approx(MODEL.qps(t + 86400))
    shares = [MODEL.pod_qps(PODS, i, t) for i in range(len(PODS))]
    assert sum(shares) == pytest.approx(MODEL.qps(t))
    assert len(set(shares)) > 1  # load balancing is not perfectly even


def test_queue_and_latency_grow_with_load() -> None:
    loads = [0.1 * k for k in range(1, 15)]
    waiting = [MODEL.waiting(load) for load in loads]
    assert waiting == sorted(waiting) and waiting[0] < 50 < waiting[-1]
    assert MODEL.waiting(0.7) == pytest.approx(50)
    p99s = []
    for load in loads:
        fractions, _ = MODEL.latency_fractions(load)
        buckets = [*zip(LATENCY_BUCKETS, fractions, strict=True), (math.inf, 1.0)]
        p99s.append(histogram_quantile(0.99, buckets))
    assert p99s == sorted(p99s)
    # The seed's HPA target (p99 5 s) sits near load 0.7, as the waiting target does.
    fractions, mean = MODEL.latency_fractions(0.7)
    assert fractions[LATENCY_BUCKETS.index(5)] < 0.99 < fractions[LATENCY_BUCKETS.index(7.5)]
    assert mean == pytest.approx(0.45 * 5.1, rel=0.05)


@pytest.mark.parametrize("model", [WorkdayModel(), ConstantModel()], ids=["workday", "constant"])
def test_counters_monotonic_and_histograms_cumulative(model: WorkdayModel | ConstantModel) -> None:
    # Across a day boundary, a cell boundary of the workday table, and odd instants.
    times = [MIDNIGHT - 61 + 7.5 * k for k in range(40)]
    for i in range(len(PODS)):
        samples = [model.sample(PODS, i, t) for t in times]
        for before, after in itertools.pairwise(samples):
            assert after.requests >= before.requests
            assert after.count >= before.count and after.latency_sum >= before.latency_sum
            assert all(a >= b for a, b in zip(after.buckets, before.buckets, strict=True))
        for s in samples:
            assert list(s.buckets) == sorted(s.buckets)
            assert len(s.buckets) == len(LATENCY_BUCKETS) + 1 and s.buckets[-1] == s.count


def test_workday_counter_rate_is_the_pod_share() -> None:
    t = MIDNIGHT + 10 * 3600 + 17
    first, later = MODEL.sample(PODS, 2, t), MODEL.sample(PODS, 2, t + 120)
    expected = sum(MODEL.pod_qps(PODS, 2, t + s) for s in range(0, 120)) / 120
    assert (later.count - first.count) / 120 == pytest.approx(expected, rel=0.02)


def test_model_is_a_function_of_time() -> None:
    t = MIDNIGHT + 20 * 3600
    assert WorkdayModel().sample(PODS, 1, t) == WorkdayModel().sample(PODS, 1, t)
    with pytest.raises(ValueError, match="no data before"):
        MODEL.sample(PODS, 0, datetime(2019, 6, 1, tzinfo=UTC).timestamp())


def test_constant_model_values() -> None:
    model = ConstantModel()
    t = MIDNIGHT
    for i in range(3):
        now, later = model.sample(PODS, i, t), model.sample(PODS, i, t + 100)
        assert now.waiting == later.waiting == 10 * (i + 1)
        assert later.requests - now.requests == pytest.approx(100 * (i + 1))
        rates = model.bucket_rates(i)
        assert rates[-1] == (math.inf, i + 1)
        # median (i + 1) s: the 0.5 quantile of its own buckets lies in the bucket around it
        median = histogram_quantile(0.5, [(le, r) for le, r in rates])
        assert (i + 1) / 2 < median < (i + 1) * 2


def test_openmetrics_text_layout() -> None:
    start = datetime(2026, 3, 5, 1, 0, 7, tzinfo=UTC)
    text = generate_openmetrics(start, start + timedelta(minutes=1), 15, PODS[:2], ConstantModel())
    lines = text.splitlines()
    assert lines[-1] == "# EOF" and text.endswith("\n")
    assert "# TYPE http_requests counter" in lines
    assert "# TYPE http_requests_waiting gauge" in lines
    assert "# TYPE ai_llm_response_time_seconds histogram" in lines
    stamps = sorted({int(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")})
    # aligned to the step, from the first multiple after start to end
    assert stamps == [int(start.timestamp()) + 8 + 15 * k for k in range(4)]
    waiting = [line for line in lines if line.startswith("http_requests_waiting{")]
    assert len(waiting) == 2 * 4
    # one series after another (OpenMetrics forbids interleaving series)
    assert all(PODS[0] in line for line in waiting[:4])
    infs = [line for line in lines if 'le="+Inf"' in line]
    assert len(infs) == 2 * 4


def test_openmetrics_rejects_bad_ranges() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="step_s"):
        generate_openmetrics(now, now, 0, PODS)
    with pytest.raises(ValueError, match="before start"):
        generate_openmetrics(now, now - timedelta(seconds=1), 15, PODS)
    with pytest.raises(ValueError, match="no pods"):
        generate_openmetrics(now, now, 15, [])


def test_promtool_accepts_the_openmetrics(tmp_path: Path) -> None:
    source = tmp_path / "demo.om"
    start = datetime(2026, 3, 5, 9, tzinfo=UTC)
    source.write_text(generate_openmetrics(start, start + timedelta(hours=1), 15, PODS))
    done = subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(tmp_path / "db"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # 4 pods x (waiting, requests, 13 buckets, sum, count)
    assert " 68 " in done.stdout.splitlines()[-1]


def test_exposition_matches_the_model() -> None:
    model = ConstantModel()
    t = MIDNIGHT + 5000
    families = {f.name: f for f in text_string_to_metric_families(exposition(PODS, t, model))}
    assert families["http_requests_waiting"].type == "gauge"
    assert families["http_requests"].type == "counter"
    assert families["ai_llm_response_time_seconds"].type == "histogram"
    for i, pod in enumerate(PODS):
        expected = model.sample(PODS, i, t)
        labels = series_labels(pod)
        waiting = [s for s in families["http_requests_waiting"].samples if s.labels == labels]
        assert [s.value for s in waiting] == [expected.waiting]
        total = [s for s in families["http_requests"].samples if s.labels == labels]
        assert total[0].value == pytest.approx(expected.requests)
        buckets = [
            s.value
            for s in families["ai_llm_response_time_seconds"].samples
            if s.name.endswith("_bucket") and s.labels["pod"] == pod
        ]
        assert buckets == pytest.approx(list(expected.buckets))


async def test_exporter_serves_values_at_its_clock() -> None:
    instants = iter([MIDNIGHT + 100.0, MIDNIGHT + 160.0])
    runner = await start_exporter("127.0.0.1", 0, PODS[:2], clock=lambda: next(instants))
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
        async with aiohttp.ClientSession() as session:
            bodies = []
            for _ in range(2):
                async with session.get(url) as answer:
                    assert answer.status == 200
                    assert answer.content_type == "text/plain"
                    bodies.append(await answer.text())
            async with session.get(url.replace("/metrics", "/other")) as answer:
                assert answer.status == 404
    finally:
        await runner.cleanup()
    assert bodies == [
        exposition(PODS[:2], MIDNIGHT + 100.0),
        exposition(PODS[:2], MIDNIGHT + 160.0),
    ]


def test_demo_objects_are_a_consistent_deployment(tmp_path: Path) -> None:
    objects = demo_objects(PODS)
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Namespace", "Service", "Deployment", "ReplicaSet", *["Pod"] * len(PODS)]
    assert all(o["metadata"].get("namespace", NAMESPACE) == NAMESPACE for o in objects)
    namespace, service, deployment, replica_set, *pods = objects
    assert service["spec"]["selector"] == {"app": "ai-service"}
    assert namespace["apiVersion"] == "v1" and namespace["metadata"]["name"] == NAMESPACE
    assert deployment["apiVersion"] == "apps/v1" and deployment["metadata"]["name"] == "ai-service"
    assert deployment["spec"]["replicas"] == len(PODS)
    selector = parse_selector(
        ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    )
    assert str(selector) == "app=ai-service"
    assert [p["metadata"]["name"] for p in pods] == PODS
    for pod in pods:
        assert selector.matches(pod["metadata"]["labels"])
        assert pod["metadata"]["labels"]["pod-template-hash"] == "7d9f8b6c5d"
        assert pod["status"]["phase"] == "Running"
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"
        owner = pod["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == (
            "ReplicaSet",
            replica_set["metadata"]["name"],
            replica_set["metadata"]["uid"],
        )
    rs_owner = replica_set["metadata"]["ownerReferences"][0]
    assert rs_owner["uid"] == deployment["metadata"]["uid"]
    assert len({o["metadata"]["uid"] for o in objects}) == len(objects)

    path = tmp_path / "objects.yaml"
    write_objects_yaml(path, PODS)
    document = yaml.safe_load(path.read_text())
    assert document["kind"] == "List" and document["items"] == objects
