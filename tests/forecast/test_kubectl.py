"""`surge serve --forecast-config` over real TLS, read by the real kubectl: the forecast of
a Deployment's load, with the daily ramp minutes away, is already up."""

from __future__ import annotations

import json
import signal
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from tests.forecast.conftest import HIGH, LABELS, LOW, DailyData
from tests.integration.conftest import quantity_milli
from tests.integration.test_kubectl import Server, start_server

pytestmark = pytest.mark.timeout(600)

NS = "ai-platform"
QUERY = f"sum(rate(steady_requests_total{{{LABELS}}}[2m]))"
FORECAST = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{NS}/deployments.apps/ai-service"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, daily_prometheus: DailyData
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("forecast-serve")
    objects = tmp / "objects.yaml"
    objects.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {
                            "name": "ai-service",
                            "namespace": NS,
                            "labels": {"app": "ai"},
                        },
                    },
                    # the seed rules (--config) name pods: the file serves the kind
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": "ai-service-0", "namespace": NS},
                    },
                ],
            }
        )
    )
    rules = tmp / "forecasts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "forecastRules": [
                    {
                        "name": "ai_service_qps_forecast",
                        "query": QUERY,
                        "namespace": NS,
                        "object": {"kind": "Deployment", "name": "ai-service"},
                        "lead": "15m",
                        "step": "1m",
                    },
                    {
                        "name": "ai_service_qps_forecast_external",
                        "query": QUERY,
                        "lead": "15m",
                        "step": "1m",
                    },
                ]
            }
        )
    )
    srv = start_server(tmp, daily_prometheus.url, objects, f"--forecast-config={rules}")
    yield srv
    srv.process.send_signal(signal.SIGTERM)
    assert srv.process.wait(timeout=30) == 0


def _load_now(url: str) -> float:
    with urllib.request.urlopen(f"{url}/api/v1/query?query={urllib.parse.quote(QUERY)}") as r:
        return float(json.load(r)["data"]["result"][0]["value"][1])


def _wait_forecast(server: Server, path: str) -> dict:  # type: ignore[type-arg]
    """The first refit reads 14 days: until then the load now is served."""
    deadline = time.monotonic() + 120
    while True:
        done = server.kubectl(path)
        assert done.returncode == 0, done.stderr
        body = json.loads(done.stdout)
        if (
            quantity_milli(body["items"][0]["value"]) > 2 * LOW * 1000
            or time.monotonic() > deadline
        ):
            return body
        time.sleep(1)


def test_kubectl_reads_a_forecast_rising_ahead_of_the_ramp(
    server: Server, daily_prometheus: DailyData
) -> None:
    assert time.time() < daily_prometheus.ramp, "the test started after the ramp it expects"
    body = _wait_forecast(server, f"{FORECAST}/ai_service_qps_forecast")
    (item,) = body["items"]
    assert item["describedObject"] == {
        "kind": "Deployment",
        "namespace": NS,
        "name": "ai-service",
        "apiVersion": "apps/v1",
    }
    assert item["metric"]["name"] == "ai_service_qps_forecast"
    load = _load_now(daily_prometheus.url)
    assert load < 1.1 * LOW  # the ramp has not come yet...
    assert quantity_milli(item["value"]) > 0.8 * HIGH * 1000  # ... but the forecast has
    external = _wait_forecast(
        server,
        f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{NS}/ai_service_qps_forecast_external",
    )
    assert quantity_milli(external["items"][0]["value"]) > 0.8 * HIGH * 1000


def test_discovery_lists_the_forecast_metrics(server: Server) -> None:
    custom = json.loads(server.kubectl("/apis/custom.metrics.k8s.io/v1beta2").stdout)
    assert "deployments.apps/ai_service_qps_forecast" in {r["name"] for r in custom["resources"]}
    external = json.loads(server.kubectl("/apis/external.metrics.k8s.io/v1beta1").stdout)
    assert "ai_service_qps_forecast_external" in {r["name"] for r in external["resources"]}


def test_another_object_is_not_found(server: Server) -> None:
    done = server.kubectl(f"{FORECAST.replace('ai-service', 'other')}/ai_service_qps_forecast")
    assert done.returncode != 0
    assert "could not find the metric ai_service_qps_forecast" in done.stderr
