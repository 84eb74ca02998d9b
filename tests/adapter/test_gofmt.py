"""Go's printing, as PA's matchers (%q) and templates (%v, printf) need it byte for byte."""

from __future__ import annotations

import pytest

from adapter.go.fmt import GoStruct, format_value, quote, sprint, sprintf, sprintln


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("pod-1", '"pod-1"'),
        ("", '""'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("line\nbreak\ttab\rcr", r'"line\nbreak\ttab\rcr"'),
        ("\a\b\f\v", r'"\a\b\f\v"'),
        ("\x00\x1b\x7f", r'"\x00\x1b\x7f"'),
        ("café ünïcode", '"café ünïcode"'),  # printable Unicode stays as is
        ("\u00a0", r'"\u00a0"'),  # no-break space is not printable to Go
        ("zero\u200bwidth", r'"zero\u200bwidth"'),  # a format character
        ("\ue000", r'"\ue000"'),  # private use
        ("😀", '"😀"'),
        ("\U000e0001", r'"\U000e0001"'),  # a non-BMP format character
        ("a|b.*", '"a|b.*"'),  # regex metacharacters are not escaped
        ("'single'", "\"'single'\""),
        ("\udcff", r'"\xff"'),  # a byte that was not UTF-8 (surrogateescape)
    ],
)
def test_quote_is_strconv_quote(text: str, quoted: str) -> None:
    assert quote(text) == quoted


def test_quote_to_ascii_escapes_every_non_ascii_rune() -> None:
    assert quote("é😀", ascii_only=True) == r'"\u00e9\U0001f600"'


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("text", "text"),
        (7, "7"),
        (-3, "-3"),
        (True, "true"),
        (None, "<nil>"),
        (1.5, "1.5"),
        (100.0, "100"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e6, "1e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        (["a", "b"], "[a b]"),
        ([], "[]"),
        ({"pod": "a|b", "namespace": "ns"}, "map[namespace:ns pod:a|b]"),
        (GoStruct("T", {"A": "x", "B": [1, 2]}), "{x [1 2]}"),
    ],
)
def test_format_value_is_percent_v(value: object, printed: str) -> None:
    assert format_value(value) == printed


def test_plus_v_names_struct_fields() -> None:
    assert sprintf("%+v", GoStruct("T", {"A": "x", "B": 2})) == "{A:x B:2}"


@pytest.mark.parametrize(
    ("fmt", "args", "out"),
    [
        ("%s=%q", ("pod", "a b"), 'pod="a b"'),
        ("%d items", (3,), "3 items"),
        ("%v", (["a", "b"],), "[a b]"),
        ("%q", (["a", "b"],), '["a" "b"]'),
        ("%5s|%-5s|", ("ab", "cd"), "   ab|cd   |"),
        ("%05d %+d %x %X %o %b", (-42, 7, 255, 255, 8, 5), "-0042 +7 ff FF 10 101"),
        ("%.2f %e %g", (3.14159, 1234.5, 0.000012), "3.14 1.234500e+03 1.2e-05"),
        ("%t %c %U", (False, 0x41, 0x1F600), "false A U+1F600"),
        ("%x", ("hi",), "6869"),
        ("%.3s", ("abcdef",), "abc"),
        ("100%%", (), "100%"),
        ("%T %T", ("s", ["a"]), "string []string"),
        # fmt's complaints, as Go prints them
        ("%d", ("x",), "%!d(string=x)"),
        ("%s", (5,), "%!s(int=5)"),
        ("%s %s", ("a",), "a %!s(MISSING)"),
        ("%s", ("a", 2, "b"), "a%!(EXTRA int=2, string=b)"),
        ("%d", (None,), "%!d(<nil>)"),
        ("%z", (1,), "%!z(int=1)"),
        ("end %", (), "end %!(NOVERB)"),
    ],
)
def test_sprintf(fmt: str, args: tuple[object, ...], out: str) -> None:
    assert sprintf(fmt, *args) == out


def test_sprint_spaces_only_between_non_strings() -> None:
    assert sprint("a", 1, 2, "b", "c", 3) == "a1 2bc3"
    assert sprintln("a", 1, "b") == "a 1 b\n"
