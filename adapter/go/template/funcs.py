"""text/template's builtin functions (PA registers no others) and Go's notion of truth."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from adapter.go import fmt as gofmt
from adapter.go.fmt import GoStruct


class _Missing:
    """Go's invalid reflect.Value: a missing map key. Prints as `<no value>`."""

    def __repr__(self) -> str:
        return "<no value>"


_MISSING = _Missing()


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
