"""Go's value printing (fmt, strconv.Quote) for the values templates and matchers print.

prometheus-adapter quotes label values with `%q` and renders queries with text/template,
which prints through fmt; Surge must produce the same bytes, so it prints as Go does.
Go values are modelled as: str, bool, int, float, None (nil), list (a slice), dict (a map
with string keys) and GoStruct.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


class GoStruct:
    """A Go struct value: named fields in declaration order, with the Go type's name."""

    __slots__ = ("fields", "type_name")

    def __init__(self, type_name: str, fields: Mapping[str, Any]) -> None:
        self.type_name = type_name
        self.fields = dict(fields)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GoStruct)
            and other.type_name == self.type_name
            and other.fields == self.fields
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GoStruct({self.type_name!r}, {self.fields!r})"


def type_name(value: Any) -> str:
    """The Go type of a value, as fmt names it in `%!verb(type=value)`."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoStruct):
        return value.type_name
    if isinstance(value, Mapping):
        elem = type_name(next(iter(value.values()))) if value else "string"
        return f"map[string]{elem}"
    if isinstance(value, Sequence):
        return "[]" + (type_name(value[0]) if value else "string")
    return type(value).__name__


# -- strconv.Quote ----------------------------------------------------------------------


def is_print(ch: str) -> bool:
    """strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


_SHORT_ESCAPES = {
    "\a": r"\a",
    "\b": r"\b",
    "\f": r"\f",
    "\n": r"\n",
    "\r": r"\r",
    "\t": r"\t",
    "\v": r"\v",
}


def _quote_rune(ch: str, quote: str, ascii_only: bool) -> str:
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{cp - 0xDC00:02x}"
    if 0xD800 <= cp <= 0xDFFF:  # a lone surrogate is invalid UTF-8 to Go: byte by byte
        return "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
    if ch in (quote, "\\"):
        return "\\" + ch
    if (cp < 0x80 or not ascii_only) and is_print(ch):
        return ch
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    if cp < 0x20 or cp == 0x7F:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def quote(text: str, *, ascii_only: bool = False) -> str:
    """strconv.Quote (or QuoteToASCII): a double-quoted Go string literal."""
    return '"' + "".join(_quote_rune(ch, '"', ascii_only) for ch in text) + '"'


def quote_rune(cp: int, *, ascii_only: bool = False) -> str:
    """strconv.QuoteRune: a single-quoted Go rune literal; invalid runes print as U+FFFD."""
    if cp < 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        cp = 0xFFFD
    return "'" + _quote_rune(chr(cp), "'", ascii_only) + "'"


def _can_backquote(text: str) -> bool:
    return all(ch == "\t" or (ch != "`" and ch != "\ufeff" and is_print(ch)) for ch in text)


# -- numbers -------------------------------------------------------------------------


def _special_float(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def format_float_shortest(value: float) -> str:
    """%v of a float64: strconv 'g' with the shortest digits; %e form from exponent 6 up."""
    special = _special_float(value)
    if special is not None:
        return special
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # the decimal point's position within `text`
    exp = point - 1
    neg = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{neg}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{text}"
    if point >= len(text):
        return neg + text + "0" * (point - len(text))
    return f"{neg}{text[:point]}.{text[point:]}"


# -- %v ------------------------------------------------------------------------------


def format_value(value: Any, *, plus: bool = False) -> str:
    """fmt's %v (and %+v, which names struct fields)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float_shortest(value)
    if isinstance(value, str):
        return value
    if isinstance(value, GoStruct):
        if plus:
            return (
                "{"
                + " ".join(f"{k}:{format_value(v, plus=True)}" for k, v in value.fields.items())
                + "}"
            )
        return "{" + " ".join(format_value(v) for v in value.fields.values()) + "}"
    if isinstance(value, Mapping):
        items = sorted(value.items())
        return "map[" + " ".join(f"{k}:{format_value(v, plus=plus)}" for k, v in items) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(format_value(v, plus=plus) for v in value) + "]"
    return str(value)


def sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """fmt.Sprintln: always a space between operands, and a final newline."""
    return " ".join(format_value(a) for a in args) + "\n"


# -- Sprintf -------------------------------------------------------------------------


class _Spec:
    __slots__ = ("minus", "plus", "precision", "sharp", "space", "verb", "width", "zero")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.width: int | None = None
        self.precision: int | None = None
        self.verb = ""


def _bad_verb(spec: _Spec, value: Any) -> str:
    if value is None:
        return f"%!{spec.verb}(<nil>)"
    return f"%!{spec.verb}({type_name(value)}={format_value(value)})"


def _pad(text: str, spec: _Spec, numeric: bool) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    if spec.zero and numeric:
        sign = text[0] if text[:1] in ("-", "+", " ") else ""
        return sign + "0" * fill + text[len(sign) :]
    return " " * fill + text


def _format_int(value: int, spec: _Spec) -> str:
    verb = spec.verb
    digits: str
    if verb == "d" or verb == "v":
        digits = str(abs(value))
    elif verb in "xX":
        digits = format(abs(value), "x" if verb == "x" else "X")
        if spec.sharp:
            digits = ("0x" if verb == "x" else "0X") + digits
    elif verb == "o":
        digits = ("0" if spec.sharp else "") + format(abs(value), "o")
    elif verb == "O":
        digits = "0o" + format(abs(value), "o")
    elif verb == "b":
        digits = format(abs(value), "b")
    elif verb == "c":
        return chr(value) if 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF else "\ufffd"
    elif verb == "q":
        return quote_rune(value, ascii_only=spec.plus)
    elif verb == "U":
        text = f"U+{value:04X}"
        printable = 0 <= value <= 0x10FFFF and is_print(chr(value))
        return f"{text} '{chr(value)}'" if spec.sharp and printable else text
    else:
        return _bad_verb(spec, value)
    if spec.precision is not None:
        digits = digits.zfill(spec.precision)
    sign = "-" if value < 0 else "+" if spec.plus else " " if spec.space else ""
    return _pad(sign + digits, spec, numeric=spec.precision is None)


def _format_float(value: float, spec: _Spec) -> str:
    verb = spec.verb
    if verb not in "vgGeEfF":
        return _bad_verb(spec, value)
    special = _special_float(value)
    if special is not None:  # never zero-padded; NaN shows a sign only when asked
        if special == "NaN":
            special = "+NaN" if spec.plus else " NaN" if spec.space else "NaN"
        elif special == "+Inf" and spec.space and not spec.plus:
            special = " Inf"
        return _pad(special, spec, numeric=False)
    if verb in "vgG" and spec.precision is None:
        text = format_float_shortest(value)
        if verb == "G":
            text = text.upper()
    else:
        precision = spec.precision if spec.precision is not None else 6
        kind = "g" if verb == "v" else verb
        text = format(value, f"{'#' if spec.sharp else ''}.{precision}{kind}")
    if not text.startswith("-"):
        text = ("+" if spec.plus else " " if spec.space else "") + text
    return _pad(text, spec, numeric=True)


def _format_string(value: str, spec: _Spec) -> str:
    verb = spec.verb
    if verb in "sv":
        text = value if spec.precision is None else value[: spec.precision]
    elif verb == "q":
        if spec.sharp and _can_backquote(value):
            text = "`" + value + "`"
        else:
            text = quote(value, ascii_only=spec.plus)
    elif verb in "xX":
        data = value.encode("utf-8", "surrogateescape")
        if spec.precision is not None:
            data = data[: spec.precision]
        sep = " " if spec.space else ""
        prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
        hexes = [prefix + format(b, "02x" if verb == "x" else "02X") for b in data]
        text = sep.join(hexes) if sep else prefix + "".join(h[len(prefix) :] for h in hexes)
    else:
        return _bad_verb(spec, value)
    return _pad(text, spec, numeric=False)


def _format_arg(value: Any, spec: _Spec) -> str:
    verb = spec.verb
    if verb == "T":
        return _pad(type_name(value), spec, numeric=False)
    if value is None:
        return _pad("<nil>", spec, numeric=False) if verb == "v" else _bad_verb(spec, value)
    if isinstance(value, bool):
        if verb in "tv":
            return _pad("true" if value else "false", spec, numeric=False)
        return _bad_verb(spec, value)
    if isinstance(value, int):
        return _format_int(value, spec)
    if isinstance(value, float):
        return _format_float(value, spec)
    if isinstance(value, str):
        return _format_string(value, spec)
    if isinstance(value, GoStruct):
        if verb == "v":
            return _pad(format_value(value, plus=spec.plus), spec, numeric=False)
        inner = " ".join(_format_arg(v, spec) for v in value.fields.values())
        return "{" + inner + "}"
    if isinstance(value, Mapping):
        items = sorted(value.items())
        return (
            "map["
            + " ".join(f"{_format_arg(k, spec)}:{_format_arg(v, spec)}" for k, v in items)
            + "]"
        )
    if isinstance(value, Sequence):
        return "[" + " ".join(_format_arg(v, spec) for v in value) + "]"
    return _bad_verb(spec, value)


def sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use: v s q d x X o b c U e E f F g G t T %."""
    out: list[str] = []
    argn = 0
    i = 0
    n = len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        spec = _Spec()
        while i < n and fmt[i] in "-+# 0":
            flag = fmt[i]
            spec.minus |= flag == "-"
            spec.plus |= flag == "+"
            spec.sharp |= flag == "#"
            spec.space |= flag == " "
            spec.zero |= flag == "0"
            i += 1
        start = i
        while i < n and fmt[i].isdigit():
            i += 1
        if i > start:
            spec.width = int(fmt[start:i])
        if i < n and fmt[i] == ".":
            i += 1
            start = i
            while i < n and fmt[i].isdigit():
                i += 1
            spec.precision = int(fmt[start:i] or "0")
        if i >= n:
            out.append("%!(NOVERB)")
            break
        spec.verb = fmt[i]
        i += 1
        if spec.verb == "%":
            out.append("%")
            continue
        if argn >= len(args):
            out.append(f"%!{spec.verb}(MISSING)")
            continue
        out.append(_format_arg(args[argn], spec))
        argn += 1
    if argn < len(args):
        extra = ", ".join(
            "<nil>" if a is None else f"{type_name(a)}={format_value(a)}" for a in args[argn:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
