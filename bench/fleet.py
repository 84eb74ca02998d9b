"""A fleet of services across namespaces: the series and objects of many HPAs at once.

Every namespace has the same deployment and pod names, as real clusters do, so an answer
mixed up between namespaces is caught. Values are fixed per object and known in advance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Service:
    namespace: str
    deployment: str
    pods: tuple[str, ...]


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
    for s in services:
        for pod in s.pods:
            labels = f'namespace="{s.namespace}",pod="{pod}",deployment="{s.deployment}"'
            yield "http_requests_waiting", labels, waiting(s, pod)
    for s in services:
        labels = f'namespace="{s.namespace}",deployment="{s.deployment}"'
        yield "ai_llm_response_time_p99_seconds", labels, p99(s)


def openmetrics(services: list[Service], start: float, end: float, step_s: int) -> str:
    """OpenMetrics text for promtool's backfill: constant gauges from start to end."""
    times = range(int(start), int(end) + 1, step_s)
    lines: list[str] = []
    current = ""
    for name, labels, value in series(services):
        if name != current:
            lines.append(f"# TYPE {name} gauge")
            current = name
        lines.extend(f"{name}{{{labels}}} {value} {t}" for t in times)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


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
