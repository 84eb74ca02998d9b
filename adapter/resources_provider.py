"""metrics.k8s.io (PodMetrics, NodeMetrics) from prometheus-adapter's `resourceRules`.

prometheus-adapter renders, for every request, a CPU and a memory query per namespace with
every listed pod's name in a regex. Surge renders each rule's query once for every object
instead (no name matcher, grouped by namespace as well) and asks the engine, which
coalesces, caches and refreshes it like any other query: per refresh one CPU and one
memory query for all pods of the cluster, and one of each for all nodes, however many
`kubectl top`, HPA and KEDA requests arrive and whatever they select. A rule whose query
would mix objects if widened (it does not group by the object's labels) falls back to
prometheus-adapter's per-namespace queries, still through the engine.

Answers follow PA's resource provider: NaN and negative values are 0; a pod is listed
only when it has both CPU and memory samples, and a container that has one gets 0 for the
other; a node takes its first sample. Values are written as metrics-server writes them:
CPU in nanocores ("12345678n"), memory in BinarySI bytes ("1234Ki").
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from adapter import promql
from adapter.batching import NotWidenable, check_separable
from adapter.config import DiscoveryRule, ResourceRule, ResourceRules
from adapter.engine import Answer
from adapter.engine_protocol import Engine
from adapter.go.durations import format_duration
from adapter.naming import NODES, MetricNamer, RuleError
from adapter.objects import ObjectIndex, ObjectMeta
from adapter.prometheus import BackendError, QueryResult
from adapter.resources import BUILTIN, APIResource, ResourceMapper
from apiservice.errors import InternalError
from apiservice.provider import GroupResource
from apiservice.quantity import Format, Quantity, go_int64
from apiservice.resource_metrics import (
    ContainerMetrics,
    NodeMetrics,
    PodMetrics,
    Usage,
    node_metrics_not_found,
    node_not_found,
    pod_metrics_not_found,
    pod_not_found,
)
from apiservice.selectors import Selector, parse_selector

log = logging.getLogger(__name__)

PODS = GroupResource("", "pods")
_EVERYTHING = parse_selector(None)
_FETCH_FAILED = "unable to fetch metrics"


def cpu_quantity(cores: float) -> Quantity:
    """metrics-server's CPU: NewScaledQuantity(int64(cores * 1e9), -9)."""
    return Quantity.from_scaled(go_int64(_usable(cores) * 1e9), -9)


def memory_quantity(bytes_: float) -> Quantity:
    """metrics-server's memory: NewQuantity(int64(bytes), BinarySI)."""
    return Quantity.from_scaled(go_int64(_usable(bytes_)), 0, Format.BINARY_SI)


def _usable(value: float) -> float:
    """PA replaces NaN and negative values by 0."""
    return 0.0 if math.isnan(value) or value < 0 else value


def _namer(rule: ResourceRule, query: str, mapper: ResourceMapper, where: str) -> MetricNamer:
    try:
        return MetricNamer(
            DiscoveryRule("", resources=rule.resources, metrics_query=query, where=where),
            mapper,
        )
    except RuleError as err:
        raise RuleError(err.key, f"{where}: {err.message}") from None


@dataclass(frozen=True)
class _ObjectQuery:
    """One rule's query for one kind of object (pods or nodes), and how to read its result.

    `widened` is the query for every object at once, or None when the rule must be asked
    per namespace (`per_namespace`) as prometheus-adapter asks it.
    """

    namer: MetricNamer
    rule: str  # the engine's label for it: "cpu/pods", "memory/nodes"
    namespace_label: str | None  # None for nodes
    object_label: str
    container_label: str | None  # None for nodes
    widened: str | None

    def group_by(self) -> list[str]:
        """PA's GroupBy: the object's label, then the container label for pods."""
        return [self.object_label, *([self.container_label] if self.container_label else [])]

    def per_namespace(self, namespace: str, names: Sequence[str]) -> str:
        matchers = []
        if self.namespace_label is not None:
            matchers.append(promql.label_eq(self.namespace_label, namespace))
        target = "|".join(names)
        if len(names) > 1:
            matchers.append(promql.label_matches(self.object_label, target))
        else:
            matchers.append(promql.label_eq(self.object_label, target))
        values = {self.object_label: target}
        if self.namespace_label is not None:
            values[self.namespace_label] = namespace
        return self.namer.render("", matchers, self.group_by(), values)


def _object_query(
    namer: MetricNamer, rule: str, kind: GroupResource, container_label: str
) -> _ObjectQuery:
    object_label = namer.label_for_resource(kind)
    namespace_label = namer.namespace_label() if kind == PODS else None
    container = (container_label or None) if kind == PODS else None
    plain = _ObjectQuery(namer, rule, namespace_label, object_label, container, None)
    keys = tuple(label for label in (namespace_label, object_label) if label)
    # No name matcher, but `label!=""` in its place: templates write `{<<.LabelMatchers>>,x}`,
    # and an empty first matcher would not parse.
    matchers = [promql.label_neq(label, "") for label in keys]
    group_by = [*plain.group_by(), *([namespace_label] if namespace_label else [])]
    try:
        if not namer.widenable:
            raise NotWidenable("the template reads LabelValuesByName")
        query = namer.render("", matchers, group_by, {})
        check_separable(query, keys)
    except NotWidenable as err:
        log.info("resource rule %s: per-namespace queries (%s)", rule, err)
        return plain
    return _ObjectQuery(namer, rule, namespace_label, object_label, container, query)


@dataclass(frozen=True)
class _Resource:
    """cpu or memory: its query for pods and its query for nodes."""

    pods: _ObjectQuery
    nodes: _ObjectQuery

    @classmethod
    def build(cls, name: str, rule: ResourceRule, mapper: ResourceMapper) -> _Resource:
        where = f"resourceRules.{name}"
        pods = _namer(rule, rule.container_query, mapper, where)
        nodes = _namer(rule, rule.node_query, mapper, where)
        return cls(
            _object_query(pods, f"{name}/pods", PODS, rule.container_label),
            _object_query(nodes, f"{name}/nodes", NODES, ""),
        )


def _vector(result: QueryResult) -> QueryResult:
    if result.result_type != "vector":
        raise BackendError(f"expected a vector from Prometheus, got a {result.result_type}")
    return result


# (namespace, pod) -> [(container, value)]; nodes use ("", node).
_Index = dict[tuple[str, str], list[tuple[str, float]]]


def _index(result: QueryResult, query: _ObjectQuery, namespace: str | None) -> _Index:
    """Samples by (namespace, object): the namespace from its label, or the one a
    per-namespace query asked for (PA's GroupBy leaves the namespace label out)."""
    index: _Index = defaultdict(list)
    for sample in _vector(result).samples:
        labels = sample.labels
        ns = namespace
        if ns is None:
            ns = labels.get(query.namespace_label, "") if query.namespace_label else ""
        container = labels.get(query.container_label, "") if query.container_label else ""
        index[(ns, labels.get(query.object_label, ""))].append((container, sample.value))
    return dict(index)


class ResourceMetricsSource:
    """apiservice.resource_metrics.ResourceMetricsProvider over Prometheus."""

    def __init__(self, rules: ResourceRules, objects: ObjectIndex, engine: Engine) -> None:
        """Raises RuleError when a rule names resources the cluster does not serve."""
        self.objects = objects
        self.engine = engine
        self.window = format_duration(rules.window)
        # Pods, namespaces and nodes are served by every cluster, even when an --objects
        # file lists no node.
        known = {r.group_resource for r in objects.mapper}
        self.mapper = ResourceMapper(
            [*objects.mapper, *(r for r in BUILTIN if r.group_resource not in known)]
        )
        self.cpu = _Resource.build("cpu", rules.cpu, self.mapper)
        self.memory = _Resource.build("memory", rules.memory, self.mapper)
        self._indexed: dict[str, tuple[Answer, _Index]] = {}

    # -- asking the engine ----------------------------------------------------------

    async def _ask(
        self, query: str, reader: _ObjectQuery, namespace: str | None = None
    ) -> tuple[_Index, float]:
        """The query's samples by object; a widened query's index is kept per snapshot.
        `namespace`: the one a per-namespace query asked for."""
        try:
            answer = await self.engine.query(query, reader.rule)
            if query != reader.widened:
                return _index(answer.result, reader, namespace), answer.evaluated_at
            cached = self._indexed.get(query)
            if cached is None or cached[0] is not answer:
                cached = self._indexed[query] = (answer, _index(answer.result, reader, None))
        except BackendError as err:
            log.error("unable to fetch %s metrics from prometheus: %s", reader.rule, err.message)
            raise InternalError(_FETCH_FAILED) from None
        return cached[1], answer.evaluated_at

    async def _values(
        self, reader: _ObjectQuery, objects: Sequence[ObjectMeta]
    ) -> tuple[_Index, float]:
        """Samples for `objects`: from the widened query, or per namespace as PA asks."""
        if reader.widened is not None:
            return await self._ask(reader.widened, reader)
        by_namespace: dict[str, list[str]] = defaultdict(list)
        for obj in objects:
            by_namespace[obj.namespace].append(obj.name)
        parts = await asyncio.gather(
            *(
                self._ask(reader.per_namespace(ns, names), reader, ns)
                for ns, names in by_namespace.items()
            )
        )
        merged: _Index = {}
        for index, _ in parts:
            merged.update(index)
        return merged, min(at for _, at in parts)

    async def _both(
        self, objects: Sequence[ObjectMeta], cpu: _ObjectQuery, memory: _ObjectQuery
    ) -> tuple[_Index, _Index, datetime]:
        (cpu_index, cpu_at), (memory_index, memory_at) = await asyncio.gather(
            self._values(cpu, objects), self._values(memory, objects)
        )
        return cpu_index, memory_index, datetime.fromtimestamp(min(cpu_at, memory_at), UTC)

    def _resource(self, gr: GroupResource) -> APIResource:
        res = self.mapper.resource_for(gr)
        assert res is not None  # BUILTIN serves pods and nodes
        return res

    # -- pods -------------------------------------------------------------------------

    async def list_pod_metrics(self, namespace: str, selector: Selector) -> list[PodMetrics]:
        pods = await self.objects.list_objects(self._resource(PODS), namespace, selector)
        return await self._pods(pods)

    async def get_pod_metrics(self, namespace: str, name: str) -> PodMetrics:
        pods = await self.objects.list_objects(self._resource(PODS), namespace, _EVERYTHING)
        pod = [p for p in pods if p.name == name]
        if not pod:
            raise pod_not_found(name)
        found = await self._pods(pod)
        if not found:
            raise pod_metrics_not_found(namespace, name)
        return found[0]

    async def _pods(self, pods: Sequence[ObjectMeta]) -> list[PodMetrics]:
        if not pods:
            return []
        cpu, memory, at = await self._both(pods, self.cpu.pods, self.memory.pods)
        out = []
        for pod in pods:
            key = (pod.namespace, pod.name)
            if key not in cpu or key not in memory:
                continue
            cores = dict(cpu[key])
            bytes_ = dict(memory[key])
            containers = tuple(
                ContainerMetrics(
                    name,
                    Usage(
                        cpu_quantity(cores.get(name, 0.0)), memory_quantity(bytes_.get(name, 0.0))
                    ),
                )
                for name in sorted(cores.keys() | bytes_.keys())
            )
            out.append(PodMetrics(pod.namespace, pod.name, at, self.window, containers, pod.labels))
        return out

    # -- nodes ------------------------------------------------------------------------

    async def list_node_metrics(self, selector: Selector) -> list[NodeMetrics]:
        nodes = await self.objects.list_objects(self._resource(NODES), "", selector)
        return await self._nodes(nodes)

    async def get_node_metrics(self, name: str) -> NodeMetrics:
        nodes = await self.objects.list_objects(self._resource(NODES), "", _EVERYTHING)
        node = [n for n in nodes if n.name == name]
        if not node:
            raise node_not_found(name)
        found = await self._nodes(node)
        if not found:
            raise node_metrics_not_found(name)
        return found[0]

    async def _nodes(self, nodes: Sequence[ObjectMeta]) -> list[NodeMetrics]:
        if not nodes:
            return []
        cpu, memory, at = await self._both(nodes, self.cpu.nodes, self.memory.nodes)
        out = []
        for node in nodes:
            key = ("", node.name)
            if key not in cpu or key not in memory:
                continue
            usage = Usage(cpu_quantity(cpu[key][0][1]), memory_quantity(memory[key][0][1]))
            out.append(NodeMetrics(node.name, at, self.window, usage, node.labels))
        return out
