"""Kubernetes label selectors: one parser for the whole server, as labels.Parse reads them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from apiservice.errors import BadRequest


class Op(str, Enum):
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


class SelectorError(BadRequest):
    """A selector that does not parse or validate; a 400 wherever it reaches the server."""


_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_SPECIAL = "=!(),<>"


def _check_key(key: str) -> None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        raise SelectorError(f'invalid label key "{key}": prefix part must be a DNS-1123 subdomain')
    if not name or len(name) > 63 or not _NAME.match(name):
        raise SelectorError(
            f'invalid label key "{key}": name part must consist of alphanumeric characters, '
            "'-', '_' or '.', and must start and end with an alphanumeric character "
            "(at most 63 characters)"
        )


def _check_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise SelectorError(
            f'invalid label value: "{value}": a valid label must be an empty string or consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (at most 63 characters)"
        )


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case Op.EQUALS | Op.DOUBLE_EQUALS | Op.IN:
                return present and value in self.values
            case Op.NOT_EQUALS | Op.NOT_IN:
                return not present or value not in self.values
            case Op.EXISTS:
                return present
            case Op.DOES_NOT_EXIST:
                return not present
            case Op.GREATER_THAN | Op.LESS_THAN:
                if not present or value is None or not _INTEGER.match(value):
                    return False
                have, want = int(value), int(self.values[0])
                return have > want if self.op is Op.GREATER_THAN else have < want
        return False  # pragma: no cover

    def __str__(self) -> str:
        match self.op:
            case Op.EXISTS:
                return self.key
            case Op.DOES_NOT_EXIST:
                return "!" + self.key
            case Op.IN | Op.NOT_IN:
                return f"{self.key} {self.op.value} ({','.join(self.values)})"
            case Op.GREATER_THAN:
                return f"{self.key}>{self.values[0]}"
            case Op.LESS_THAN:
                return f"{self.key}<{self.values[0]}"
        return f"{self.key}{self.op.value}{self.values[0]}"


@dataclass(frozen=True)
class Selector:
    """Requirements sorted by key, as Kubernetes keeps them; empty selects everything."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = Selector()


def _new_requirement(key: str, op: Op, values: list[str]) -> Requirement:
    _check_key(key)
    if op in (Op.IN, Op.NOT_IN) and not values:
        raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
    if op in (Op.EQUALS, Op.DOUBLE_EQUALS, Op.NOT_EQUALS) and len(values) != 1:
        raise SelectorError("exact-match compatibility requires one single value")
    if op in (Op.GREATER_THAN, Op.LESS_THAN):
        if len(values) != 1 or not _INTEGER.match(values[0]):
            raise SelectorError(
                f"for 'Gt', 'Lt' operators, the value must be an integer: {values[0]!r}"
                if values
                else "for 'Gt', 'Lt' operators, exactly one value is required"
            )
    for value in values:
        _check_value(value)
    return Requirement(key, op, tuple(sorted(set(values))))


class _Lexer:
    """Tokens as Kubernetes' selector lexer cuts them."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        i = 0
        while i < len(text):
            c = text[i]
            if c.isspace():
                i += 1
            elif text.startswith(("==", "!="), i):
                self.tokens.append(text[i : i + 2])
                i += 2
            elif c in _SPECIAL:
                self.tokens.append(c)
                i += 1
            else:
                j = i
                while j < len(text) and not text[j].isspace() and text[j] not in _SPECIAL:
                    j += 1
                self.tokens.append(text[i:j])
                i = j
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += 1
        return token


def _is_identifier(token: str | None) -> bool:
    return token is not None and token[0] not in _SPECIAL


def _describe(token: str | None) -> str:
    return "end of string" if token is None else token


_OPERATORS = {
    "=": Op.EQUALS,
    "==": Op.DOUBLE_EQUALS,
    "!=": Op.NOT_EQUALS,
    "in": Op.IN,
    "notin": Op.NOT_IN,
    ">": Op.GREATER_THAN,
    "<": Op.LESS_THAN,
}


def _parse_values(lex: _Lexer) -> list[str]:
    token = lex.take()
    if token != "(":
        raise SelectorError(f"found '{_describe(token)}', expected: '('")
    values: list[str] = []
    if lex.peek() == ")":
        lex.take()
        return [""]
    while True:
        token = lex.peek()
        if _is_identifier(token):
            values.append(lex.take() or "")
            token = lex.peek()
        else:
            values.append("")
        if token == ",":
            lex.take()
            continue
        if token == ")":
            lex.take()
            return values
        raise SelectorError(f"found '{_describe(token)}', expected: ',', ')' or identifier")


def _parse_requirement(lex: _Lexer) -> Requirement:
    token = lex.take()
    negated = token == "!"
    if negated:
        token = lex.take()
    if not _is_identifier(token) or token in ("in", "notin"):
        raise SelectorError(f"found '{_describe(token)}', expected: identifier")
    key = token or ""
    if lex.peek() in (None, ","):
        return _new_requirement(key, Op.DOES_NOT_EXIST if negated else Op.EXISTS, [])
    if negated:
        raise SelectorError(f"found '{_describe(lex.peek())}', expected: ',' or 'end of string'")
    op_token = lex.take()
    op = _OPERATORS.get(op_token or "")
    if op is None:
        raise SelectorError(
            f"found '{_describe(op_token)}', expected: '=', '!=', '==', 'in', 'notin', '>' or '<'"
        )
    if op in (Op.IN, Op.NOT_IN):
        return _new_requirement(key, op, _parse_values(lex))
    token = lex.peek()
    if token in (None, ","):
        return _new_requirement(key, op, [""])
    lex.take()
    if not _is_identifier(token):
        raise SelectorError(f"found '{_describe(token)}', expected: identifier")
    return _new_requirement(key, op, [token or ""])


def parse_selector(text: str | None) -> Selector:
    """Parse a label selector; raise SelectorError (a 400) naming the problem."""
    if text is None or not text.strip():
        return EVERYTHING
    lex = _Lexer(text)
    requirements: list[Requirement] = []
    while True:
        try:
            requirements.append(_parse_requirement(lex))
        except SelectorError as err:
            raise SelectorError(f"unable to parse requirement: {err.message}") from None
        token = lex.take()
        if token is None:
            break
        if token != ",":
            raise SelectorError(
                f"unable to parse requirement: found '{token}', expected: ',' or 'end of string'"
            )
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))
