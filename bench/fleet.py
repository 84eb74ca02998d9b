"""A fleet of services across namespaces: the series and objects of many HPAs at once.

Every namespace has the same deployment and pod names, as real clusters do, so an answer
mixed up between namespaces is caught. Values are fixed per object and known in advance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Service:
    namespace: str
    deployment: str
    pods: tuple[str, ...]


@dataclass(frozen=True)
class Metric:
    """One metric an HPA asks for: `pods` is read per pod through a label selector (a Pods
    metric), `object` is the Deployment's own value (an Object metric)."""

    name: str
    kind: Literal["pods", "object"]


BASE_METRICS = (
    Metric("http_requests_waiting", "pods"),
    Metric("ai_llm_response_time_p99_seconds", "object"),
)


def metrics(count: int) -> list[Metric]:
    """`count` metrics per HPA: the two of RULES, then copies of them under new series
    names (`..._m1`, `..._m2`, ...). Each copy is a series of its own, so each metric costs
    Prometheus its own query, as distinct metrics do; values equal the base metric's."""
    out = []
    for i in range(count):
        base, copy = BASE_METRICS[i % 2], i // 2
        out.append(base if copy == 0 else Metric(f"{base.name}_m{copy}", base.kind))
    return out


def value(service: Service, metric: Metric, name: str) -> float:
    """The value of `metric` for the pod or Deployment `name` of `service`."""
    return waiting(service, name) if metric.kind == "pods" else p99(service)


def fleet(namespaces: int, deployments: int, pods: int = 2) -> list[Service]:
    """`deployments` Deployments of `pods` pods each, spread over `namespaces` namespaces."""
    out = []
    for d in range(deployments):
        ns = f"team-{d % namespaces:04d}"
        name = f"svc-{d // namespaces:04d}"
        # pod names as a Deployment makes them: <deployment>-<template hash>-<suffix>
        out.append(Service(ns, name, tuple(f"{name}-7d9f8b6c5d-{p:05d}" for p in range(pods))))
    return out


def waiting(service: Service, pod: str) -> float:
    """http_requests_waiting of one pod: distinct per namespace, deployment and pod."""
    ns_i = int(service.namespace.rsplit("-", 1)[1])
    return float((ns_i * 7 + int(service.deployment.rsplit("-", 1)[1]) * 3) % 90) + float(
        service.pods.index(pod)
    )


def p99(service: Service) -> float:
    """ai_llm_response_time_p99_seconds of one Deployment (a recorded series)."""
    return 1.0 + waiting(service, service.pods[0]) / 20.0


def series(services: list[Service]) -> Iterator[tuple[str, str, float]]:
    yield from metric_series(services, list(BASE_METRICS))


def openmetrics(services: list[Service], start: float, end: float, step_s: int) -> str:
    """OpenMetrics text for promtool's backfill: constant gauges from start to end."""
    return metrics_openmetrics(services, list(BASE_METRICS), start, end, step_s)


def objects(services: list[Service]) -> list[dict[str, Any]]:
    """Namespaces, Deployments and Pods, as an --objects file or a Kubernetes stand-in holds."""
    out: list[dict[str, Any]] = []
    for ns in sorted({s.namespace for s in services}):
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for s in services:
        labels = {"app": s.deployment}
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": s.deployment, "namespace": s.namespace, "labels": labels},
                "spec": {"replicas": len(s.pods), "selector": {"matchLabels": labels}},
            }
        )
        for pod in s.pods:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": pod, "namespace": s.namespace, "labels": labels},
                    "status": {"phase": "Running"},
                }
            )
    return out


RULES = """\
rules:
  - seriesQuery: 'http_requests_waiting{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
        pod: {resource: "pod"}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
  - seriesQuery: 'ai_llm_response_time_p99_seconds{namespace!="",deployment!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
        deployment: {group: "apps", resource: "deployment"}
    metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
"""


def metric_series(
    services: list[Service], catalog: list[Metric]
) -> Iterator[tuple[str, str, float]]:
    """series() for any metric catalog: one family after the other, as OpenMetrics wants."""
    for metric in catalog:
        for s in services:
            if metric.kind == "pods":
                for pod in s.pods:
                    labels = f'namespace="{s.namespace}",pod="{pod}",deployment="{s.deployment}"'
                    yield metric.name, labels, value(s, metric, pod)
            else:
                labels = f'namespace="{s.namespace}",deployment="{s.deployment}"'
                yield metric.name, labels, value(s, metric, s.deployment)


def metrics_openmetrics(
    services: list[Service], catalog: list[Metric], start: float, end: float, step_s: int
) -> str:
    """openmetrics() for any metric catalog."""
    times = range(int(start), int(end) + 1, step_s)
    lines: list[str] = []
    current = ""
    for name, labels, sample in metric_series(services, catalog):
        if name != current:
            lines.append(f"# TYPE {name} gauge")
            current = name
        lines.extend(f"{name}{{{labels}}} {sample} {t}" for t in times)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


_POD_RULE = """\
  - seriesQuery: '{name}{{namespace!="",pod!=""}}'
    resources:
      overrides:
        namespace: {{resource: "namespace"}}
        pod: {{resource: "pod"}}
    metricsQuery: 'sum(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)'
"""
_OBJECT_RULE = """\
  - seriesQuery: '{name}{{namespace!="",deployment!=""}}'
    resources:
      overrides:
        namespace: {{resource: "namespace"}}
        deployment: {{group: "apps", resource: "deployment"}}
    metricsQuery: 'max(<<.Series>>{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)'
"""


def rules(catalog: list[Metric]) -> str:
    """A prometheus-adapter config with one rule per metric; rules(metrics(2)) == RULES."""
    body = "".join(
        (_POD_RULE if m.kind == "pods" else _OBJECT_RULE).format(name=m.name) for m in catalog
    )
    return "rules:\n" + body
