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
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from adapter.go import fmt as gofmt
from adapter.go.fmt import GoStruct

LEFT_DELIM = "<<"
RIGHT_DELIM = ">>"
_SPACE = " \t\r\n"


class TemplateError(Exception):
    """A template that does not parse, or fails while executing; text/template's words."""


class _Missing:
    """Go's invalid reflect.Value: a missing map key. Prints as `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


_MISSING = _Missing()
_NO_FINAL = object()  # no previous pipeline stage to pass as a final argument

# -- lexer -----------------------------------------------------------------------------

_KEYWORDS = {
    ".": "DOT",
    "block": "BLOCK",
    "break": "BREAK",
    "continue": "CONTINUE",
    "define": "DEFINE",
    "else": "ELSE",
    "end": "END",
    "if": "IF",
    "range": "RANGE",
    "nil": "NIL",
    "template": "TEMPLATE",
    "with": "WITH",
}


@dataclass(frozen=True)
class _Item:
    kind: str
    val: str
    pos: int
    line: int

    def __str__(self) -> str:
        if self.kind == "EOF":
            return "EOF"
        if self.kind == "ERROR":
            return self.val
        if self.kind in _KEYWORDS.values():
            return f"<{self.val}>"
        if len(self.val) > 10:
            return gofmt.quote(self.val[:10]) + "..."
        return gofmt.quote(self.val)


def _is_alnum(ch: str) -> bool:
    if not ch:
        return False
    if ch == "_":
        return True
    category = unicodedata.category(ch)
    return category[0] == "L" or category == "Nd"


def _rune(ch: str) -> str:
    """Go's %#U: U+0023 '#'."""
    return f"U+{ord(ch):04X} '{ch}'"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.items: list[_Item] = []

    def emit(self, kind: str, start: int, end: int, line: int) -> None:
        self.items.append(_Item(kind, self.text[start:end], start, line))

    def error(self, message: str, line: int) -> None:
        self.items.append(_Item("ERROR", message, self.pos, line))

    def run(self) -> list[_Item]:
        text = self.text
        while True:
            x = text.find(LEFT_DELIM, self.pos)
            if x < 0:
                if self.pos < len(text):
                    self.emit("TEXT", self.pos, len(text), self.line)
                self.line += text.count("\n", self.pos)
                self.items.append(_Item("EOF", "", len(text), self.line))
                return self.items
            after = x + len(LEFT_DELIM)
            trim = text[after : after + 1] == "-" and text[after + 1 : after + 2] in tuple(_SPACE)
            end = x
            if trim:
                end = len(text[self.pos : x].rstrip(_SPACE)) + self.pos
            if end > self.pos:
                self.emit("TEXT", self.pos, end, self.line)
            self.line += text.count("\n", self.pos, x)
            self.pos = after + (2 if trim else 0)
            if text.startswith("/*", self.pos):
                if not self.comment():
                    return self.items
                continue
            self.items.append(_Item("LEFT", LEFT_DELIM, x, self.line))
            if not self.inside_action():
                return self.items

    def at_right_delim(self) -> tuple[bool, bool]:
        text, pos = self.text, self.pos
        if (
            text[pos : pos + 1] in tuple(_SPACE)
            and text[pos + 1 : pos + 2] == "-"
            and text.startswith(RIGHT_DELIM, pos + 2)
        ):
            return True, True
        return text.startswith(RIGHT_DELIM, pos), False

    def skip_right_delim(self, trim: bool) -> None:
        self.pos += (2 if trim else 0) + len(RIGHT_DELIM)
        if trim:
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
                self.pos += 1
            self.line += self.text.count("\n", start, self.pos)

    def comment(self) -> bool:
        end = self.text.find("*/", self.pos + 2)
        if end < 0:
            self.error("unclosed comment", self.line)
            return False
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end + 2
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter", self.line)
            return False
        self.skip_right_delim(trim)
        return True

    def at_terminator(self) -> bool:
        ch = self.text[self.pos : self.pos + 1]
        if ch == "" or ch in _SPACE or ch in ".,|:)(":
            return True
        return self.text.startswith(RIGHT_DELIM, self.pos)

    def inside_action(self) -> bool:
        text = self.text
        depth = 0
        while True:
            delim, trim = self.at_right_delim()
            if delim:
                if depth:
                    self.error("unclosed left paren", self.line)
                    return False
                start = self.pos + (2 if trim else 0)
                self.items.append(_Item("RIGHT", RIGHT_DELIM, start, self.line))
                self.skip_right_delim(trim)
                return True
            if self.pos >= len(text):
                self.error("unclosed action", self.line)
                return False
            ch = text[self.pos]
            start, line = self.pos, self.line
            if ch in _SPACE:
                n = 0
                while self.pos < len(text) and text[self.pos] in _SPACE:
                    self.line += text[self.pos] == "\n"
                    self.pos += 1
                    n += 1
                # A trim-marked right delimiter starts with a space: leave it for the delim.
                if text[self.pos : self.pos + 1] == "-" and text.startswith(
                    RIGHT_DELIM, self.pos + 1
                ):
                    self.pos -= 1
                    self.line -= text[self.pos] == "\n"
                    if n == 1:
                        continue
                self.emit("SPACE", start, self.pos, line)
                continue
            self.pos += 1
            if ch == "=":
                self.emit("ASSIGN", start, self.pos, line)
            elif ch == ":":
                if text[self.pos : self.pos + 1] != "=":
                    self.error("expected :=", line)
                    return False
                self.pos += 1
                self.emit("DECLARE", start, self.pos, line)
            elif ch == "|":
                self.emit("PIPE", start, self.pos, line)
            elif ch == '"':
                if not self.quoted(start, '"', "STRING", "unterminated quoted string"):
                    return False
            elif ch == "`":
                end = text.find("`", self.pos)
                if end < 0:
                    self.error("unterminated raw quoted string", line)
                    return False
                self.line += text.count("\n", self.pos, end)
                self.pos = end + 1
                self.emit("RAW", start, self.pos, line)
            elif ch == "$":
                if not self.word(start, "VAR"):
                    return False
            elif ch == "'":
                if not self.quoted(start, "'", "CHAR", "unterminated character constant"):
                    return False
            elif ch == "." and not ("0" <= text[self.pos : self.pos + 1] <= "9"):
                if not self.word(start, "FIELD"):
                    return False
            elif ch in "+-." or "0" <= ch <= "9":
                self.pos = start
                if not self.number():
                    return False
            elif _is_alnum(ch):
                self.pos = start
                if not self.identifier():
                    return False
            elif ch == "(":
                depth += 1
                self.emit("LPAREN", start, self.pos, line)
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    self.error("unexpected right paren", line)
                    return False
                self.emit("RPAREN", start, self.pos, line)
            elif ord(ch) < 0x80 and ch.isprintable():
                self.emit("CHAR_ITEM", start, self.pos, line)
            else:
                self.error(f"unrecognized character in action: {_rune(ch)}", line)
                return False

    def quoted(self, start: int, quote: str, kind: str, unterminated: str) -> bool:
        text = self.text
        while True:
            ch = text[self.pos : self.pos + 1]
            self.pos += 1
            if ch == "\\":
                nxt = text[self.pos : self.pos + 1]
                if nxt and nxt != "\n":
                    self.pos += 1
                    continue
                ch = nxt or ""
            if ch in ("", "\n"):
                self.error(unterminated, self.line)
                return False
            if ch == quote:
                self.emit(kind, start, self.pos, self.line)
                return True

    def word(self, start: int, kind: str) -> bool:
        """A field `.Name` or variable `$name` (the `.` or `$` is consumed)."""
        if self.at_terminator():
            self.emit("VAR" if kind == "VAR" else "DOT", start, self.pos, self.line)
            return True
        while self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1
        if not self.at_terminator():
            self.error(f"bad character {_rune(self.text[self.pos])}", self.line)
            return False
        self.emit(kind, start, self.pos, self.line)
        return True

    def identifier(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1
        if not self.at_terminator():
            self.error(f"bad character {_rune(self.text[self.pos])}", self.line)
            return False
        word = self.text[start : self.pos]
        if word in _KEYWORDS:
            self.emit(_KEYWORDS[word], start, self.pos, self.line)
        elif word in ("true", "false"):
            self.emit("BOOL", start, self.pos, self.line)
        else:
            self.emit("IDENT", start, self.pos, self.line)
        return True

    def accept(self, valid: str) -> bool:
        if self.pos < len(self.text) and self.text[self.pos] in valid:
            self.pos += 1
            return True
        return False

    def accept_run(self, valid: str) -> None:
        while self.accept(valid):
            pass

    def number(self) -> bool:
        start = self.pos
        ok = self.scan_number()
        if ok and self.text[self.pos : self.pos + 1] in ("+", "-"):
            ok = self.scan_number() and self.text[self.pos - 1] == "i"
            if ok:
                self.error("complex numbers are not supported by Surge", self.line)
                return False
        if not ok:
            bad = gofmt.quote(self.text[start : self.pos])
            self.error(f"bad number syntax: {bad}", self.line)
            return False
        self.emit("NUMBER", start, self.pos, self.line)
        return True

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.text[self.pos : self.pos + 1]):
            self.pos += 1
            return False
        return True


# -- nodes -----------------------------------------------------------------------------


@dataclass(eq=False)
class _Node:
    pos: int


@dataclass(eq=False)
class _Text(_Node):
    text: str


@dataclass(eq=False)
class _Field(_Node):
    idents: list[str]

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


@dataclass(eq=False)
class _Variable(_Node):
    idents: list[str]  # idents[0] is the variable, with its `$`

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclass(eq=False)
class _Identifier(_Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class _Dot(_Node):
    def __str__(self) -> str:
        return "."


@dataclass(eq=False)
class _Nil(_Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(eq=False)
class _Bool(_Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(eq=False)
class _Number(_Node):
    text: str
    value: int | float

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class _String(_Node):
    quoted: str
    value: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(eq=False)
class _Chain(_Node):
    node: _Node
    fields: list[str]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


@dataclass(eq=False)
class _Command(_Node):
    args: list[_Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


@dataclass(eq=False)
class _Pipe(_Node):
    decl: list[_Variable] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[_Command] = field(default_factory=list)

    def __str__(self) -> str:
        text = ""
        if self.decl:
            text = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return text + " | ".join(str(c) for c in self.cmds)


@dataclass(eq=False)
class _Action(_Node):
    pipe: _Pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(eq=False)
class _List(_Node):
    nodes: list[_Node] = field(default_factory=list)


@dataclass(eq=False)
class _Branch(_Node):
    kind: str  # if, with, range
    pipe: _Pipe
    body: _List
    else_body: _List | None

    def __str__(self) -> str:
        return "{{" + f"{self.kind} {self.pipe}" + "}}"


@dataclass(eq=False)
class _Break(_Node):
    pass


@dataclass(eq=False)
class _Continue(_Node):
    pass


@dataclass(eq=False)
class _End(_Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass(eq=False)
class _Else(_Node):
    def __str__(self) -> str:
        return "{{else}}"


# -- parser ----------------------------------------------------------------------------

_UNQUOTE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def _unquote(text: str) -> str:
    """strconv.Unquote for "..." strings and '...' rune literals."""
    if text[0] == "`":
        return text[1:-1].replace("\r", "")
    quote, body = text[0], text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote:
            raise ValueError("invalid syntax")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        esc = body[i : i + 1]
        i += 1
        other_quote = "'" if quote == '"' else '"'
        if esc in _UNQUOTE_ESCAPES and esc != other_quote:
            out.append(_UNQUOTE_ESCAPES[esc])
        elif esc in ("x", "u", "U"):
            n = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i : i + n]
            if len(digits) != n or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            value = int(digits, 16)
            if esc != "x" and (value > 0x10FFFF or 0xD800 <= value <= 0xDFFF):
                raise ValueError("invalid syntax")
            out.append(chr(value))
            i += n
        elif esc and "0" <= esc <= "7":
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 8)))
            i += 2
        else:
            raise ValueError("invalid syntax")
    result = "".join(out)
    if quote == "'" and len(result) != 1:
        raise ValueError("invalid syntax")
    return result


def _parse_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64): 0x, 0o, 0b, a leading-0 octal, underscores."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB":
        value = int(body, 8)
    else:
        value = int(body, 0)
    value *= sign
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError("out of range")
    return value


def _parse_number(text: str, kind: str) -> int | float:
    """parse.newNumber plus exec's idealConstant: an int unless it is written as a float."""
    if kind == "CHAR":
        return ord(_unquote(text))
    is_hex = text.lstrip("+-")[:2] in ("0x", "0X")
    try:
        return _parse_int(text)
    except ValueError:
        pass
    try:
        value = float.fromhex(text) if is_hex else float(text)
    except ValueError:
        raise ValueError(f"illegal number syntax: {gofmt.quote(text)}") from None
    if not re.search(r"[.pP]" if is_hex else r"[.eEpP]", text):
        raise ValueError(f"integer overflow: {gofmt.quote(text)}")
    return value


class _Parser:
    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.items = _Lexer(text).run()
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0

    def fail(self, message: str, line: int | None = None) -> TemplateError:
        if line is None:
            line = self.items[max(self.i - 1, 0)].line
        return TemplateError(f"template: {self.name}:{line}: {message}")

    def next(self) -> _Item:
        item = self.items[min(self.i, len(self.items) - 1)]
        self.i += 1
        return item

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def peek(self) -> _Item:
        return self.items[min(self.i, len(self.items) - 1)]

    def next_non_space(self) -> _Item:
        item = self.next()
        while item.kind == "SPACE":
            item = self.next()
        return item

    def peek_non_space(self) -> _Item:
        item = self.next_non_space()
        self.backup()
        return item

    def unexpected(self, item: _Item, context: str) -> TemplateError:
        if item.kind == "ERROR":
            return self.fail(item.val, item.line)
        return self.fail(f"unexpected {item} in {context}", item.line)

    def expect(self, kind: str, context: str) -> _Item:
        item = self.next_non_space()
        if item.kind != kind:
            raise self.unexpected(item, context)
        return item

    # grammar

    def parse(self) -> _List:
        root = _List(0)
        while self.peek().kind != "EOF":
            node = self.text_or_action()
            if isinstance(node, (_End, _Else)):
                raise self.fail(f"unexpected {node}")
            root.nodes.append(node)
        return root

    def item_list(self) -> tuple[_List, _Node]:
        body = _List(self.peek_non_space().pos)
        while self.peek_non_space().kind != "EOF":
            node = self.text_or_action()
            if isinstance(node, (_End, _Else)):
                return body, node
            body.nodes.append(node)
        raise self.fail("unexpected EOF")

    def text_or_action(self) -> _Node:
        item = self.next_non_space()
        if item.kind == "TEXT":
            return _Text(item.pos, item.val)
        if item.kind == "LEFT":
            return self.action()
        raise self.unexpected(item, "input")

    def action(self) -> _Node:
        item = self.next_non_space()
        kind = item.kind
        if kind in ("BLOCK", "DEFINE", "TEMPLATE"):
            raise self.fail(f"{{{{{item.val}}}}} is not supported by Surge", item.line)
        if kind in ("BREAK", "CONTINUE"):
            closing = self.next_non_space()
            if closing.kind != "RIGHT":
                raise self.unexpected(closing, "{{" + item.val + "}}")
            if not self.range_depth:
                raise self.fail("{{" + item.val + "}} outside {{range}}", item.line)
            return _Break(item.pos) if kind == "BREAK" else _Continue(item.pos)
        if kind == "ELSE":
            peek = self.peek_non_space()
            if peek.kind in ("IF", "WITH"):
                return _Else(peek.pos)
            return _Else(self.expect("RIGHT", "else").pos)
        if kind == "END":
            return _End(self.expect("RIGHT", "end").pos)
        if kind in ("IF", "RANGE", "WITH"):
            return self.control(item.val)
        self.backup()
        return _Action(self.peek().pos, self.pipeline("command", "RIGHT"))

    def control(self, context: str) -> _Branch:
        mark = len(self.vars)
        pipe = self.pipeline(context, "RIGHT")
        if context == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body = None
        if isinstance(nxt, _Else):
            if context in ("if", "with") and self.peek().kind == context.upper():
                self.next()
                else_body = _List(nxt.pos, [self.control(context)])
            else:
                else_body, nxt = self.item_list()
                if not isinstance(nxt, _End):
                    raise self.fail(f"expected end; found {nxt}")
        del self.vars[mark:]
        return _Branch(pipe.pos, context, pipe, body, else_body)

    def pipeline(self, context: str, end: str) -> _Pipe:
        pipe = _Pipe(self.peek_non_space().pos)
        while self.peek_non_space().kind == "VAR":
            restart = self.i
            var = self.next()
            nxt = self.peek_non_space()
            if nxt.kind in ("ASSIGN", "DECLARE"):
                pipe.is_assign = nxt.kind == "ASSIGN"
                self.next_non_space()
                pipe.decl.append(_Variable(var.pos, [var.val]))
                self.vars.append(var.val)
                break
            if nxt.kind == "CHAR_ITEM" and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(_Variable(var.pos, [var.val]))
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("VAR", "RIGHT", "RPAREN"):
                        continue
                    raise self.fail("range can only initialize variables")
                raise self.fail(f"too many declarations in {context}")
            self.i = restart  # `$x foo`: the variable is an operand, not a declaration
            break
        while True:
            item = self.next_non_space()
            if item.kind == end:
                self.check_pipeline(pipe, context)
                return pipe
            if item.kind in (
                "BOOL",
                "CHAR",
                "DOT",
                "FIELD",
                "IDENT",
                "NUMBER",
                "NIL",
                "RAW",
                "STRING",
                "VAR",
                "LPAREN",
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(item, context)

    def check_pipeline(self, pipe: _Pipe, context: str) -> None:
        if not pipe.cmds:
            raise self.fail(f"missing value for {context}")
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], (_Bool, _Dot, _Nil, _Number, _String)):
                raise self.fail(f"non executable command in pipeline stage {stage}")

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            item = self.next()
            if item.kind == "SPACE":
                continue
            if item.kind in ("RIGHT", "RPAREN"):
                self.backup()
            elif item.kind != "PIPE":
                raise self.unexpected(item, "operand")
            break
        if not cmd.args:
            raise self.fail("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == "FIELD":
            fields: list[str] = []
            while self.peek().kind == "FIELD":
                fields.append(self.next().val[1:])
            if isinstance(node, _Field):
                return _Field(node.pos, node.idents + fields)
            if isinstance(node, _Variable):
                return _Variable(node.pos, node.idents + fields)
            if isinstance(node, (_Bool, _String, _Number, _Nil, _Dot)):
                raise self.fail(f"unexpected . after term {gofmt.quote(str(node))}")
            return _Chain(node.pos, node, fields)
        return node

    def term(self) -> _Node | None:
        item = self.next_non_space()
        kind = item.kind
        if kind == "IDENT":
            if item.val not in _FUNCS:
                raise self.fail(f"function {gofmt.quote(item.val)} not defined", item.line)
            return _Identifier(item.pos, item.val)
        if kind == "DOT":
            return _Dot(item.pos)
        if kind == "NIL":
            return _Nil(item.pos)
        if kind == "VAR":
            if item.val not in self.vars:
                raise self.fail(f"undefined variable {gofmt.quote(item.val)}", item.line)
            return _Variable(item.pos, [item.val])
        if kind == "FIELD":
            return _Field(item.pos, [item.val[1:]])
        if kind == "BOOL":
            return _Bool(item.pos, item.val == "true")
        if kind in ("CHAR", "NUMBER"):
            try:
                return _Number(item.pos, item.val, _parse_number(item.val, kind))
            except ValueError as err:
                raise self.fail(str(err), item.line) from None
        if kind == "LPAREN":
            return self.pipeline("parenthesized pipeline", "RPAREN")
        if kind in ("STRING", "RAW"):
            try:
                return _String(item.pos, item.val, _unquote(item.val))
            except ValueError as err:
                raise self.fail(str(err), item.line) from None
        self.backup()
        return None


# -- execution -------------------------------------------------------------------------


class _Break_(Exception):
    pass


class _Continue_(Exception):
    pass


def _truth(value: Any) -> bool:
    """text/template's truth: the zero value of its type is false; a struct is true."""
    if value is _MISSING or value is None:
        return False
    if isinstance(value, GoStruct):
        return True
    if isinstance(value, (bool, int, float)):
        return bool(value)
    if isinstance(value, (str, Mapping, Sequence)):
        return len(value) > 0
    return True


def _kind(value: Any) -> str:
    if value is _MISSING or value is None:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


class _FuncError(Exception):
    """A builtin's returned error: wrapped as `error calling NAME: ...`."""


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise _FuncError("missing argument for comparison")
    ka = _kind(a)
    for b in others:
        kb = _kind(b)
        if ka != kb:
            if ka != "invalid" and kb != "invalid":
                raise _FuncError("incompatible types for comparison")
            continue
        if ka == "other":
            if isinstance(a, (Mapping, Sequence, GoStruct)) or isinstance(b, (Mapping, Sequence)):
                raise _FuncError(
                    f"non-comparable type {gofmt.format_value(a)}: {gofmt.type_name(a)}"
                )
        if ka == "invalid" or a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        raise _FuncError("incompatible types for comparison")
    if ka in ("bool", "invalid", "other"):
        raise _FuncError("invalid type for comparison")
    return bool(a < b)


def _len(item: Any) -> int:
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogateescape"))
    if isinstance(item, (Mapping, Sequence)) and not isinstance(item, GoStruct):
        return len(item)
    raise _FuncError(f"len of type {gofmt.type_name(item)}")


def _index_of(value: Any, length: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FuncError(f"cannot index slice/array with type {gofmt.type_name(value)}")
    if value < 0 or value >= length:
        raise _FuncError(f"index out of range: {value}")
    return value


def _index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise _FuncError("index of untyped nil")
    for index in indexes:
        if isinstance(item, str):
            data = item.encode("utf-8", "surrogateescape")
            item = data[_index_of(index, len(data))]
        elif isinstance(item, Mapping):
            if not isinstance(index, str):
                raise _FuncError(f"value has type {gofmt.type_name(index)}; should be string")
            item = item.get(index, "")  # a missing key gives the element's zero value
        elif isinstance(item, Sequence) and not isinstance(item, GoStruct):
            item = item[_index_of(index, len(item))]
        elif item is _MISSING or item is None:
            raise _FuncError("index of nil pointer")
        else:
            raise _FuncError(f"can't index item of type {gofmt.type_name(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if isinstance(item, str):
        if len(indexes) > 2:
            raise _FuncError("cannot 3-index slice a string")
        data: Any = item.encode("utf-8", "surrogateescape")
    elif isinstance(item, Sequence) and not isinstance(item, (GoStruct, Mapping)):
        if len(indexes) > 3:
            raise _FuncError(f"too many slice indexes: {len(indexes)}")
        data = item
    else:
        raise _FuncError(f"can't slice item of type {gofmt.type_name(item)}")
    bounds = [0, len(data)]
    for i, index in enumerate(indexes[:2]):
        if isinstance(index, bool) or not isinstance(index, int):
            raise _FuncError(f"cannot index slice/array with type {gofmt.type_name(index)}")
        if index < 0 or index > len(data):
            raise _FuncError(f"index out of range: {index}")
        bounds[i] = index
    if bounds[0] > bounds[1]:
        raise _FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    result = data[bounds[0] : bounds[1]]
    return result.decode("utf-8", "surrogateescape") if isinstance(result, bytes) else result


def _eval_args_text(args: Sequence[Any]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return gofmt.sprint(*args)


def _html(*args: Any) -> str:
    text = _eval_args_text(args)
    table = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
    return "".join(table.get(ch, ch) for ch in text)


def _js(*args: Any) -> str:
    text = _eval_args_text(args)
    out: list[str] = []
    for ch in text:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x80 and not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) >= 0x80 and not gofmt.is_print(ch):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return quote_plus(_eval_args_text(args), safe="")


def _call(fn: Any, *args: Any) -> Any:
    raise _FuncError(f"non-function of type {gofmt.type_name(fn)}")


def _printf(fmt: Any, *args: Any) -> str:
    return gofmt.sprintf(fmt, *args)


@dataclass(frozen=True)
class _Builtin:
    """A builtin's signature; `reflect` parameters (reflect.Value) refuse a missing value."""

    fn: Callable[..., Any] | None  # None: and/or, which evaluate their operands lazily
    fixed: int
    variadic: bool
    reflect: bool


_FUNCS = {
    "and": _Builtin(None, 1, True, True),
    "or": _Builtin(None, 1, True, True),
    "call": _Builtin(_call, 1, True, True),
    "eq": _Builtin(_eq, 1, True, True),
    "ge": _Builtin(lambda a, b: not _lt(a, b), 2, False, True),
    "gt": _Builtin(lambda a, b: not (_lt(a, b) or _eq(a, b)), 2, False, True),
    "html": _Builtin(_html, 0, True, False),
    "index": _Builtin(_index, 1, True, True),
    "js": _Builtin(_js, 0, True, False),
    "le": _Builtin(lambda a, b: _lt(a, b) or _eq(a, b), 2, False, True),
    "len": _Builtin(_len, 1, False, True),
    "lt": _Builtin(_lt, 2, False, True),
    "ne": _Builtin(lambda a, b: not _eq(a, b), 2, False, True),
    "not": _Builtin(lambda a: not _truth(a), 1, False, True),
    "print": _Builtin(gofmt.sprint, 0, True, False),
    "printf": _Builtin(_printf, 1, True, False),
    "println": _Builtin(gofmt.sprintln, 0, True, False),
    "slice": _Builtin(_slice, 1, True, True),
    "urlquery": _Builtin(_urlquery, 0, True, False),
}


class _State:
    def __init__(self, template: Template, data: Any) -> None:
        self.template = template
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.node: _Node | None = None
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

    def walk(self, dot: Any, node: _Node) -> None:
        self.node = node
        if isinstance(node, _Text):
            self.out.append(node.text)
        elif isinstance(node, _List):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, _Action):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, _Branch):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, _Break):
            raise _Break_()
        elif isinstance(node, _Continue):
            raise _Continue_()
        else:  # pragma: no cover - the parser makes no other nodes
            raise self.fail(f"unknown node: {node}")

    def print_value(self, node: _Node, value: Any) -> None:
        self.node = node
        self.out.append("<no value>" if value is _MISSING else gofmt.format_value(value))

    def walk_if_or_with(self, dot: Any, node: _Branch) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if _truth(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: _Branch) -> None:
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
                    except _Continue_:
                        pass
                    finally:
                        del self.vars[body_mark:]
            except _Break_:
                return
            if not pairs and node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    # evaluation

    def eval_pipeline(self, dot: Any, pipe: _Pipe) -> Any:
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

    def not_a_function(self, args: list[_Node], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise self.fail(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Field):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, _Chain):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, _Identifier):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, _Variable):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, _Bool):
            return first.value
        if isinstance(first, _Dot):
            return dot
        if isinstance(first, _Nil):
            raise self.fail("nil is not a command")
        if isinstance(first, _Number):
            return first.value
        if isinstance(first, _String):
            return first.value
        raise self.fail(f"can't evaluate command {gofmt.quote(str(first))}")  # pragma: no cover

    def eval_chain(self, dot: Any, chain: _Chain, args: list[_Node], final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, _Nil):
            raise self.fail(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, chain.node, reflect=False)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(self, dot: Any, var: _Variable, args: list[_Node], final: Any) -> Any:
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
        node: _Node,
        idents: list[str],
        args: list[_Node],
        final: Any,
    ) -> Any:
        for name in idents[:-1]:
            receiver = self.eval_field(name, [], _NO_FINAL, receiver)
        return self.eval_field(idents[-1], args, final, receiver)

    def eval_field(self, name: str, args: list[_Node], final: Any, receiver: Any) -> Any:
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

    def eval_arg(self, dot: Any, node: _Node, *, reflect: bool) -> Any:
        """An argument's value; a function taking reflect.Value refuses a missing value."""
        self.node = node
        value: Any
        if isinstance(node, _Dot):
            value = dot
        elif isinstance(node, _Nil):
            if reflect:
                raise self.fail("cannot assign nil to reflect.Value")
            value = None
        elif isinstance(node, _Field):
            value = self.eval_field_chain(dot, dot, node, node.idents, [node], _NO_FINAL)
        elif isinstance(node, _Variable):
            value = self.eval_variable(dot, node, [], _NO_FINAL)
        elif isinstance(node, _Pipe):
            value = self.eval_pipeline(dot, node)
        elif isinstance(node, _Identifier):
            value = self.eval_function(dot, node, node, [], _NO_FINAL)
        elif isinstance(node, _Chain):
            value = self.eval_chain(dot, node, [], _NO_FINAL)
        elif isinstance(node, (_Bool, _Number, _String)):
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
        self, dot: Any, ident: _Identifier, cmd: _Node, args: list[_Node], final: Any
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

    def and_or(self, dot: Any, name: str, operands: list[_Node], final: Any) -> Any:
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
    if isinstance(node, _Field):
        found.update(node.idents)
    elif isinstance(node, _Variable):
        found.update(node.idents[1:])
    elif isinstance(node, _Chain):
        found.update(node.fields)
        _fields_of(node.node, found)
    elif isinstance(node, _List):
        for child in node.nodes:
            _fields_of(child, found)
    elif isinstance(node, _Action):
        _fields_of(node.pipe, found)
    elif isinstance(node, _Pipe):
        for cmd in node.cmds:
            for arg in cmd.args:
                _fields_of(arg, found)
    elif isinstance(node, _Branch):
        _fields_of(node.pipe, found)
        _fields_of(node.body, found)
        if node.else_body is not None:
            _fields_of(node.else_body, found)


@dataclass(frozen=True, eq=False)
class Template:
    """A parsed template; `execute` renders it, `fields` lists every field name it reads."""

    name: str
    text: str
    root: _List

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
