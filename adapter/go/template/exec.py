"""Go's text/template with prometheus-adapter's delimiters `<<` and `>>`.

PA renders `metricsQuery` and `resources.template` through text/template, so a config that
uses `<<index .GroupBySlice 0>>`, `<<range>>`, `<<if>>` or `<<printf>>` must behave as in
Go. This is a faithful port of the language (lexing, trim markers, pipelines, variables,
if/else-if/with/range/break/continue, the builtin functions; PA registers no others) and
of its error messages. `define`, `template` and `block` are refused: a PA config holds one
template per field, so they have nothing to name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import adapter.go.template.nodes as nodes
from adapter.go import fmt as gofmt
from adapter.go.fmt import GoStruct
from adapter.go.template.funcs import _FUNCS, _MISSING, _FuncError, _truth
from adapter.go.template.parser import TemplateError, _Parser

_NO_FINAL = object()  # no previous pipeline stage to pass as a final argument


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


class _State:
    def __init__(self, template: Template, data: Any) -> None:
        self.template = template
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.node: nodes.Node | None = None
        self.out: list[str] = []

    def fail(self, message: str) -> TemplateError:
        t = self.template
        if self.node is None:
            return TemplateError(f"template: {t.name}: {message}")
        before = t.text[: self.node.pos]
        line = before.count("\n") + 1
        col = self.node.pos - (before.rfind("\n") + 1)
        return TemplateError(
            f"template: {t.name}:{line}:{col}: executing {gofmt.quote(t.name)} "
            f"at <{self.node}>: {message}"
        )

    # variables

    def var_value(self, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise self.fail(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.fail(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Any) -> None:
        name = self.vars[-n][0]
        self.vars[-n] = (name, value)

    # walking

    def walk(self, dot: Any, node: nodes.Node) -> None:
        self.node = node
        if isinstance(node, nodes.Text):
            self.out.append(node.text)
        elif isinstance(node, nodes.List):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, nodes.Action):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, nodes.Branch):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, nodes.Break):
            raise _BreakLoop()
        elif isinstance(node, nodes.Continue):
            raise _ContinueLoop()
        else:  # pragma: no cover - the parser makes no other nodes
            raise self.fail(f"unknown node: {node}")

    def print_value(self, node: nodes.Node, value: Any) -> None:
        self.node = node
        self.out.append("<no value>" if value is _MISSING else gofmt.format_value(value))

    def walk_if_or_with(self, dot: Any, node: nodes.Branch) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if _truth(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: nodes.Branch) -> None:
        self.node = node
        mark = len(self.vars)
        decl = node.pipe.decl
        try:
            value = self.eval_pipeline(dot, node.pipe)
            body_mark = len(self.vars)
            pairs: list[tuple[Any, Any]]
            if isinstance(value, GoStruct) or isinstance(value, str):
                raise self.fail(f"range can't iterate over {gofmt.format_value(value)}")
            if isinstance(value, Mapping):
                pairs = sorted(value.items())
            elif isinstance(value, Sequence):
                pairs = list(enumerate(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                if len(decl) > 1:
                    raise self.fail(f"can't use {value} to iterate over more than one variable")
                pairs = [(i, i) for i in range(value)]
            elif value is _MISSING or value is None:
                pairs = []
            else:
                raise self.fail(f"range can't iterate over {gofmt.format_value(value)}")
            try:
                for index, elem in pairs:
                    if decl:
                        if node.pipe.is_assign:
                            self.set_var(decl[0].idents[0], index if len(decl) > 1 else elem)
                        else:
                            self.set_top_var(1, elem)
                    if len(decl) > 1:
                        if node.pipe.is_assign:
                            self.set_var(decl[1].idents[0], elem)
                        else:
                            self.set_top_var(2, index)
                    try:
                        self.walk(elem, node.body)
                    except _ContinueLoop:
                        pass
                    finally:
                        del self.vars[body_mark:]
            except _BreakLoop:
                return
            if not pairs and node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    # evaluation

    def eval_pipeline(self, dot: Any, pipe: nodes.Pipe) -> Any:
        self.node = pipe
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.idents[0], value)
            else:
                self.vars.append((var.idents[0], value))
        return value

    def not_a_function(self, args: list[nodes.Node], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise self.fail(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: nodes.Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, nodes.Field):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, nodes.Chain):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, nodes.Identifier):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, nodes.Pipe):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, nodes.Variable):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, nodes.Bool):
            return first.value
        if isinstance(first, nodes.Dot):
            return dot
        if isinstance(first, nodes.Nil):
            raise self.fail("nil is not a command")
        if isinstance(first, nodes.Number):
            return first.value
        if isinstance(first, nodes.String):
            return first.value
        raise self.fail(f"can't evaluate command {gofmt.quote(str(first))}")  # pragma: no cover

    def eval_chain(self, dot: Any, chain: nodes.Chain, args: list[nodes.Node], final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, nodes.Nil):
            raise self.fail(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, chain.node, reflect=False)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(
        self, dot: Any, var: nodes.Variable, args: list[nodes.Node], final: Any
    ) -> Any:
        self.node = var
        value = self.var_value(var.idents[0])
        if len(var.idents) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.idents[1:], args, final)

    def eval_field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: nodes.Node,
        idents: list[str],
        args: list[nodes.Node],
        final: Any,
    ) -> Any:
        for name in idents[:-1]:
            receiver = self.eval_field(name, [], _NO_FINAL, receiver)
        return self.eval_field(idents[-1], args, final, receiver)

    def eval_field(self, name: str, args: list[nodes.Node], final: Any, receiver: Any) -> Any:
        if receiver is _MISSING or receiver is None:
            return _MISSING
        has_args = len(args) > 1 or final is not _NO_FINAL
        if isinstance(receiver, GoStruct):
            if name in receiver.fields:
                if has_args:
                    raise self.fail(f"{name} has arguments but cannot be invoked as function")
                return receiver.fields[name]
        elif isinstance(receiver, Mapping):
            if has_args:
                raise self.fail(f"{name} is not a method but has arguments")
            return receiver.get(name, _MISSING)
        raise self.fail(f"can't evaluate field {name} in type {gofmt.type_name(receiver)}")

    def eval_arg(self, dot: Any, node: nodes.Node, *, reflect: bool) -> Any:
        """An argument's value; a function taking reflect.Value refuses a missing value."""
        self.node = node
        value: Any
        if isinstance(node, nodes.Dot):
            value = dot
        elif isinstance(node, nodes.Nil):
            if reflect:
                raise self.fail("cannot assign nil to reflect.Value")
            value = None
        elif isinstance(node, nodes.Field):
            value = self.eval_field_chain(dot, dot, node, node.idents, [node], _NO_FINAL)
        elif isinstance(node, nodes.Variable):
            value = self.eval_variable(dot, node, [], _NO_FINAL)
        elif isinstance(node, nodes.Pipe):
            value = self.eval_pipeline(dot, node)
        elif isinstance(node, nodes.Identifier):
            value = self.eval_function(dot, node, node, [], _NO_FINAL)
        elif isinstance(node, nodes.Chain):
            value = self.eval_chain(dot, node, [], _NO_FINAL)
        elif isinstance(node, (nodes.Bool, nodes.Number, nodes.String)):
            value = node.value
        else:  # pragma: no cover
            raise self.fail(f"can't handle {node} for arg")
        return self.validate(value, reflect)

    def validate(self, value: Any, reflect: bool) -> Any:
        if value is _MISSING:
            if reflect:
                raise self.fail("invalid value; expected reflect.Value")
            return None
        return value

    def eval_function(
        self, dot: Any, ident: nodes.Identifier, cmd: nodes.Node, args: list[nodes.Node], final: Any
    ) -> Any:
        self.node = ident
        name = ident.name
        builtin = _FUNCS[name]
        given = len(args) - 1 + (final is not _NO_FINAL)
        if builtin.variadic and given < builtin.fixed:
            raise self.fail(
                f"wrong number of args for {name}: want at least {builtin.fixed} got {given}"
            )
        if not builtin.variadic and given != builtin.fixed:
            raise self.fail(f"wrong number of args for {name}: want {builtin.fixed} got {given}")
        operands = args[1:]
        if builtin.fn is None:
            return self.and_or(dot, name, operands, final)
        values = [self.eval_arg(dot, a, reflect=builtin.reflect) for a in operands]
        if final is not _NO_FINAL:
            values.append(self.validate(final, builtin.reflect))
        if name == "printf" and not isinstance(values[0], str):
            self.node = cmd
            got = gofmt.type_name(values[0])
            raise self.fail(f"wrong type for value; expected string; got {got}")
        try:
            return builtin.fn(*values)
        except _FuncError as err:
            self.node = cmd
            raise self.fail(f"error calling {name}: {err}") from None

    def and_or(self, dot: Any, name: str, operands: list[nodes.Node], final: Any) -> Any:
        """and/or evaluate lazily: the first deciding operand is the result."""
        value: Any = None
        for operand in operands:
            value = self.eval_arg(dot, operand, reflect=True)
            if _truth(value) == (name == "or"):
                return value
        if final is not _NO_FINAL:
            value = self.validate(final, True)
        return value


def _fields_of(node: Any, found: set[str]) -> None:
    if isinstance(node, nodes.Field):
        found.update(node.idents)
    elif isinstance(node, nodes.Variable):
        found.update(node.idents[1:])
    elif isinstance(node, nodes.Chain):
        found.update(node.fields)
        _fields_of(node.node, found)
    elif isinstance(node, nodes.List):
        for child in node.nodes:
            _fields_of(child, found)
    elif isinstance(node, nodes.Action):
        _fields_of(node.pipe, found)
    elif isinstance(node, nodes.Pipe):
        for cmd in node.cmds:
            for arg in cmd.args:
                _fields_of(arg, found)
    elif isinstance(node, nodes.Branch):
        _fields_of(node.pipe, found)
        _fields_of(node.body, found)
        if node.else_body is not None:
            _fields_of(node.else_body, found)


@dataclass(frozen=True, eq=False)
class Template:
    """A parsed template; `execute` renders it, `fields` lists every field name it reads."""

    name: str
    text: str
    root: nodes.List

    @functools.cached_property
    def fields(self) -> frozenset[str]:
        found: set[str] = set()
        _fields_of(self.root, found)
        return frozenset(found)

    def execute(self, data: Any) -> str:
        state = _State(self, data)
        state.walk(data, self.root)
        return "".join(state.out)


@functools.lru_cache(maxsize=1024)
def parse(text: str, name: str = "template") -> Template:
    """Parse with `<<`/`>>` delimiters; raise TemplateError as text/template words it."""
    return Template(name, text, _Parser(name, text).parse())
