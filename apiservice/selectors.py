"""Kubernetes label selectors: one parser for the whole server, as labels.Parse reads them.

The lexer, the parser's states and every error message follow k8s.io/apimachinery's
pkg/labels, because a client sees our 400 messages and Kubernetes' side by side.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from apiservice.errors import BadRequest


class Op(StrEnum):
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


_INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"[+-]?[0-9]+")

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY = re.compile(_LABEL_KEY_FMT)
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_LABEL_KEY_FMT})?"
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def go_quote(text: str) -> str:
    """Go's %q of a string: the quoting Kubernetes uses for bad values in its messages."""
    escapes = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t"}
    escapes |= {"\v": r"\v", "\\": r"\\", '"': r"\""}
    out = []
    for ch in text:
        code = ord(ch)
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _size(text: str) -> int:
    return len(text.encode())


def _label_key_problems(key: str) -> list[str]:
    """content.IsLabelKey: an optional DNS-1123 subdomain prefix, a slash, a name."""
    parts = key.split("/")
    problems: list[str] = []
    if len(parts) > 2:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if _size(prefix) > 253:
                problems.append("prefix part must be no more than 253 bytes")
            if not _DNS1123_SUBDOMAIN.fullmatch(prefix):
                problems.append(
                    "prefix part "
                    + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
                )
    if not name:
        problems.append("name part must be non-empty")
    elif _size(name) > 63:
        problems.append("name part must be no more than 63 bytes")
    if not _LABEL_KEY.fullmatch(name):
        problems.append(
            "name part "
            + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
        )
    return problems


def _label_value_problems(value: str) -> list[str]:
    problems = []
    if _size(value) > 63:
        problems.append("must be no more than 63 bytes")
    if not _LABEL_VALUE.fullmatch(value):
        problems.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return problems


def _invalid(field: str, value: str, problems: list[str]) -> str:
    """field.Invalid(...).Error(); a parser path is nil, which Go prints as <nil>."""
    return f"{field}: Invalid value: {go_quote(value)}: {'; '.join(problems)}"


def _parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where Go would fail."""
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64[0] <= number <= _INT64[1] else None


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
                have = _parse_int64(value) if value is not None else None
                want = _parse_int64(self.values[0]) if len(self.values) == 1 else None
                if have is None or want is None:
                    return False
                return have > want if self.op is Op.GREATER_THAN else have < want
        return False  # pragma: no cover - every Op is handled above

    def __str__(self) -> str:
        match self.op:
            case Op.EXISTS:
                return self.key
            case Op.DOES_NOT_EXIST:
                return "!" + self.key
            case Op.IN | Op.NOT_IN:
                return f"{self.key} {self.op.value} ({','.join(sorted(self.values))})"
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
    """labels.NewRequirement for a parsed key (already valid): check the values, aggregated."""
    errors = []
    if op in (Op.GREATER_THAN, Op.LESS_THAN) and _parse_int64(values[0]) is None:
        message = "for 'Gt', 'Lt' operators, the value must be an integer"
        errors.append(_invalid("values[0]", values[0], [message]))
    for i, value in enumerate(values):
        if problems := _label_value_problems(value):
            errors.append(_invalid(f"values[{i}][{key}]", value, problems))
    if len(errors) > 1:
        raise SelectorError("[" + ", ".join(errors) + "]")
    if errors:
        raise SelectorError(errors[0])
    return Requirement(key, op, tuple(values))


# Token kinds of Kubernetes' selector lexer.
_EOS, _IDENT, _IN, _NOT_IN, _NOT, _COMMA, _OPEN, _CLOSE = range(8)
_EQ, _DEQ, _NEQ, _GT, _LT = range(8, 13)
_SYMBOLS = {
    ")": _CLOSE,
    ",": _COMMA,
    "!": _NOT,
    "==": _DEQ,
    "=": _EQ,
    ">": _GT,
    "<": _LT,
    "!=": _NEQ,
    "(": _OPEN,
}
_KEYWORDS = {"in": _IN, "notin": _NOT_IN}
_SPECIAL = frozenset("=!(),><")
_BLANK = frozenset(" \t\r\n")
_ENDS_IDENTIFIER = _SPECIAL | _BLANK | {"\0"}
_BINARY_OPS = {
    _IN: Op.IN,
    _NOT_IN: Op.NOT_IN,
    _EQ: Op.EQUALS,
    _DEQ: Op.DOUBLE_EQUALS,
    _NEQ: Op.NOT_EQUALS,
    _GT: Op.GREATER_THAN,
    _LT: Op.LESS_THAN,
}
_EXPECTED_OPS = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> list[tuple[int, str]]:
    """All tokens up to end of string. A NUL ends the string, as Go's lexer reads it."""
    tokens: list[tuple[int, str]] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _BLANK:
            pos += 1
        if pos >= end or text[pos] == "\0":
            tokens.append((_EOS, ""))
            return tokens
        if text[pos] in _SPECIAL:
            # Longest run of special characters that is still a token.
            length = 1
            while pos + length < end and text[pos : pos + length + 1] in _SYMBOLS:
                length += 1
            literal = text[pos : pos + length]
            tokens.append((_SYMBOLS[literal], literal))
            pos += length
            if pos < end and text[pos] == "\0":
                pos += 1  # Go consumes the NUL that ends a run of symbols
            continue
        start = pos
        while pos < end and text[pos] not in _ENDS_IDENTIFIER:
            pos += 1
        literal = text[start:pos]
        if pos < end and text[pos] == "\0":
            pos += 1  # Go consumes the NUL that ends an identifier
        tokens.append((_KEYWORDS.get(literal, _IDENT), literal))


class _Parser:
    """Recursive descent over the token list; `values` context reads in/notin as identifiers."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[int, str]:
        return self._as(self.tokens[self.pos], values)

    def take(self, values: bool = True) -> tuple[int, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return self._as(token, values)

    @staticmethod
    def _as(token: tuple[int, str], values: bool) -> tuple[int, str]:
        if values and token[0] in (_IN, _NOT_IN):
            return _IDENT, token[1]
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind == _EOS:
                return requirements
            if kind not in (_IDENT, _NOT):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err.message}") from None
            kind, literal = self.take()
            if kind == _EOS:
                return requirements
            if kind != _COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in (_IDENT, _NOT):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        kind, key = self.take()
        negated = kind == _NOT
        if negated:
            kind, key = self.take()
        if kind != _IDENT:
            raise SelectorError(f"found '{key}', expected: identifier")
        if problems := _label_key_problems(key):
            raise SelectorError(_invalid("<nil>", key, problems))
        if negated:
            return _new_requirement(key, Op.DOES_NOT_EXIST, [])
        if self.peek()[0] in (_EOS, _COMMA):
            return _new_requirement(key, Op.EXISTS, [])
        kind, literal = self.take(values=False)
        op = _BINARY_OPS.get(kind)
        if op is None:
            raise SelectorError(f"found '{literal}', expected: {_EXPECTED_OPS}")
        values = self.value_set() if op in (Op.IN, Op.NOT_IN) else self.exact_value()
        return _new_requirement(key, op, sorted(values))

    def value_set(self) -> set[str]:
        kind, literal = self.take()
        if kind != _OPEN:
            raise SelectorError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind == _CLOSE:
            self.take()
            return {""}
        if kind not in (_IDENT, _COMMA):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        self.take()  # identifiers() returns only in front of ')'
        return values

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            kind, literal = self.take()
            if kind == _IDENT:
                values.add(literal)
                after, after_literal = self.peek()
                if after == _CLOSE:
                    return values
                if after != _COMMA:
                    raise SelectorError(f"found '{after_literal}', expected: ',' or ')'")
            elif kind == _COMMA:
                # A comma with nothing before or after it is an empty value.
                if not values or self.peek()[0] in (_CLOSE, _COMMA):
                    values.add("")
                if self.peek()[0] == _CLOSE:
                    return values
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_EOS, _COMMA):
            return {""}
        kind, literal = self.take()
        if kind != _IDENT:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return {literal}


@functools.lru_cache(maxsize=4096)  # the same few selectors come with every HPA sync
def parse_selector(text: str | None) -> Selector:
    """labels.Parse: a selector, or SelectorError (a 400) with Kubernetes' own message."""
    if not text:
        return EVERYTHING
    requirements = _Parser(text).parse()
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))
