"""text/template's lexer: items between `<<` and `>>`, trim markers, Go's literals."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from adapter.go import fmt as gofmt

LEFT_DELIM = "<<"
RIGHT_DELIM = ">>"
_SPACE = " \t\r\n"


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
