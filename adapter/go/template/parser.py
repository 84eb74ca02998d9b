"""text/template's parser: items to a tree, with Go's error messages."""

from __future__ import annotations

import re

import adapter.go.template.nodes as nodes
from adapter.go import fmt as gofmt
from adapter.go.template.funcs import _FUNCS
from adapter.go.template.lexer import _Item, _Lexer


class TemplateError(Exception):
    """A template that does not parse, or fails while executing; text/template's words."""


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

    def parse(self) -> nodes.List:
        root = nodes.List(0)
        while self.peek().kind != "EOF":
            node = self.text_or_action()
            if isinstance(node, (nodes.End, nodes.Else)):
                raise self.fail(f"unexpected {node}")
            root.nodes.append(node)
        return root

    def item_list(self) -> tuple[nodes.List, nodes.Node]:
        body = nodes.List(self.peek_non_space().pos)
        while self.peek_non_space().kind != "EOF":
            node = self.text_or_action()
            if isinstance(node, (nodes.End, nodes.Else)):
                return body, node
            body.nodes.append(node)
        raise self.fail("unexpected EOF")

    def text_or_action(self) -> nodes.Node:
        item = self.next_non_space()
        if item.kind == "TEXT":
            return nodes.Text(item.pos, item.val)
        if item.kind == "LEFT":
            return self.action()
        raise self.unexpected(item, "input")

    def action(self) -> nodes.Node:
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
            return nodes.Break(item.pos) if kind == "BREAK" else nodes.Continue(item.pos)
        if kind == "ELSE":
            peek = self.peek_non_space()
            if peek.kind in ("IF", "WITH"):
                return nodes.Else(peek.pos)
            return nodes.Else(self.expect("RIGHT", "else").pos)
        if kind == "END":
            return nodes.End(self.expect("RIGHT", "end").pos)
        if kind in ("IF", "RANGE", "WITH"):
            return self.control(item.val)
        self.backup()
        return nodes.Action(self.peek().pos, self.pipeline("command", "RIGHT"))

    def control(self, context: str) -> nodes.Branch:
        mark = len(self.vars)
        pipe = self.pipeline(context, "RIGHT")
        if context == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body = None
        if isinstance(nxt, nodes.Else):
            if context in ("if", "with") and self.peek().kind == context.upper():
                self.next()
                else_body = nodes.List(nxt.pos, [self.control(context)])
            else:
                else_body, nxt = self.item_list()
                if not isinstance(nxt, nodes.End):
                    raise self.fail(f"expected end; found {nxt}")
        del self.vars[mark:]
        return nodes.Branch(pipe.pos, context, pipe, body, else_body)

    def pipeline(self, context: str, end: str) -> nodes.Pipe:
        pipe = nodes.Pipe(self.peek_non_space().pos)
        while self.peek_non_space().kind == "VAR":
            restart = self.i
            var = self.next()
            nxt = self.peek_non_space()
            if nxt.kind in ("ASSIGN", "DECLARE"):
                pipe.is_assign = nxt.kind == "ASSIGN"
                self.next_non_space()
                pipe.decl.append(nodes.Variable(var.pos, [var.val]))
                self.vars.append(var.val)
                break
            if nxt.kind == "CHAR_ITEM" and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(nodes.Variable(var.pos, [var.val]))
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

    def check_pipeline(self, pipe: nodes.Pipe, context: str) -> None:
        if not pipe.cmds:
            raise self.fail(f"missing value for {context}")
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(
                cmd.args[0], (nodes.Bool, nodes.Dot, nodes.Nil, nodes.Number, nodes.String)
            ):
                raise self.fail(f"non executable command in pipeline stage {stage}")

    def command(self) -> nodes.Command:
        cmd = nodes.Command(self.peek_non_space().pos)
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

    def operand(self) -> nodes.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == "FIELD":
            fields: list[str] = []
            while self.peek().kind == "FIELD":
                fields.append(self.next().val[1:])
            if isinstance(node, nodes.Field):
                return nodes.Field(node.pos, node.idents + fields)
            if isinstance(node, nodes.Variable):
                return nodes.Variable(node.pos, node.idents + fields)
            if isinstance(node, (nodes.Bool, nodes.String, nodes.Number, nodes.Nil, nodes.Dot)):
                raise self.fail(f"unexpected . after term {gofmt.quote(str(node))}")
            return nodes.Chain(node.pos, node, fields)
        return node

    def term(self) -> nodes.Node | None:
        item = self.next_non_space()
        kind = item.kind
        if kind == "IDENT":
            if item.val not in _FUNCS:
                raise self.fail(f"function {gofmt.quote(item.val)} not defined", item.line)
            return nodes.Identifier(item.pos, item.val)
        if kind == "DOT":
            return nodes.Dot(item.pos)
        if kind == "NIL":
            return nodes.Nil(item.pos)
        if kind == "VAR":
            if item.val not in self.vars:
                raise self.fail(f"undefined variable {gofmt.quote(item.val)}", item.line)
            return nodes.Variable(item.pos, [item.val])
        if kind == "FIELD":
            return nodes.Field(item.pos, [item.val[1:]])
        if kind == "BOOL":
            return nodes.Bool(item.pos, item.val == "true")
        if kind in ("CHAR", "NUMBER"):
            try:
                return nodes.Number(item.pos, item.val, _parse_number(item.val, kind))
            except ValueError as err:
                raise self.fail(str(err), item.line) from None
        if kind == "LPAREN":
            return self.pipeline("parenthesized pipeline", "RPAREN")
        if kind in ("STRING", "RAW"):
            try:
                return nodes.String(item.pos, item.val, _unquote(item.val))
            except ValueError as err:
                raise self.fail(str(err), item.line) from None
        self.backup()
        return None
