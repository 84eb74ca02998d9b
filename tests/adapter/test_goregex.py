"""Go RE2 patterns run by Python: same matches where the syntaxes disagree, Go's refusals."""

from __future__ import annotations

import pytest

from adapter.go.regex import GoRegexError, compile_go


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("my_.*", "my_label", True),  # PA's regex_matcher_test
        ("my_.*", "your_label", False),
        ("_total", "http_requests_total", True),  # unanchored, as MatchString
        ("^container_.*_seconds_total$", "container_cpu_usage_seconds_total", True),
        ("^container_.*_seconds_total$", "xcontainer_cpu_seconds_total", False),
        ("a{,3}", "a{,3}", True),  # a literal in Go, a repeat in Python
        ("a{,3}", "aa", False),
        ("x{01}", "x{01}", True),  # leading zero: not a repeat in Go
        ("a{2}", "aa", True),
        ("a{2,}b", "aaab", True),
        (r"\12", "\n", True),  # octal in Go, a back-reference in Python
        (r"\x{41}\x42", "AB", True),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        (r"end\z", "the end", True),
        ("(?i)abc|def", "DEF", True),  # (?i) reaches every branch of its group
        ("x(?i)a|b", "B", True),
        ("x(?i:a)|b", "B", False),
        ("(?i)a(?-i)b", "Ab", True),
        ("(?i)a(?-i)b", "AB", False),
        ("[[:alpha:]_]+$", "abc_", True),
        ("^[[:digit:]]+$", "12a", False),
        ("[]a]+$", "]a]", True),
        ("[^]a]", "b", True),
        (r"^\d+$", "٣", False),  # \d is ASCII-only in Go
        (r"\w", "é", False),
        ("(?s)a.b", "a\nb", True),
        ("a.b", "a\nb", False),
        ("[a-c-e]", "-", True),
    ],
)
def test_matches_as_go(pattern: str, text: str, matches: bool) -> None:
    assert (compile_go(pattern).search(text) is not None) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
        ("(?!a)", "invalid or unsupported Perl syntax: `(?!`"),
        ("(?<=a)b", "invalid or unsupported Perl syntax: `(?<`"),
        (r"(a)\1", r"invalid escape sequence: `\1`"),
        ("a**", "invalid nested repetition operator: `**`"),
        ("a*+", "invalid nested repetition operator: `*+`"),  # possessive in Python 3.11
        ("*a", "missing argument to repetition operator: `*`"),
        ("a|?", "missing argument to repetition operator: `?`"),
        ("(a", "missing closing ): `(a`"),
        ("a)", "unexpected ): `a)`"),
        ("[a", "missing closing ]: `[a`"),
        ("[z-a]", "invalid character class range: `z-a`"),
        ("[[:nope:]]", "invalid character class range: `[:nope:]`"),
        ("a{1001}", "invalid repeat count: `{1001}`"),
        ("a{3,2}", "invalid repeat count: `{3,2}`"),
        ("(?P<>a)", "invalid named capture: `(?P<>`"),
        ("(?P<a-b>x)", "invalid named capture: `(?P<a-b>`"),
        (r"\C", r"invalid escape sequence: `\C`"),
        (r"\q", r"invalid escape sequence: `\q`"),
        (r"[\b]", r"invalid escape sequence: `\b`"),
        ("(?x)a", "invalid or unsupported Perl syntax: `(?x`"),
        ("a\\", "trailing backslash at end of expression: ``"),
    ],
)
def test_go_refusals(pattern: str, message: str) -> None:
    with pytest.raises(GoRegexError) as err:
        compile_go(pattern)
    assert str(err.value) == f"error parsing regexp: {message}"


@pytest.mark.parametrize("pattern", [r"\pL", r"\p{Greek}", "(?U)a+"])
def test_constructs_surge_does_not_run_are_named(pattern: str) -> None:
    with pytest.raises(GoRegexError, match="not supported by Surge"):
        compile_go(pattern)


def test_subexp_names_follow_go_including_duplicates() -> None:
    regex = compile_go("(?P<x>a)(b)(?<x>c)(?:d)")
    assert regex.subexp_names == ("", "x", "", "x")
    assert regex.groups == 3
    assert regex.group_index("x") == 3  # lbl_res.go keeps the last one


@pytest.mark.parametrize(
    ("pattern", "template", "text", "expanded"),
    [
        ("^(.*)_total$", "${1}_per_second", "http_requests_total", "http_requests_per_second"),
        ("^(.*)_total$", "$1_per_second", "http_requests_total", ""),  # group "1_per_second"
        ("^(.*)_total$", "$1", "http_requests_total", "http_requests"),
        ("^(.*)_total$", "$0", "http_requests_total", "http_requests_total"),
        ("^(.*)_total$", "$2", "http_requests_total", ""),
        ("^(?P<base>.*)_total$", "${base}_rate", "x_total", "x_rate"),
        ("^(?P<base>.*)_total$", "$base", "x_total", "x"),
        ("^(?P<base>.*)_total$", "$nope", "x_total", ""),
        ("^(a)(b)$", "$2$1", "ab", "ba"),
        ("^(a)$", "$$1 costs", "a", "$1 costs"),
        ("^(a)$", "${1", "a", "${1"),  # malformed: the `$` stays
        ("^(a)$", "cost: $", "a", "cost: $"),
        ("^(a)$", "$01", "a", ""),  # a leading zero makes it a name, not a number
        ("^(a)|(b)$", "[$1][$2]", "b", "[][b]"),
        (".*", "cheesy_goodness", "cheddar", "cheesy_goodness"),
    ],
)
def test_expand_is_regexp_expand_string(
    pattern: str, template: str, text: str, expanded: str
) -> None:
    regex = compile_go(pattern)
    match = regex.search(text)
    assert match is not None
    assert regex.expand(template, match) == expanded
