"""Series discovery skips the rules it cannot use, one at a time, and says why.

Against the real Prometheus of the constant data and the Kubernetes API stand-in: a rule
naming a custom resource the cluster does not serve, a metricsQuery that fails to
render, a seriesQuery Prometheus rejects. Each is skipped alone; the others are listed;
a CRD installed later is served at the next relist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import config as kube_config
from prometheus_client import CollectorRegistry, generate_latest

from adapter.config import AdapterConfig
from adapter.discovery import (
    RESOURCE_NOT_SERVED,
    SERIES_QUERY_REJECTED,
    TEMPLATE_FAILS,
    BrokenRulesCollector,
    SeriesDiscovery,
    broken_note,
)
from adapter.objects import ClusterObjects, KubeAPI
from adapter.prometheus import BackendUnavailable, PrometheusClient, PrometheusSettings
from adapter.rules import parse_config
from apiservice.provider import GroupResource
from surge.demo.localprom import free_port
from tests.support.kube_standin import KubeStandin, ResourceType
from tests.support.oracle import ConstantData

RULES = """\
rules:
  - seriesQuery: 'http_requests_waiting{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
  - seriesQuery: 'http_requests_waiting{namespace!="",deployment!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
        deployment: {group: serving.kserve.io, resource: inferenceservice}
    name: {matches: "^(.*)$", as: "${1}_of_inference_service"}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
  - seriesQuery: 'http_requests_waiting{namespace!="",'
    resources: {template: <<.Resource>>}
    name: {as: rejected}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
  - seriesQuery: 'http_requests_waiting{namespace!="",service!=""}'
    resources: {template: <<.Resource>>}
    name: {as: "failing"}
    metricsQuery: 'sum(<<.Series>>) by (<<.GroupBy>>)'
"""
INFERENCE_SERVICES = ResourceType(
    "serving.kserve.io",
    "v1beta1",
    "inferenceservices",
    "inferenceservice",
    "InferenceService",
    True,
)


def _config() -> AdapterConfig:
    config = parse_config(RULES, "rules.yaml")
    failing = dataclasses.replace(config.rules[3], metrics_query="<<.Series.Nope>>")
    return dataclasses.replace(config, rules=[*config.rules[:3], failing])


@pytest.fixture
async def cluster(kube_standin: KubeStandin, tmp_path: Path) -> AsyncIterator[ClusterObjects]:
    kubeconfig = kube_standin.write_kubeconfig(tmp_path / "kubeconfig")
    api = KubeAPI(await kube_config.new_client_from_config(config_file=str(kubeconfig)))
    objects = ClusterObjects(api, await api.discover(), watch=False)
    yield objects
    await api.client.close()


async def test_each_broken_rule_is_skipped_alone_and_a_crd_installed_later_is_served(
    prometheus_constant: ConstantData, kube_standin: KubeStandin, cluster: ClusterObjects
) -> None:
    prometheus = PrometheusClient(PrometheusSettings(prometheus_constant.url))
    discovery = SeriesDiscovery(
        _config(), prometheus, lambda: cluster.mapper, max_age_s=6 * 3600, refresh=cluster.refresh
    )
    try:
        await discovery.relist()
        registry = discovery.registry
        reasons = {b.rule.where: (b.reason, b.line) for b in registry.broken}
        assert reasons == {
            "rules[1]": (RESOURCE_NOT_SERVED, 12),
            "rules[2]": (SERIES_QUERY_REJECTED, 15),
            "rules[3]": (TEMPLATE_FAILS, 22),
        }
        # the Pods rule is served
        assert {(m.group_resource, m.metric) for m in registry.list_custom()} == {
            (GroupResource("", "pods"), "http_requests_waiting"),
            (GroupResource("", "namespaces"), "http_requests_waiting"),
        }
        inference = registry.broken_for("http_requests_waiting_of_inference_service")
        assert inference is not None and inference.describe() == (
            "rule rules[1] (line 12) is skipped: unable to normalize group-resource "
            'inferenceservice.serving.kserve.io: the cluster serves no resource "inferenceservice" '
            'in group "serving.kserve.io"'
        )
        assert "Prometheus rejects its seriesQuery: Prometheus said bad_data" in (
            registry.broken[1].message
        )
        assert registry.broken[2].message.startswith("its metricsQuery fails to render: ")
        assert not registry.all_broken
        assert broken_note(registry).startswith("3 of 4 rules broken and skipped")
        metrics = CollectorRegistry()
        metrics.register(BrokenRulesCollector(registry))
        exposed = generate_latest(metrics).decode()
        assert 'surge_broken_rules{reason="resource_not_served",rule="rules[1]"} 1.0' in exposed
        assert 'surge_broken_rules{reason="template_fails",rule="rules[3]"} 1.0' in exposed

        kube_standin.install(INFERENCE_SERVICES)  # the CRD is installed: next relist serves it
        await discovery.relist()
        assert [b.rule.where for b in registry.broken] == ["rules[2]", "rules[3]"]
        assert registry.broken_for("http_requests_waiting_of_inference_service") is None
        served = GroupResource("serving.kserve.io", "inferenceservices")
        assert served in {m.group_resource for m in registry.list_custom()}
    finally:
        await prometheus.close()


async def test_every_rule_broken_and_prometheus_down_are_told_apart(
    prometheus_constant: ConstantData, cluster: ClusterObjects
) -> None:
    config = _config()
    only_broken = dataclasses.replace(config, rules=config.rules[1:])
    prometheus = PrometheusClient(PrometheusSettings(prometheus_constant.url))
    discovery = SeriesDiscovery(only_broken, prometheus, lambda: cluster.mapper, max_age_s=3600)
    try:
        await discovery.relist()
        assert discovery.registry.all_broken
        assert discovery.registry.listed_at is not None
    finally:
        await prometheus.close()

    # Prometheus unreachable is not a broken rule: the relist fails, the last list is kept
    down = PrometheusClient(PrometheusSettings(f"http://127.0.0.1:{free_port()}"))
    keeping = SeriesDiscovery(config, down, lambda: cluster.mapper)
    try:
        with pytest.raises(BackendUnavailable):
            await keeping.relist()
        assert keeping.registry.broken == () and keeping.registry.listed_at is None
    finally:
        await down.close()
