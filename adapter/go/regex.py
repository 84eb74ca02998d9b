"""Go (RE2) regular expressions, run by Python's `re`, and regexp.ExpandString.

prometheus-adapter's `seriesFilters`, `name.matches` and the resource-label template are Go
regexes. Python's syntax differs in places that change meaning (`{,3}` is a repeat in
Python and a literal in Go; `\\12` is octal in Go and a back-reference in Python; `(?i)` is
scoped in Go and global in Python), so each pattern is translated token by token, and
whatever Go rejects (look-around, back-references, possessive repeats) is rejected here.
Matching uses re.ASCII, as Go's `\\d`, `\\w`, `\\s` and `\\b` are ASCII-only. Gaps that
cannot matter for metric and label names: `(?i)` folds only ASCII letters (Go: all of
Unicode), and `$` also matches before a final newline (names hold none).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass


class GoRegexError(ValueError):
    """A pattern Go would not compile (or Surge cannot run); message as Go words it."""


_PERL_FLAGS = frozenset("imsU")
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_PERL_CLASS_LETTERS = "dDsSwW"
_SIMPLE_ESCAPES = {"a": "\\a", "f": "\\f", "n": "\\n", "r": "\\r", "t": "\\t", "v": "\\v"}


def _error(code: str, expr: str) -> GoRegexError:
    return GoRegexError(f"error parsing regexp: {code}: `{expr}`")


def _literal(ch: str) -> str:
    """A character as a Python pattern literal, safe outside and inside a class."""
    if ch.isalnum() or ch == "_":
        return ch
    if ord(ch) < 0x80:
        return "\\" + ch if ch not in "\n\t\r\f\v\a\0" else f"\\x{ord(ch):02x}"
    return ch


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.pos = 0
        self.out: list[str] = []
        self.names: list[str] = [""]  # Go's SubexpNames: group 0 has no name
        # One frame per open group: its active (?flags) run that must reopen after `|`.
        self.frames: list[list[str]] = [[]]
        self.last_was_repeat = False
        self.can_repeat = False
        self.repeat_text = ""  # the last repetition operator, for Go's nested-repeat error

    # -- helpers --------------------------------------------------------------------

    def peek(self, n: int = 0) -> str:
        i = self.pos + n
        return self.src[i] if i < len(self.src) else ""

    def rest(self) -> str:
        return self.src[self.pos :]

    def emit(self, text: str, *, atom: bool) -> None:
        self.out.append(text)
        self.can_repeat = atom
        self.last_was_repeat = False

    # -- escapes --------------------------------------------------------------------

    def escape(self) -> str:
        """Translate the escape at self.pos (a backslash); return Python pattern text."""
        start = self.pos
        self.pos += 1
        if self.pos >= len(self.src):
            raise _error("trailing backslash at end of expression", "")
        ch = self.src[self.pos]
        self.pos += 1
        if ch in _PERL_CLASS_LETTERS:
            return "\\" + ch
        if ch in "pP":
            end = self.src.find("}", self.pos) + 1 if self.peek() == "{" else self.pos + 1
            raise GoRegexError(
                f"error parsing regexp: Unicode classes such as `{self.src[start : end or None]}` "
                "are not supported by Surge"
            )
        if ch.isascii() and not ch.isalnum():
            return _literal(ch)
        if ch in "1234567" and not ("0" <= self.peek() <= "7"):
            raise _error("invalid escape sequence", self.src[start : self.pos])
        if ch in "01234567":
            value = int(ch)
            for _ in range(2):
                if "0" <= self.peek() <= "7":
                    value = value * 8 + int(self.peek())
                    self.pos += 1
            return _literal(chr(value)) if value < 0x80 else chr(value)
        if ch == "x":
            return self.hex_escape(start)
        if ch in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[ch]
        raise _error("invalid escape sequence", self.src[start : self.pos])

    def hex_escape(self, start: int) -> str:
        if self.peek() == "{":
            end = self.src.find("}", self.pos)
            digits = self.src[self.pos + 1 : end] if end >= 0 else ""
            if end < 0 or not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
                self.pos = end + 1 if end >= 0 else len(self.src)
                raise _error("invalid escape sequence", self.src[start : self.pos])
            value = int(digits, 16)
            self.pos = end + 1
            if value > 0x10FFFF:
                raise _error("invalid escape sequence", self.src[start : self.pos])
        else:
            digits = self.src[self.pos : self.pos + 2]
            self.pos += len(digits)
            if len(digits) < 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise _error("invalid escape sequence", self.src[start : self.pos])
            value = int(digits, 16)
        return f"\\U{value:08x}"

    # -- classes --------------------------------------------------------------------

    def char_class(self) -> str:
        start = self.pos
        self.pos += 1  # [
        parts = ["["]
        if self.peek() == "^":
            parts.append("^")
            self.pos += 1
        first = True
        while True:
            if self.pos >= len(self.src):
                raise _error("missing closing ]", self.src[start:])
            ch = self.peek()
            if ch == "]" and not first:
                self.pos += 1
                break
            first = False
            if self.rest().startswith("[:"):
                end = self.src.find(":]", self.pos + 2)
                if end >= 0:
                    name = self.src[self.pos + 2 : end]
                    negated = name.startswith("^")
                    members = _POSIX_CLASSES.get(name.lstrip("^"))
                    if members is None:
                        raise _error("invalid character class range", self.src[self.pos : end + 2])
                    if negated:
                        raise GoRegexError(
                            f"error parsing regexp: negated POSIX class `[:{name}:]` "
                            "inside a class is not supported by Surge"
                        )
                    parts.append(members)
                    self.pos = end + 2
                    continue
            lo_start = self.pos
            lo, lo_char = self.class_char()
            if lo_char is None:  # \d and friends cannot start a range
                parts.append(lo)
                continue
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                hi, hi_char = self.class_char()
                if hi_char is None or hi_char < lo_char:
                    raise _error("invalid character class range", self.src[lo_start : self.pos])
                parts.append(f"{lo}-{hi}")
            else:
                parts.append(lo)
        parts.append("]")
        return "".join(parts)

    def class_char(self) -> tuple[str, str | None]:
        """One class member: (pattern text, the character or None for \\d-like sets)."""
        ch = self.peek()
        if ch != "\\":
            self.pos += 1
            return _literal(ch), ch
        start = self.pos
        if self.peek(1) in _PERL_CLASS_LETTERS and self.peek(1):
            self.pos += 2
            return "\\" + self.src[start + 1], None
        if self.peek(1) == "b":  # Go has no \b (backspace) in classes
            raise _error("invalid escape sequence", "\\b")
        text = self.escape()
        char = _char_of(text)
        return text, char

    # -- groups and repeats ---------------------------------------------------------

    def open_capture(self, name: str, length: int) -> None:
        """A capture group. Go may repeat a name or start it with a digit, Python may not,
        so Python sees `g<index>` and Go's names are kept in self.names."""
        self.names.append(name)
        self.pos += length
        self.out.append(f"(?P<g{len(self.names) - 1}>")
        self.frames.append([])
        self.can_repeat = False
        self.last_was_repeat = False

    def open_group(self) -> None:
        start = self.pos
        if self.peek(1) != "?":
            self.open_capture("", 1)
            return
        rest = self.rest()
        named = re.match(r"\(\?P?<([^>]*)>", rest)
        if named and (rest.startswith("(?P<") or rest.startswith("(?<")):
            name = named.group(1)
            if not name or not all(c == "_" or (c.isascii() and c.isalnum()) for c in name):
                raise _error("invalid named capture", named.group(0))
            self.open_capture(name, named.end())
            return
        i = self.pos + 2
        on: list[str] = []
        off: list[str] = []
        negative = False
        saw_flag = False
        while i < len(self.src):
            c = self.src[i]
            if c in _PERL_FLAGS:
                (off if negative else on).append(c)
                saw_flag = True
            elif c == "-" and not negative:
                negative = True
                saw_flag = False
            elif c in ":)" and not (negative and not saw_flag):
                break
            else:
                raise _error("invalid or unsupported Perl syntax", self.src[start : i + 1])
            i += 1
        else:
            raise _error("missing closing )", self.src)
        if "U" in on or "U" in off:
            raise GoRegexError(
                "error parsing regexp: the ungreedy flag `U` is not supported by Surge: "
                f"`{self.src[start : i + 1]}`"
            )
        flags = "".join(on) + ("-" + "".join(off) if off else "")
        self.pos = i + 1
        if self.src[i] == ":":
            self.out.append(f"(?{flags}:" if flags else "(?:")
            self.frames.append([])
            self.can_repeat = False
            self.last_was_repeat = False
            return
        # (?flags) applies to the rest of the enclosing group, across its `|` branches.
        if flags:
            self.out.append(f"(?{flags}:")
            self.frames[-1].append(flags)
        self.can_repeat = False
        self.last_was_repeat = False

    def close_flag_runs(self) -> None:
        self.out.append(")" * len(self.frames[-1]))

    def close_group(self) -> None:
        if len(self.frames) == 1:
            raise _error("unexpected )", self.src)
        self.close_flag_runs()
        self.frames.pop()
        self.pos += 1
        self.emit(")", atom=True)

    def alternate(self) -> None:
        self.close_flag_runs()
        self.out.append("|")
        self.out.extend(f"(?{flags}:" for flags in self.frames[-1])
        self.pos += 1
        self.can_repeat = False
        self.last_was_repeat = False

    def repeat(self, op: str, span: int) -> None:
        start = self.pos
        end = self.pos + span
        if end < len(self.src) and self.src[end] == "?":
            end += 1
        if self.last_was_repeat:
            raise _error(
                "invalid nested repetition operator", self.repeat_text + self.src[start:end]
            )
        if not self.can_repeat:
            raise _error("missing argument to repetition operator", self.src[start:end])
        self.out.append(op + self.src[start + span : end])
        self.repeat_text = self.src[start:end]
        self.pos = end
        self.last_was_repeat = True

    def brace(self) -> None:
        m = re.match(r"\{(\d+)(,(\d*))?\}", self.rest())
        valid = m is not None and not (
            (len(m.group(1)) > 1 and m.group(1)[0] == "0")
            or (m.group(3) and len(m.group(3)) > 1 and m.group(3)[0] == "0")
        )
        if not valid or m is None:
            self.pos += 1
            self.emit("\\{", atom=True)
            return
        low = int(m.group(1))
        high = int(m.group(3)) if m.group(3) else (-1 if m.group(2) else low)
        if low > 1000 or high > 1000 or (high >= 0 and low > high):
            raise _error("invalid repeat count", m.group(0))
        self.repeat(m.group(0), m.end())

    # -- main loop --------------------------------------------------------------------

    def translate(self) -> str:
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if ch == "(":
                self.open_group()
            elif ch == ")":
                self.close_group()
            elif ch == "|":
                self.alternate()
            elif ch in "*+?":
                self.repeat(ch, 1)
            elif ch == "{":
                self.brace()
            elif ch == "[":
                self.emit(self.char_class(), atom=True)
            elif ch == "^":
                self.pos += 1
                self.emit("^", atom=True)
            elif ch == "$":
                self.pos += 1
                self.emit("$", atom=True)
            elif ch == ".":
                self.pos += 1
                self.emit(".", atom=True)
            elif ch == "\\":
                self.backslash()
            else:
                self.pos += 1
                self.emit(_literal(ch), atom=True)
        if len(self.frames) != 1:
            raise _error("missing closing )", self.src)
        self.close_flag_runs()
        return "".join(self.out)

    def backslash(self) -> None:
        nxt = self.peek(1)
        if nxt in ("A", "b", "B"):
            self.pos += 2
            self.emit("\\" + nxt, atom=True)
        elif nxt == "z":
            self.pos += 2
            self.emit("\\Z", atom=True)
        elif nxt == "C":
            raise _error("invalid escape sequence", "\\C")
        elif nxt == "Q":
            end = self.src.find("\\E", self.pos + 2)
            literal = self.src[self.pos + 2 :] if end < 0 else self.src[self.pos + 2 : end]
            self.pos = len(self.src) if end < 0 else end + 2
            if literal:
                self.emit("(?:" + "".join(_literal(c) for c in literal) + ")", atom=True)
        else:
            self.emit(self.escape(), atom=True)


def _char_of(text: str) -> str | None:
    """The single character a translated escape stands for."""
    if text.startswith("\\U"):
        return chr(int(text[2:], 16))
    if text.startswith("\\x"):
        return chr(int(text[2:], 16))
    if len(text) == 2 and text[0] == "\\":
        simple = {"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
        return simple.get(text[1], text[1])
    return text if len(text) == 1 else None


@dataclass(frozen=True)
class GoRegex:
    """A compiled Go regex: Python's compiled form plus Go's own view of its groups."""

    source: str
    compiled: re.Pattern[str]
    subexp_names: tuple[str, ...]  # regexp.SubexpNames(): index 0 is the whole match

    @property
    def groups(self) -> int:
        return len(self.subexp_names) - 1

    def search(self, text: str) -> re.Match[str] | None:
        """MatchString / FindStringSubmatchIndex: unanchored, leftmost-first."""
        return self.compiled.search(text)

    def group_index(self, name: str) -> int | None:
        """The last group with that name, as lbl_res.go's loop over SubexpNames keeps it."""
        found = None
        for i, n in enumerate(self.subexp_names):
            if n == name:
                found = i
        return found

    def expand(self, template: str, match: re.Match[str]) -> str:
        """regexp.ExpandString: `$1`, `${1}`, `$name`, `${name}`, `$$`; longest name wins."""
        out: list[str] = []
        i = 0
        while i < len(template):
            j = template.find("$", i)
            if j < 0:
                out.append(template[i:])
                break
            out.append(template[i:j])
            i = j + 1
            if template[i : i + 1] == "$":
                out.append("$")
                i += 1
                continue
            name, rest_at = _extract(template, i)
            if name is None:
                out.append("$")
                continue
            i = rest_at
            out.append(self._group_text(name, match))
        return "".join(out)

    def _group_text(self, name: str, match: re.Match[str]) -> str:
        number = _group_number(name)
        if number is not None:
            if number <= self.groups and match.start(number) >= 0:
                return match.group(number) or ""
            return ""
        for i, n in enumerate(self.subexp_names):
            if n == name and match.start(i) >= 0:
                return match.group(i) or ""
        return ""


def _is_name_char(ch: str) -> bool:
    """unicode.IsLetter, unicode.IsDigit or underscore, as regexp's extract checks."""
    if ch == "_":
        return True
    category = unicodedata.category(ch)
    return category[0] == "L" or category == "Nd"


def _extract(template: str, i: int) -> tuple[str | None, int]:
    brace = template[i : i + 1] == "{"
    start = i + 1 if brace else i
    end = start
    while end < len(template) and _is_name_char(template[end]):
        end += 1
    if end == start:
        return None, i
    if brace:
        if template[end : end + 1] != "}":
            return None, i
        return template[start:end], end + 1
    return template[start:end], end


def _group_number(name: str) -> int | None:
    if not name.isascii() or not name.isdigit():
        return None
    if len(name) > 1 and name[0] == "0":
        return None
    number = int(name)
    return number if number < 100_000_000 else None


@functools.lru_cache(maxsize=1024)
def compile_go(pattern: str) -> GoRegex:
    """Compile a Go regex; raise GoRegexError with Go's wording where Go would fail."""
    translator = _Translator(pattern)
    python_pattern = translator.translate()
    try:
        compiled = re.compile(python_pattern, re.ASCII)
    except re.error as err:
        raise GoRegexError(f"error parsing regexp: {err.msg}: `{pattern}`") from None
    return GoRegex(pattern, compiled, tuple(translator.names))
