"""The prometheus-adapter config file (rules, externalRules, resourceRules), read strictly.

PA decodes it with yaml.UnmarshalStrict: unknown and duplicate keys are errors, scalars
decode into string fields as written, and only the first YAML document counts. PA finds
bad regexes and templates only when it builds its namers at startup, and empty queries
only when a request comes; Surge reports all of them up front, each with its line:
`FILE:LINE: message`. Checks that need the cluster's resources (do overrides name served
resources?) are naming.MetricNamer's, run when the mapper is known.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import promql_parser
import yaml

from adapter.config import (
    AdapterConfig,
    DiscoveryRule,
    NameMapping,
    RegexFilter,
    ResourceMapping,
    ResourceRule,
    ResourceRules,
)
from adapter.go.durations import DurationError, parse_prometheus_duration
from adapter.go.template import TemplateError
from adapter.naming import (
    CUSTOM_SAMPLE,
    EXTERNAL_SAMPLE,
    RESOURCE_SAMPLE,
    LabelTemplate,
    RuleError,
    compile_regex,
    name_as_default,
    parse_metrics_query,
)
from apiservice.provider import GroupResource

T = TypeVar("T")

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_TAG_NAMES = {
    _STR: "a string",
    _NULL: "null",
    _BOOL: "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:timestamp": "a timestamp",
    "tag:yaml.org,2002:binary": "binary data",
}


class ConfigError(Exception):
    """Every problem of a config file, one `FILE:LINE: message` per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return _TAG_NAMES.get(node.tag, "a scalar")


class _Reader:
    """Walks composed YAML nodes with PA's schema, collecting (line, message) problems."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.problems: list[tuple[int, str]] = []  # what prometheus-adapter refuses to start on
        # What it starts on and only fails on at query time: for `surge check`.
        self.query_time: list[tuple[int, str]] = []  # every request of the rule fails
        self.warnings: list[tuple[int, str]] = []  # valid for both servers, yet suspicious
        self.mistyped: set[str] = set()  # paths already reported for their type

    def problem(self, line: int, path: str, message: str) -> None:
        self.problems.append((line, f"{path}: {message}" if path else message))

    def wrong_type(self, node: yaml.Node, path: str, expected: str) -> None:
        self.mistyped.add(path)
        self.problem(_line(node), path, f"expected {expected}, got {_describe(node)}")

    def mapping(
        self, node: yaml.Node, path: str, keys: tuple[str, ...] | None
    ) -> dict[str, yaml.Node]:
        """A mapping's fields (any key when `keys` is None); unknown and duplicate keys are
        problems. Null is an empty mapping, as yaml.v2 leaves a struct at its zero value."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.wrong_type(node, path, "a mapping")
            return {}
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = str(key_node.value)
            if key in seen:
                self.problem(
                    _line(key_node),
                    path,
                    f'duplicate key "{key}" (first at line {seen[key]})',
                )
            seen[key] = _line(key_node)
        try:
            self.loader.flatten_mapping(node)  # YAML merge keys (`<<: *defaults`)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or node.start_mark
            self.mistyped.add(path)
            self.problem(mark.line + 1, path, f"invalid YAML merge: {err.problem}")
            return {}
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if keys is not None and key not in keys:
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                self.problem(_line(key_node), path, f'unknown field "{key}"{hint}')
                continue
            fields[key] = value_node
        return fields

    def string(self, node: yaml.Node | None, path: str) -> str:
        """A scalar as written (yaml.v2 puts any scalar in a string field); null is ""."""
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            return ""
        if not isinstance(node, yaml.ScalarNode):
            self.wrong_type(node, path, "a string")
            return ""
        return str(node.value)

    def boolean(self, node: yaml.Node | None, path: str) -> bool | None:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            return None
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL:
            self.wrong_type(node, path, "true or false")
            return None
        return bool(self.loader.construct_yaml_bool(node))

    def sequence(self, node: yaml.Node | None, path: str) -> list[yaml.Node]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.wrong_type(node, path, "a list")
            return []
        return list(node.value)

    # -- the schema -------------------------------------------------------------------

    def config(self, node: yaml.Node | None, source: str) -> AdapterConfig:
        if node is None:
            return AdapterConfig(source=source)
        if not isinstance(node, yaml.MappingNode) and not (
            isinstance(node, yaml.ScalarNode) and node.tag == _NULL
        ):
            self.problem(
                _line(node), "", f"expected a mapping at the top level, got {_describe(node)}"
            )
            return AdapterConfig(source=source)
        fields = self.mapping(
            node, "", ("rules", "externalRules", "resourceRules", "forecastRules")
        )
        if "forecastRules" in fields:  # Surge's own section: PA would refuse the file
            self.problem(
                next(_line(k) for k, _ in node.value if k.value == "forecastRules"),
                "",
                'unknown field "forecastRules": forecast rules go in a file of their own, '
                "given by --forecast-config (prometheus-adapter refuses them here too)",
            )
        rules = [
            self.rule(n, f"rules[{i}]", external=False)
            for i, n in enumerate(self.sequence(fields.get("rules"), "rules"))
        ]
        external = [
            self.rule(n, f"externalRules[{i}]", external=True)
            for i, n in enumerate(self.sequence(fields.get("externalRules"), "externalRules"))
        ]
        resource_rules = None
        if "resourceRules" in fields and not (
            isinstance(fields["resourceRules"], yaml.ScalarNode)
            and fields["resourceRules"].tag == _NULL
        ):
            resource_rules = self.resource_rules(fields["resourceRules"])
        return AdapterConfig(rules, external, resource_rules, source)

    def rule(self, node: yaml.Node, where: str, *, external: bool) -> DiscoveryRule:
        keys = ("seriesQuery", "seriesFilters", "resources", "name", "metricsQuery")
        fields = self.mapping(node, where, keys)
        if where in self.mistyped:
            return DiscoveryRule("", line=_line(node), where=where)
        lines: dict[str, int] = {key: _line(value) for key, value in fields.items()}
        series_query = self.string(fields.get("seriesQuery"), f"{where}.seriesQuery")
        filters = []
        for i, f in enumerate(self.sequence(fields.get("seriesFilters"), f"{where}.seriesFilters")):
            path = f"{where}.seriesFilters[{i}]"
            lines[f"seriesFilters[{i}]"] = _line(f)
            ff = self.mapping(f, path, ("is", "isNot"))
            filters.append(
                RegexFilter(
                    self.string(ff.get("is"), path + ".is"),
                    self.string(ff.get("isNot"), path + ".isNot"),
                )
            )
        resources = self.resource_mapping(
            fields.get("resources"), f"{where}.resources", lines, "resources"
        )
        name_fields = (
            self.mapping(fields["name"], f"{where}.name", ("matches", "as"))
            if "name" in fields
            else {}
        )
        for key, value in name_fields.items():
            lines[f"name.{key}"] = _line(value)
        name = NameMapping(
            self.string(name_fields.get("matches"), f"{where}.name.matches"),
            self.string(name_fields.get("as"), f"{where}.name.as"),
        )
        metrics_query = self.string(fields.get("metricsQuery"), f"{where}.metricsQuery")
        rule = DiscoveryRule(
            series_query, filters, resources, name, metrics_query, _line(node), where, lines
        )
        self.check_rule(rule, external=external)
        return rule

    def resource_mapping(
        self, node: yaml.Node | None, path: str, lines: dict[str, int], key: str
    ) -> ResourceMapping:
        if node is None:
            return ResourceMapping()
        fields = self.mapping(node, path, ("template", "overrides", "namespaced"))
        for name, value in fields.items():
            lines[f"{key}.{name}"] = _line(value)
        overrides: dict[str, GroupResource] = {}
        overrides_node = fields.get("overrides")
        if overrides_node is not None:
            entries = self.mapping(overrides_node, f"{path}.overrides", None)
            for label, target in entries.items():
                where = f"{path}.overrides.{label}"
                lines[f"{key}.overrides.{label}"] = _line(target)
                gr = self.mapping(target, where, ("group", "resource"))
                group = self.string(gr.get("group"), where + ".group")
                resource = self.string(gr.get("resource"), where + ".resource")
                if not resource:
                    self.problem(_line(target), where, 'missing required field "resource"')
                overrides[label] = GroupResource(group, resource)
        template = self.string(fields.get("template"), f"{path}.template")
        if template:
            try:
                LabelTemplate(template)
            except RuleError as err:
                self.problem(_line(fields["template"]), f"{path}.template", err.message)
        namespaced = self.boolean(fields.get("namespaced"), f"{path}.namespaced")
        return ResourceMapping(template, overrides, namespaced)

    def check_rule(self, rule: DiscoveryRule, *, external: bool) -> None:
        """What PA's NamersFromConfig refuses, and what would fail every query."""
        where = rule.where

        def report(key: str, message: str) -> None:
            self.problem(rule.line_of(key), f"{where}.{key}", message)

        def query_time(key: str, message: str) -> None:
            self.query_time.append((rule.line_of(key), f"{where}.{key}: {message}"))

        if not rule.series_query.strip() and f"{where}.seriesQuery" not in self.mistyped:
            self.problem(rule.line, where, 'missing required field "seriesQuery"')
        elif rule.series_query.strip():
            _series_selector(rule.series_query, query_time)
        for i, f in enumerate(rule.series_filters):
            key = f"seriesFilters[{i}]"
            if f.is_ and f.is_not:
                report(key, "cannot have both an `is` and an `isNot` expression in a single filter")
            elif not f.is_ and not f.is_not:
                report(key, "must have either an `is` or an `isNot` expression")
            _attempt(
                report, lambda p=f.is_ or f.is_not, k=key: compile_regex(k, p, "series filter")
            )
        _attempt(report, lambda: name_as_default(rule.name.matches, rule.name.as_))
        if not rule.metrics_query.strip():
            if f"{where}.metricsQuery" not in self.mistyped:
                self.warnings.append(
                    (
                        rule.line,
                        f"{where}: no metricsQuery: its metrics are listed but every request "
                        "for them answers 404 (prometheus-adapter logs "
                        '"empty query produced by metrics query template")',
                    )
                )
            return
        sample = EXTERNAL_SAMPLE if external else CUSTOM_SAMPLE
        self.check_query("metricsQuery", rule.metrics_query, sample, report, query_time)

    def check_query(
        self,
        key: str,
        text: str,
        sample: Any,
        report: Callable[[str, str], None],
        query_time: Callable[[str, str], None],
    ) -> None:
        """The template parses (else `report`); rendered with `sample` it gives PromQL
        (else `query_time`: prometheus-adapter starts, and fails on every request)."""
        try:
            template = parse_metrics_query(key, text)
        except RuleError as err:
            report(key, err.message)
            return
        try:
            rendered = template.execute(sample)
        except TemplateError as err:
            query_time(key, f"the template fails on every request: {err}")
            return
        if not rendered.strip():
            query_time(key, "the template renders an empty query")
            return
        try:
            promql_parser.parse(rendered)
        except ValueError as err:
            query_time(key, f"not valid PromQL once rendered ({err}): {rendered}")

    def resource_rules(self, node: yaml.Node) -> ResourceRules:
        fields = self.mapping(node, "resourceRules", ("cpu", "memory", "window"))
        cpu = self.resource_rule(fields.get("cpu"), "resourceRules.cpu", node)
        memory = self.resource_rule(fields.get("memory"), "resourceRules.memory", node)
        window = 0.0
        text = self.string(fields.get("window"), "resourceRules.window")
        if text:
            try:
                window = parse_prometheus_duration(text)
            except DurationError as err:
                self.problem(_line(fields["window"]), "resourceRules.window", str(err))
        return ResourceRules(cpu, memory, window, _line(node))

    def resource_rule(self, node: yaml.Node | None, path: str, parent: yaml.Node) -> ResourceRule:
        if node is None:
            self.problem(
                _line(parent),
                "resourceRules",
                f'missing required field "{path.rpartition(".")[2]}"',
            )
            return ResourceRule("", "", ResourceMapping(), "")
        keys = ("containerQuery", "nodeQuery", "resources", "containerLabel")
        fields = self.mapping(node, path, keys)
        if path in self.mistyped:
            return ResourceRule("", "", ResourceMapping(), "", _line(node))
        lines: dict[str, int] = {}
        resources = self.resource_mapping(
            fields.get("resources"), f"{path}.resources", lines, "resources"
        )
        rule = ResourceRule(
            self.string(fields.get("containerQuery"), f"{path}.containerQuery"),
            self.string(fields.get("nodeQuery"), f"{path}.nodeQuery"),
            resources,
            self.string(fields.get("containerLabel"), f"{path}.containerLabel"),
            _line(node),
        )

        def report(key: str, message: str) -> None:
            self.problem(
                _line(fields[key]) if key in fields else rule.line, f"{path}.{key}", message
            )

        for key, text in (("containerQuery", rule.container_query), ("nodeQuery", rule.node_query)):
            if not text.strip():
                if f"{path}.{key}" not in self.mistyped:
                    self.problem(rule.line, path, f'missing required field "{key}"')
            else:
                self.check_query(key, text, RESOURCE_SAMPLE, report, report)
        if not resources.template and not resources.overrides:
            self.problem(
                rule.line,
                path,
                "resources: needs a template or overrides naming pods, namespaces and nodes",
            )
        return rule


def _series_selector(query: str, query_time: Callable[[str, str], None]) -> None:
    """A seriesQuery goes to /api/v1/series as `match[]`: it must be a series selector."""
    try:
        expr = promql_parser.parse(query)
    except ValueError as err:
        query_time("seriesQuery", f"not valid PromQL ({err})")
        return
    if not isinstance(expr, promql_parser.VectorSelector):
        query_time("seriesQuery", "not a series selector (`name{label=...}`), as match[] needs")


def _attempt(report: Callable[[str, str], None], check: Callable[[], object]) -> None:
    try:
        check()
    except RuleError as err:
        report(err.key, err.message)


def _yaml_problem(err: yaml.YAMLError, text: str) -> tuple[int, str]:
    """(line, message) of a YAML error; line 0 when it has none."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        context = f" ({err.context})" if err.context else ""
        return (
            mark.line + 1 if mark else 0,
            f"invalid YAML: {err.problem or 'syntax error'}{context}",
        )
    if isinstance(err, yaml.reader.ReaderError):
        line = text.count("\n", 0, err.position) + 1
        return line, f"invalid YAML: unacceptable character #x{err.character:04x}"
    return 0, f"invalid YAML: {err}"


Found = list[tuple[int, str]]  # (line, message); line 0 for the whole file


@dataclass(frozen=True)
class Check(Generic[T]):
    """A file judged: what stops prometheus-adapter (and Surge) from starting
    (`refused`), what fails every request of a rule (`query_time`: both start anyway),
    and what loads but deserves a `warning`. `config` is None when refused."""

    source: str
    config: T | None
    refused: Found = field(default_factory=list)
    query_time: Found = field(default_factory=list)
    warnings: Found = field(default_factory=list)

    def lines(self, found: Found, prefix: str = "") -> list[str]:
        """`FILE:LINE: message` each, in line order."""
        ordered = sorted(found, key=lambda p: p[0])
        return [
            f"{self.source}:{line}: {prefix}{message}" if line else f"{self.source}: {message}"
            for line, message in ordered
        ]

    @property
    def errors(self) -> list[str]:
        """What `surge check` fails on."""
        return self.lines(self.refused + self.query_time)

    @property
    def warning_lines(self) -> list[str]:
        return self.lines(self.warnings, "warning: ")


def judge_document(
    text: str, source: str, read: Callable[[yaml.SafeLoader, yaml.Node | None], tuple[T, _Reader]]
) -> Check[T]:
    """The first YAML document of `text` read by `read` (a _Reader's schema walk), judged."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as err:
        return Check(source, None, [_yaml_problem(err, text)])
    try:
        try:
            node = loader.get_node() if loader.check_node() else None  # the first document
        except yaml.YAMLError as err:
            return Check(source, None, [_yaml_problem(err, text)])
        config, reader = read(loader, node)
    finally:
        loader.dispose()
    return Check(
        source,
        None if reader.problems else config,
        reader.problems,
        reader.query_time,
        reader.warnings,
    )


def read_document(
    text: str, source: str, read: Callable[[yaml.SafeLoader, yaml.Node | None], tuple[T, _Reader]]
) -> T:
    """As judge_document, for loading: raise ConfigError listing every problem that stops
    prometheus-adapter from starting; what fails only at query time loads."""
    check = judge_document(text, source, read)
    if check.config is None:
        raise ConfigError(check.lines(check.refused))
    return check.config


def _adapter_reader(
    source: str,
) -> Callable[[yaml.SafeLoader, yaml.Node | None], tuple[AdapterConfig, _Reader]]:
    def read(loader: yaml.SafeLoader, node: yaml.Node | None) -> tuple[AdapterConfig, _Reader]:
        reader = _Reader(loader)
        return reader.config(node, source), reader

    return read


def check_text(text: str, source: str = "<config>") -> Check[AdapterConfig]:
    """Read a config and judge it (see Check)."""
    return judge_document(text, source, _adapter_reader(source))


def parse_config(text: str, source: str = "<config>") -> AdapterConfig:
    """Read a config as prometheus-adapter does (see read_document)."""
    return read_document(text, source, _adapter_reader(source))


def read_file(path: str) -> str:
    """A config file's text; ConfigError naming the file when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as err:
        raise ConfigError(
            [f"{path}: unable to read the config file: not UTF-8 ({err.reason})"]
        ) from None
    except OSError as err:
        raise ConfigError(
            [f"{path}: unable to read the config file: {err.strerror or err}"]
        ) from None


def load_config(path: str) -> AdapterConfig:
    """Load a PA config file; raise ConfigError (every problem, one per line) if any."""
    return parse_config(read_file(path), path)
