"""Surge answers exactly as the real prometheus-adapter v0.12.0 does.

Both run on the same config file, the same real Prometheus (constant data for three
ai-service pods, in three namespaces with the same names and other values) and the same
objects (in tests/e2e's real kube-apiserver, so PA's label selectors are matched by
Kubernetes; Surge lists them there too, or reads the same objects as an --objects file).
Each case GETs one path from PA over HTTPS and asks `surge query` the same path; the
bodies must be equal, key order included, except for the timestamps (each server's own
"now", checked separately) and a value one milli-unit off where rate() evaluated at two
instants rounds either way (see compare.forgive_rate_noise). Adding a case is one line
in CASES; `{ns}`, `{other}`, `{third}` (the namespaces) and `{pod}` are filled in at run
time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import pytest

from tests.compat.compare import (
    dumps,
    forgive_rate_noise,
    normalize,
    parse,
    resource_difference,
)
from tests.compat.conftest import DISCOVERY, OTHER_NAMESPACES, SurgeAnswer
from tests.compat.prometheus_adapter import PrometheusAdapter
from tests.support.oracle import ConstantData

# A cold build of PA happens in the first test's setup.
pytestmark = pytest.mark.timeout(1200)

CM1 = "/apis/custom.metrics.k8s.io/v1beta1"
CM2 = "/apis/custom.metrics.k8s.io/v1beta2"
EM = "/apis/external.metrics.k8s.io/v1beta1"
SEED, RICH, NO_QUERY = "seed", "rich", "no-query"
WAITING = "{ns}/pods/*/http_requests_waiting"  # seed and rich: pods/http_requests_waiting
BAD_SELECTOR = "app==="


def case(config: str, path: str, **query: str) -> pytest.ParameterSet:
    """One compared path: `query` holds the raw selectors, URL-encoded here."""
    full = path + ("?" + urlencode(query, quote_via=quote, safe="") if query else "")
    raw = "&".join(f"{k}={v}" for k, v in query.items())
    short = path.replace("/apis/custom.metrics.k8s.io/", "cm/").replace(
        "/apis/external.metrics.k8s.io/", "em/"
    )
    return pytest.param(config, full, id=f"{config}:{short}" + (f"?{raw}" if raw else ""))


def cm(config: str, version_prefix: str, path: str, **query: str) -> pytest.ParameterSet:
    if path.startswith("{ns}/"):
        path = "namespaces/" + path
    return case(config, f"{version_prefix}/{path}", **query)


def em(config: str, namespace: str, metric: str, **query: str) -> pytest.ParameterSet:
    return case(config, f"{EM}/namespaces/{namespace}/{metric}", **query)


CASES = [
    # --- seed-rules.yaml: discovery, pods by selector
    *(case(SEED, path) for path in DISCOVERY),
    cm(SEED, CM2, WAITING, labelSelector="app=ai-service"),
    cm(SEED, CM1, WAITING, labelSelector="app=ai-service"),
    cm(SEED, CM2, WAITING),
    cm(SEED, CM2, WAITING, labelSelector="app=nothing"),
    cm(SEED, CM2, WAITING, labelSelector="app in (ai-service),pod-template-hash"),
    cm(SEED, CM2, WAITING, labelSelector="app!=ai-service"),
    cm(SEED, CM2, WAITING, labelSelector=BAD_SELECTOR),
    cm(SEED, CM2, "{ns}/pods/*/http_requests_per_second", labelSelector="app=ai-service"),
    # pods by name
    cm(SEED, CM1, "{ns}/pods/{pod}/http_requests_waiting"),
    cm(SEED, CM2, "{ns}/pods/{pod}/http_requests_waiting"),
    cm(SEED, CM2, "{ns}/pods/no-such-pod/http_requests_waiting"),
    cm(SEED, CM2, "{ns}/pods/{pod}/http_requests_per_second"),
    # objects other than pods, qualified and not
    cm(SEED, CM2, "{ns}/deployments.apps/ai-service/ai_llm_response_time_p99_seconds"),
    cm(SEED, CM1, "{ns}/deployments.apps/ai-service/ai_llm_response_time_p99_seconds"),
    cm(SEED, CM2, "{ns}/deployments/ai-service/ai_llm_response_time_p99_seconds"),
    cm(SEED, CM2, "{ns}/deployments/*/ai_llm_response_time_p99_seconds"),
    cm(SEED, CM2, "{ns}/services/ai-service/http_requests_per_second"),
    cm(SEED, CM2, "{ns}/jobs.batch/ai-service/http_requests_per_second"),
    # the namespace itself
    cm(SEED, CM2, "{ns}/metrics/http_requests_waiting"),
    cm(SEED, CM1, "{ns}/metrics/ai_llm_response_time_p99_seconds"),
    cm(SEED, CM2, "{ns}/metrics/http_requests_per_second"),
    # metricLabelSelector: every operator, by selector and by name
    cm(SEED, CM2, WAITING, metricLabelSelector="container=ai-service"),
    cm(SEED, CM1, WAITING, metricLabelSelector="container=ai-service"),
    cm(SEED, CM2, WAITING, metricLabelSelector="container==ai-service"),
    cm(SEED, CM2, WAITING, metricLabelSelector="container!=other"),
    cm(SEED, CM2, WAITING, metricLabelSelector="container in (other,ai-service)"),
    cm(SEED, CM2, WAITING, metricLabelSelector="container notin (ai-service)"),
    cm(SEED, CM2, WAITING, metricLabelSelector="container"),
    cm(SEED, CM2, WAITING, metricLabelSelector="!container"),
    cm(SEED, CM2, WAITING, metricLabelSelector="service=ai-service,job notin (x,y)"),
    cm(SEED, CM2, WAITING, labelSelector="app=ai-service", metricLabelSelector="!nolabel"),
    cm(SEED, CM2, "{ns}/pods/{pod}/http_requests_waiting", metricLabelSelector="job=ai-service"),
    cm(SEED, CM1, "{ns}/pods/{pod}/http_requests_waiting", metricLabelSelector="!container"),
    cm(SEED, CM2, "{ns}/pods/{pod}/http_requests_waiting", metricLabelSelector="container!=x"),
    # unknown metrics and resources, wrong scope
    cm(SEED, CM2, "{ns}/pods/*/no_such_metric"),
    cm(SEED, CM2, "{ns}/pods/{pod}/no_such_metric"),
    cm(SEED, CM2, "{ns}/services/ai-service/http_requests_waiting"),
    cm(SEED, CM2, "{ns}/services/*/http_requests_waiting"),
    cm(SEED, CM2, "{ns}/widgets/*/http_requests_waiting"),
    cm(SEED, CM2, "{ns}/widgets/one/http_requests_waiting"),
    cm(SEED, CM2, "pods/*/http_requests_waiting"),
    cm(SEED, CM1, "{ns}/metrics/no_such_metric"),
    # external metrics (namespaced rule)
    em(SEED, "{ns}", "ai_service_requests_waiting_total", labelSelector="service=ai-service"),
    em(SEED, "{ns}", "ai_service_requests_waiting_total"),
    em(SEED, "{ns}", "ai_service_requests_waiting_total", labelSelector="service!=ai-service"),
    em(SEED, "{ns}", "ai_service_requests_waiting_total", labelSelector="service==ai-service"),
    em(SEED, "default", "ai_service_requests_waiting_total"),
    em(SEED, "{ns}", "ai_service_requests_waiting_total", labelSelector=BAD_SELECTOR),
    em(SEED, "{ns}", "no_such_metric"),
    # --- rich.yaml: several rules per series, templates, two-group names
    *(case(RICH, path) for path in DISCOVERY),
    cm(RICH, CM2, WAITING, labelSelector="app=ai-service"),
    cm(RICH, CM1, "{ns}/services/ai-service/http_requests_waiting"),
    cm(RICH, CM2, "{ns}/services/*/http_requests_waiting"),
    cm(RICH, CM2, "{ns}/deployments.apps/ai-service/http_requests_waiting_max"),
    cm(RICH, CM2, "{ns}/metrics/http_requests_waiting_max"),
    cm(RICH, CM2, "{ns}/deployments/*/ai_llm_response_time_mean_seconds"),
    cm(RICH, CM1, "{ns}/deployments.apps/ai-service/ai_llm_response_time_mean_seconds"),
    cm(RICH, CM2, "{ns}/pods/*/ai_llm_response_time_p99_seconds"),
    cm(RICH, CM2, "{ns}/pods/{pod}/ai_llm_response_time_p99_seconds"),
    cm(RICH, CM1, "{ns}/metrics/ai_llm_response_time_p99_seconds"),
    cm(
        RICH, CM2, "{ns}/pods/*/http_requests_per_second", metricLabelSelector="job in (ai-service)"
    ),
    cm(RICH, CM2, "{ns}/deployments.apps/ai-service/http_requests_per_second"),
    cm(RICH, CM2, "{ns}/services/ai-service/http_requests_waiting_max"),
    # external metrics: namespaced (the default) and `namespaced: false`
    em(RICH, "{ns}", "ai_service_requests_waiting"),
    em(RICH, "{ns}", "ai_service_requests_waiting", labelSelector="service=ai-service"),
    em(RICH, "default", "ai_service_requests_waiting"),
    em(RICH, "default", "ai_service_requests_per_second"),
    em(RICH, "{ns}", "ai_service_requests_per_second", labelSelector="service=ai-service"),
    em(
        RICH, "default", "ai_service_requests_per_second", labelSelector="service in (ai-service,x)"
    ),
    em(
        RICH,
        "default",
        "ai_service_requests_per_second",
        labelSelector="service notin (ai-service)",
    ),
    em(RICH, "default", "ai_service_requests_per_second", labelSelector="service"),
    em(RICH, "default", "ai_service_requests_per_second", labelSelector="!service"),
    # --- the same names in other namespaces, other values: each answer is its namespace's
    *(
        cm(SEED, CM2, path.replace("{ns}", ns), **query)
        for ns in ("{other}", "{third}")
        for path, query in [
            (WAITING, {"labelSelector": "app=ai-service"}),
            ("{ns}/pods/{pod}/http_requests_waiting", {}),
            ("{ns}/pods/*/http_requests_per_second", {}),
            ("{ns}/deployments.apps/ai-service/ai_llm_response_time_p99_seconds", {}),
            ("{ns}/services/ai-service/http_requests_per_second", {}),
            ("{ns}/metrics/http_requests_waiting", {}),
        ]
    ),
    em(SEED, "{other}", "ai_service_requests_waiting_total", labelSelector="service=ai-service"),
    *(
        cm(RICH, CM2, path.replace("{ns}", ns))
        for ns in ("{other}", "{third}")
        for path in [
            "{ns}/services/*/http_requests_waiting",
            "{ns}/deployments.apps/ai-service/http_requests_waiting_max",
            "{ns}/deployments/*/ai_llm_response_time_mean_seconds",
            "{ns}/pods/*/ai_llm_response_time_p99_seconds",
            "{ns}/metrics/ai_llm_response_time_p99_seconds",
        ]
    ),
    em(RICH, "{third}", "ai_service_requests_waiting"),
    # --- no-metrics-query.yaml: rules without metricsQuery are listed and answer 404
    *(case(NO_QUERY, path) for path in DISCOVERY),
    cm(NO_QUERY, CM2, WAITING, labelSelector="app=ai-service"),
    cm(NO_QUERY, CM2, "{ns}/pods/{pod}/http_requests_waiting"),
    cm(NO_QUERY, CM1, "{ns}/metrics/http_requests_waiting"),
    em(NO_QUERY, "{ns}", "ai_service_requests_waiting_total"),
]


def _fill(path: str, data: ConstantData) -> str:
    other, third = OTHER_NAMESPACES
    return (
        path.replace("{ns}", data.namespace)
        .replace("{other}", other)
        .replace("{third}", third)
        .replace("{pod}", data.pods[0])
    )


@pytest.mark.parametrize("source", ["objects", "kubeconfig"])
@pytest.mark.parametrize(("config_name", "path"), CASES)
def test_surge_answers_as_prometheus_adapter(
    config_name: str,
    path: str,
    source: str,
    prometheus_adapter: Callable[[str], PrometheusAdapter],
    surge_query: Callable[[str, str, str], SurgeAnswer],
    compat_data: ConstantData,
) -> None:
    path = _fill(path, compat_data)
    now = datetime.now(UTC)
    pa = prometheus_adapter(config_name).get(path)
    surge = surge_query(config_name, path, source)
    expected = normalize(parse(pa.body, "prometheus-adapter"), now, "prometheus-adapter")
    got = forgive_rate_noise(expected, normalize(parse(surge.body, "surge"), now, "surge"))

    assert got == expected, f"{path}\nPA {pa.status}: {pa.body}\nSurge: {surge.body}" + (
        resource_difference(expected, got)
    )
    assert dumps(got) == dumps(expected), "same content, different key order"
    if pa.status >= 300:
        assert expected.get("code") == pa.status, "PA's Status body names its HTTP code"
    assert surge.exit_code == (0 if pa.status < 300 else 1), surge.stderr


@pytest.mark.parametrize("source", ["objects", "kubeconfig"])
def test_malformed_metric_label_selector_is_a_bad_request(
    source: str,
    prometheus_adapter: Callable[[str], PrometheusAdapter],
    surge_query: Callable[[str, str, str], SurgeAnswer],
    compat_data: ConstantData,
) -> None:
    """The one answer Surge changes on purpose: PA turns a malformed metricLabelSelector
    into a 500 without a reason; Surge answers it as PA answers a malformed labelSelector
    (400 BadRequest), the same message in both."""
    base = _fill(f"{CM2}/namespaces/{{ns}}/pods/*/http_requests_waiting", compat_data)
    bad = quote(BAD_SELECTOR, safe="")
    adapter = prometheus_adapter(SEED)
    pa_metric = adapter.get(f"{base}?metricLabelSelector={bad}")
    pa_label = adapter.get(f"{base}?labelSelector={bad}")
    pa_metric_body = parse(pa_metric.body, "prometheus-adapter")
    pa_label_body = parse(pa_label.body, "prometheus-adapter")
    assert (pa_metric.status, pa_label.status) == (500, 400)
    assert pa_metric_body["message"] == pa_label_body["message"]

    surge = surge_query(SEED, f"{base}?metricLabelSelector={bad}", source)
    assert dumps(parse(surge.body, "surge")) == dumps(pa_label_body)
    assert surge.exit_code == 1


@pytest.mark.parametrize("source", ["objects", "kubeconfig"])
def test_rules_without_metrics_query_are_listed_and_answer_404_as_prometheus_adapter(
    source: str,
    prometheus_adapter: Callable[[str], PrometheusAdapter],
    surge_query: Callable[[str, str, str], SurgeAnswer],
    prometheus_constant: ConstantData,
) -> None:
    """The rules load in both (PA starts on them) and are listed; a custom metric answers
    404 and an external one 500, the same message in the log of both."""
    logged = "empty query produced by metrics query template"
    adapter = prometheus_adapter(NO_QUERY)
    listed = parse(adapter.get(CM2).body, "prometheus-adapter")
    assert "pods/http_requests_waiting" in {r["name"] for r in listed["resources"]}
    for path, status in (
        (f"{CM2}/namespaces/{{ns}}/pods/{{pod}}/http_requests_waiting", 404),
        (f"{EM}/namespaces/{{ns}}/ai_service_requests_waiting_total", 500),
    ):
        path = _fill(path, prometheus_constant)
        pa = adapter.get(path)
        surge = surge_query(NO_QUERY, path, source)
        assert pa.status == status and parse(surge.body, "surge")["code"] == status, pa.body
        assert surge.exit_code == 1
        assert logged in adapter.log_tail(20_000) and logged in surge.stderr, surge.stderr
