"""One rule's naming: series -> API metric name and resources, resource -> label, query text.

A faithful port of prometheus-adapter's MetricNamer (pkg/naming): the same filters, the
same name expansion, the same label <-> group-resource mapping, and queries rendered with
the same template arguments and matcher order. The query is built in two steps, the
matchers and grouping (`custom_query_parts`) then the template (`render`), so the engine
can also render a widened query (the resource-name matcher left out) from the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from adapter import promql
from adapter.config import AdapterConfig, DiscoveryRule
from adapter.go.fmt import GoStruct, quote
from adapter.go.regex import GoRegex, GoRegexError, compile_go
from adapter.go.template import Template, TemplateError, parse
from adapter.resources import ResourceMapper
from apiservice.provider import GroupResource
from apiservice.selectors import Selector

NAMESPACES = GroupResource("", "namespaces")
NODES = GroupResource("", "nodes")
PERSISTENT_VOLUMES = GroupResource("", "persistentvolumes")
_NOT_NAMESPACING = (NAMESPACES, NODES, PERSISTENT_VOLUMES)


class RuleError(ValueError):
    """A rule PA would refuse when building its namers; `key` names the rule's field."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


QueryError = promql.QueryError  # re-exported: callers of the namer catch it from here


def compile_regex(key: str, pattern: str, what: str) -> GoRegex:
    try:
        return compile_go(pattern)
    except GoRegexError as err:
        raise RuleError(key, f"unable to compile {what} {quote(pattern)}: {err}") from None


def name_as_default(matches: str, name_as: str) -> str:
    """`as` with PA's default: `$0` with no capture group, `$1` with one, else an error.

    `matches` must compile either way (an empty one means `.*`)."""
    groups = compile_regex("name.matches", matches or ".*", "series name match expression").groups
    if name_as:
        return name_as
    if groups == 0:
        return "$0"
    if groups == 1:
        return "$1"
    raise RuleError("name.as", f"must specify an 'as' value for name matcher {quote(matches)}")


def parse_metrics_query(key: str, text: str) -> Template:
    try:
        return parse(text, "metrics-query")
    except TemplateError as err:
        raise RuleError(key, f"unable to parse metrics query template: {err}") from None


class LabelTemplate:
    """`resources.template`: renders a label for a resource, and read backwards, a regex.

    Rendering with `(?P<group>.+?)` and `(?P<resource>.+?)` gives the regex that
    recognizes the labels it would produce, as lbl_res.go builds it.
    """

    def __init__(self, text: str) -> None:
        try:
            self.template = parse(text, "resource-label")
        except TemplateError as err:
            raise RuleError(
                "resources.template", f"unable to parse label template: {err}"
            ) from None
        problem = "unable to generate label format from template"
        try:
            pattern = self.template.execute(_group_resource("(?P<group>.+?)", "(?P<resource>.+?)"))
        except TemplateError as err:
            raise RuleError(
                "resources.template",
                f"{problem}: unable to convert label template to matcher: {err}",
            ) from None
        if not pattern:
            raise RuleError(
                "resources.template",
                f"{problem}: unable to convert label template to matcher: empty template",
            )
        try:
            self.regex = compile_go("^" + pattern + "$")
        except GoRegexError as err:
            raise RuleError(
                "resources.template",
                f"{problem}: unable to convert label template to matcher: {err}",
            ) from None
        resource_group = self.regex.group_index("resource")
        if resource_group is None:
            raise RuleError(
                "resources.template", f"{problem}: must include at least `<<.Resource>>`"
            )
        self.resource_group: int = resource_group
        self.group_group = self.regex.group_index("group")

    def group_resource_for(self, label: str) -> GroupResource | None:
        """The (unnormalized) group-resource a label names, if it has the template's form."""
        match = self.regex.search(label)
        if match is None:
            return None
        group = (match.group(self.group_group) or "") if self.group_group is not None else ""
        return GroupResource(group, match.group(self.resource_group) or "")

    def render(self, group: str, singular: str) -> str:
        try:
            label = self.template.execute(
                _group_resource(group.replace(".", "_").replace("-", "_"), singular)
            )
        except TemplateError as err:
            raise QueryError(str(err)) from None
        if not label:
            raise QueryError("empty label produced by label template")
        return label


def _group_resource(group: str, resource: str) -> GoStruct:
    return GoStruct("schema.GroupResource", {"Group": group, "Resource": resource})


def query_args(
    series: str,
    matchers: Sequence[str],
    group_by: Sequence[str],
    values_by_name: Mapping[str, str],
) -> GoStruct:
    """The metricsQuery template's data, field for field PA's queryTemplateArgs."""
    return GoStruct(
        "naming.queryTemplateArgs",
        {
            "Series": series,
            "LabelMatchers": promql.matchers_string(matchers),
            "LabelValuesByName": dict(values_by_name),
            "GroupBy": ",".join(group_by),
            "GroupBySlice": list(group_by),
        },
    )


# Representative template inputs: what Build and BuildExternal pass for one request.
CUSTOM_SAMPLE = query_args(
    "surge_check_series_total",
    ['namespace="default"', 'pod="surge-check-pod"'],
    ["pod"],
    {"namespace": "default", "pod": "surge-check-pod"},
)
EXTERNAL_SAMPLE = query_args(
    "surge_check_series_total", ['namespace="default"'], [], {"namespace": "default"}
)
RESOURCE_SAMPLE = query_args(
    "surge_check_series_total",
    ['namespace="default"', 'pod=~"surge-check-pod-a|surge-check-pod-b"'],
    ["pod", "container"],
    {"namespace": "default", "pod": "surge-check-pod-a|surge-check-pod-b"},
)


def render_query(template: Template, args: GoStruct) -> str:
    try:
        query = template.execute(args)
    except TemplateError as err:
        raise QueryError(str(err)) from None
    if not query:
        raise QueryError("empty query produced by metrics query template")
    return query


@dataclass(frozen=True)
class QueryParts:
    """What a template receives besides the series: matchers, grouping, values by label."""

    matchers: tuple[str, ...]
    group_by: tuple[str, ...]
    values_by_name: Mapping[str, str]


class MetricNamer:
    """A rule, compiled against the cluster's resources; raises RuleError as PA refuses."""

    def __init__(self, rule: DiscoveryRule, mapper: ResourceMapper) -> None:
        self.rule = rule
        self.mapper = mapper
        self.namespaced = True if rule.resources.namespaced is None else rule.resources.namespaced
        self.query_template = parse_metrics_query("metricsQuery", rule.metrics_query)
        self.filters: list[tuple[GoRegex, bool]] = []
        for i, f in enumerate(rule.series_filters):
            key = f"seriesFilters[{i}]"
            if f.is_ and f.is_not:
                raise RuleError(
                    key,
                    f"cannot have both an `is` ({quote(f.is_)}) and `isNot` ({quote(f.is_not)}) "
                    "expression in a single filter",
                )
            if not f.is_ and not f.is_not:
                raise RuleError(key, "must have either an `is` or `isNot` expression in a filter")
            pattern = f.is_ or f.is_not
            self.filters.append((compile_regex(key, pattern, "series filter"), bool(f.is_)))
        name = rule.name
        self.name_pattern = compile_regex(
            "name.matches", name.matches or ".*", "series name match expression"
        )
        if name.matches:
            self.filters.append((self.name_pattern, True))
        self.name_as = name_as_default(name.matches, name.as_)
        template = rule.resources.template
        self.label_template = LabelTemplate(template) if template else None
        self.label_to_resource: dict[str, GroupResource] = {}
        self.resource_to_label: dict[GroupResource, str] = {}
        for label, target in rule.resources.overrides.items():
            normalized = mapper.normalize(target)
            if normalized is None:
                raise RuleError(
                    f"resources.overrides.{label}",
                    f"unable to normalize group-resource {target}: the cluster serves "
                    f"no resource {quote(target.resource)}"
                    + (f" in group {quote(target.group)}" if target.group else ""),
                )
            self.label_to_resource[label] = normalized
            self.resource_to_label[normalized] = label

    # -- discovery --------------------------------------------------------------------

    def filter_series(self, series: Iterable[Mapping[str, str]]) -> list[Mapping[str, str]]:
        """The series whose `__name__` passes every filter (unanchored RE2 matches)."""
        return [
            s
            for s in series
            if all(
                (regex.search(s.get("__name__", "")) is not None) == positive
                for regex, positive in self.filters
            )
        ]

    def metric_name_for(self, series_name: str) -> str:
        """The API name: `name.matches` expanded into `name.as` (regexp.ExpandString)."""
        match = self.name_pattern.search(series_name)
        if match is None:
            raise ValueError(
                f"series name {quote(series_name)} did not match expected pattern "
                f"{quote(self.name_pattern.source)}"
            )
        return self.name_pattern.expand(self.name_as, match)

    def resources_for_series(self, labels: Mapping[str, str]) -> tuple[list[GroupResource], bool]:
        """The resources a series' labels name, and PA's `namespaced` flag for it.

        The flag turns true on any label except those that map to namespaces, nodes or
        persistentvolumes, including a label that maps to nothing, but not a label that
        has the template's form yet names no served resource (PA skips those whole).
        """
        resources: list[GroupResource] = []
        namespaced = False
        for label in labels:
            if label == "__name__":
                continue
            gr = self.label_to_resource.get(label)
            if gr is None and self.label_template is not None:
                candidate = self.label_template.group_resource_for(label)
                if candidate is not None:
                    gr = self.mapper.normalize(candidate)
                    if gr is None:
                        continue
            if gr is not None:
                resources.append(gr)
            if gr not in _NOT_NAMESPACING:
                namespaced = True
        return resources, namespaced

    def label_for_resource(self, gr: GroupResource) -> str:
        """The label naming a (normalized) resource: an override, else the template."""
        label = self.resource_to_label.get(gr)
        if label is not None:
            return label
        if self.label_template is None:
            raise QueryError(
                f"unable to convert resource {gr} into label: "
                "no generic resource label form specified for this metric"
            )
        try:
            return self.label_template.render(gr.group, self.mapper.singular(gr))
        except QueryError as err:
            raise QueryError(f"unable to convert resource {gr} into label: {err}") from None

    def namespace_label(self) -> str:
        return self.label_for_resource(NAMESPACES)

    # -- queries ----------------------------------------------------------------------

    @property
    def widenable(self) -> bool:
        """Whether dropping the resource-name matcher leaves the template's input intact.

        A template that reads LabelValuesByName may use the names outside the matchers.
        """
        return "LabelValuesByName" not in self.query_template.fields

    def custom_query_parts(
        self,
        gr: GroupResource,
        namespace: str,
        metric_selector: Selector,
        names: Sequence[str] | None,
    ) -> QueryParts:
        """Build's inputs: selector matchers, then namespace, then the resource's names.

        `names=None` leaves the resource matcher out (the widened form); otherwise one
        name gives `label="name"`, several `label=~"a|b"`, in the given order.
        """
        matchers, values = promql.selector_matchers(metric_selector)
        if namespace:
            label = self.namespace_label()
            matchers.append(promql.label_eq(label, namespace))
            values[label] = namespace
        resource_label = self.label_for_resource(gr)
        if names is not None:
            target = "|".join(names)
            if len(names) > 1:
                matchers.append(promql.label_matches(resource_label, target))
            else:
                matchers.append(promql.label_eq(resource_label, target))
            values[resource_label] = target
        return QueryParts(tuple(matchers), (resource_label,), values)

    def external_query_parts(self, namespace: str, metric_selector: Selector) -> QueryParts:
        """BuildExternal's inputs: selector matchers, then the namespace if the rule has it."""
        matchers, values = promql.selector_matchers(metric_selector)
        if self.namespaced and namespace:
            label = self.namespace_label()
            matchers.append(promql.label_eq(label, namespace))
            values[label] = namespace
        return QueryParts(tuple(matchers), (), values)

    def render(
        self,
        series: str,
        matchers: Sequence[str],
        group_by: Sequence[str],
        values_by_name: Mapping[str, str],
    ) -> str:
        """Run metricsQuery; an exec error or an empty result is a QueryError."""
        return render_query(
            self.query_template, query_args(series, matchers, group_by, values_by_name)
        )

    def query_for_series(
        self,
        series_name: str,
        gr: GroupResource,
        namespace: str,
        metric_selector: Selector,
        names: Sequence[str],
    ) -> str:
        """PA's QueryForSeries. The caller refuses an empty `names` (PA answers 404)."""
        parts = self.custom_query_parts(gr, namespace, metric_selector, names)
        return self.render(series_name, parts.matchers, parts.group_by, parts.values_by_name)

    def query_for_external(
        self, series_name: str, namespace: str, metric_selector: Selector
    ) -> str:
        """PA's QueryForExternalSeries: GroupBy "" and GroupBySlice empty."""
        parts = self.external_query_parts(namespace, metric_selector)
        return self.render(series_name, parts.matchers, parts.group_by, parts.values_by_name)


def namer_problems(config: AdapterConfig, mapper: ResourceMapper) -> list[str]:
    """What the cluster's resources make of a loaded config (unserved override targets),
    as `FILE:LINE: message`, for `surge check` against a live cluster."""
    problems = []
    for rule in [*config.rules, *config.external_rules]:
        try:
            MetricNamer(rule, mapper)
        except RuleError as err:
            where = f"{config.source}:{rule.line_of(err.key)}"
            problems.append(f"{where}: {rule.where}.{err.key}: {err.message}")
    return problems
