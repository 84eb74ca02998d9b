"""Label selector parsing, printing and matching, against Kubernetes' own test vectors.

The tables port k8s.io/apimachinery pkg/labels/selector_test.go (TestSelectorParse,
TestSelectorMatches, TestLexer, TestLexerSequence, TestToString,
TestRequirementSelectorMatching, TestSetSelectorParser) as inputs and expected outputs.
The error messages were checked against Go's labels.Parse: they reach clients verbatim in
400 answers.
"""

from __future__ import annotations

import pytest

from apiservice.selectors import (
    _EOS,
    _IDENT,
    EVERYTHING,
    Op,
    Requirement,
    Selector,
    SelectorError,
    _lex,
    go_quote,
    parse_selector,
)

VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
PREFIX_RULE = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
    "'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
OPERATORS = "in, notin, =, ==, !=, gt, lt"
NOT_INTEGER = "for 'Gt', 'Lt' operators, the value must be an integer"
REQ = "unable to parse requirement: "


@pytest.mark.parametrize(
    "text",
    ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5"],
)
def test_good_selectors_print_back_without_spaces(text: str) -> None:
    assert str(parse_selector(text)) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["x=a||y=b", "x==a==b", "!x=a", "x<a"])
def test_bad_selectors(text: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(text)


def test_parse_is_deterministic() -> None:
    assert str(parse_selector("x=a,a=x")) == str(parse_selector("a=x,x=a")) == "a=x,x=a"


def test_everything() -> None:
    assert EVERYTHING.matches({"x": "y"})
    assert EVERYTHING.empty
    assert parse_selector("") == parse_selector(None) == parse_selector(" \t") == EVERYTHING


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("", {"x": "y"}, True),
        ("x=y", {"x": "y"}, True),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
        ("notin=in", {"notin": "in"}, True),
        ("x", {"x": "z"}, True),
        ("!x", {"y": "z"}, True),
        ("x>1", {"x": "2"}, True),
        ("x<1", {"x": "0"}, True),
        ("x=z", {}, False),
        ("x=y", {"x": "z"}, False),
        ("x=y,z=w", {"x": "w", "z": "w"}, False),
        ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
        ("x", {"y": "z"}, False),
        ("!x", {"x": "z"}, False),
        ("x>1", {"x": "0"}, False),
        ("x<1", {"x": "2"}, False),
        ("foo=bar", {"foo": "bar", "baz": "blah"}, True),
        ("baz=blah", {"foo": "bar", "baz": "blah"}, True),
        ("foo=bar,baz=blah", {"foo": "bar", "baz": "blah"}, True),
        ("foo=blah", {"foo": "bar", "baz": "blah"}, False),
        ("baz=bar", {"foo": "bar", "baz": "blah"}, False),
        ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
        # integer comparisons parse as int64 on both sides
        ("x>1", {"x": "v2"}, False),
        ("x<5", {"x": "-3"}, True),
        ("x>1", {"x": "99999999999999999999"}, False),
        ("x<5", {}, False),
    ],
)
def test_matches(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(text).matches(labels) is matches


@pytest.mark.parametrize(
    ("text", "literal", "identifier"),
    [
        ("", "", False),
        (",", ",", False),
        ("notin", "notin", False),
        ("in", "in", False),
        ("=", "=", False),
        ("==", "==", False),
        (">", ">", False),
        ("<", "<", False),
        ("!", "!", False),  # the longest token wins ...
        ("!=", "!=", False),  # ... so this is one token
        ("(", "(", False),
        (")", ")", False),
        ("~", "~", True),  # characters that are not special belong to identifiers
        ("||", "||", True),
    ],
)
def test_lexer_token(text: str, literal: str, identifier: bool) -> None:
    kind, lexed = _lex(text)[0]
    assert lexed == literal
    assert (kind == _IDENT) is identifier


@pytest.mark.parametrize(
    ("text", "literals"),
    [
        ("key in ( value )", ["key", "in", "(", "value", ")"]),
        ("key notin ( value )", ["key", "notin", "(", "value", ")"]),
        ("key in ( value1, value2 )", ["key", "in", "(", "value1", ",", "value2", ")"]),
        ("key", ["key"]),
        ("!key", ["!", "key"]),
        ("()", ["(", ")"]),
        ("x in (),y", ["x", "in", "(", ")", ",", "y"]),
        ("== != (), = notin", ["==", "!=", "(", ")", ",", "=", "notin"]),
        ("key>2", ["key", ">", "2"]),
        ("key<1", ["key", "<", "1"]),
        ("===", ["==", "="]),
        ("a\0b", ["a", "b"]),  # a NUL ends an identifier, and is consumed with it
        ("a \0b", ["a"]),  # a NUL where a token starts ends the string
    ],
)
def test_lexer_sequence(text: str, literals: list[str]) -> None:
    tokens = _lex(text)
    assert tokens[-1][0] == _EOS
    assert [literal for _, literal in tokens[:-1]] == literals


@pytest.mark.parametrize(
    ("requirements", "text"),
    [
        (
            [("x", Op.IN, ("abc", "def")), ("y", Op.NOT_IN, ("jkl",)), ("z", Op.EXISTS, ())],
            "x in (abc,def),y notin (jkl),z",
        ),
        (
            [
                ("x", Op.NOT_IN, ("abc", "def")),
                ("y", Op.NOT_EQUALS, ("jkl",)),
                ("z", Op.DOES_NOT_EXIST, ()),
            ],
            "x notin (abc,def),y!=jkl,!z",
        ),
        (
            [("x", Op.NOT_IN, ("abc",)), ("y", Op.IN, ("jkl", "mno")), ("z", Op.NOT_IN, ("",))],
            "x notin (abc),y in (jkl,mno),z notin ()",
        ),
        (
            [
                ("x", Op.EQUALS, ("abc",)),
                ("y", Op.DOUBLE_EQUALS, ("jkl",)),
                ("z", Op.NOT_EQUALS, ("a",)),
                ("z", Op.EXISTS, ()),
            ],
            "x=abc,y==jkl,z!=a,z",
        ),
        (
            [("x", Op.GREATER_THAN, ("2",)), ("y", Op.LESS_THAN, ("8",)), ("z", Op.EXISTS, ())],
            "x>2,y<8,z",
        ),
        ([("x", Op.IN, ("def", "abc"))], "x in (abc,def)"),  # values print sorted
    ],
)
def test_to_string(requirements: list[tuple[str, Op, tuple[str, ...]]], text: str) -> None:
    selector = Selector(tuple(Requirement(*r) for r in requirements))
    assert str(selector) == text


@pytest.mark.parametrize(
    ("requirements", "labels", "matches"),
    [
        ([("x", Op.IN, ("foo",)), ("y", Op.NOT_IN, ("alpha",))], {"x": "foo", "y": "baz"}, True),
        ([("x", Op.IN, ("foo",)), ("y", Op.IN, ("alpha",))], {"x": "foo", "y": "baz"}, False),
        ([("x", Op.NOT_IN, ("",)), ("y", Op.EXISTS, ())], {"y": ""}, True),
        ([("x", Op.DOES_NOT_EXIST, ()), ("y", Op.EXISTS, ())], {"y": ""}, True),
        ([("x", Op.NOT_IN, ("",)), ("y", Op.DOES_NOT_EXIST, ())], {"y": ""}, False),
        ([("x", Op.IN, ("",))], {"y": "baz"}, False),
        ([("z", Op.GREATER_THAN, ("1",))], {"z": "2"}, True),
        ([("z", Op.GREATER_THAN, ("1",))], {"z": "v2"}, False),
    ],
)
def test_requirement_matching(
    requirements: list[tuple[str, Op, tuple[str, ...]]], labels: dict[str, str], matches: bool
) -> None:
    selector = Selector(tuple(Requirement(*r) for r in requirements))
    assert selector.matches(labels) is matches


E, DE, NE, IN, NOTIN = Op.EQUALS, Op.DOUBLE_EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN
EX, DNE, GT, LT = Op.EXISTS, Op.DOES_NOT_EXIST, Op.GREATER_THAN, Op.LESS_THAN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\rx", [("x", EX, ())]),
        (
            "this-is-a-dns.domain.com/key-with-dash",
            [("this-is-a-dns.domain.com/key-with-dash", EX, ())],
        ),
        (
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            [("this-is-another-dns.domain.com/key-with-dash", IN, ("so", "what"))],
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            [("0.1.2.domain/99", NOTIN, ("10.10.100.1", "tick.tack.clock"))],
        ),
        ("foo  in\t (abc)", [("foo", IN, ("abc",))]),
        ("x notin\n (abc)", [("x", NOTIN, ("abc",))]),
        ("x  notin\t\t\t(abc,def)", [("x", NOTIN, ("abc", "def"))]),
        ("x in (abc,def)", [("x", IN, ("abc", "def"))]),
        ("x in (abc,)", [("x", IN, ("", "abc"))]),
        ("x in (abc,abc)", [("x", IN, ("abc",))]),
        ("x in ()", [("x", IN, ("",))]),
        ("x in (a,,)", [("x", IN, ("", "a"))]),
        ("x in (a,,,)", [("x", IN, ("", "a"))]),
        ("x in (a,,,,,,)", [("x", IN, ("", "a"))]),
        ("x in (a,,a,,a,,a,,)", [("x", IN, ("", "a"))]),
        (
            "x notin (abc,,def),bar,z in (),w",
            [("bar", EX, ()), ("w", EX, ()), ("x", NOTIN, ("", "abc", "def")), ("z", IN, ("",))],
        ),
        ("x,y in (a)", [("x", EX, ()), ("y", IN, ("a",))]),
        ("x=a", [("x", E, ("a",))]),
        ("x>1", [("x", GT, ("1",))]),
        ("x<7", [("x", LT, ("7",))]),
        ("x=a,y!=b", [("x", E, ("a",)), ("y", NE, ("b",))]),
        (
            "x=a,y!=b,z in (h,i,j)",
            [("x", E, ("a",)), ("y", NE, ("b",)), ("z", IN, ("h", "i", "j"))],
        ),
        ("x notin ( )", [("x", NOTIN, ("",))]),
        ("x notin (, a)", [("x", NOTIN, ("", "a"))]),
        ("a ", [("a", EX, ())]),
        ("a in (x,y,notin, z,in)", [("a", IN, ("in", "notin", "x", "y", "z"))]),
        ("x == a", [("x", DE, ("a",))]),
        ("!x,y", [("x", DNE, ()), ("y", EX, ())]),
        (
            "b=1,a=2,c=3,a=1",
            [("a", E, ("2",)), ("a", E, ("1",)), ("b", E, ("1",)), ("c", E, ("3",))],
        ),
        ("x=a\0,y=b", [("x", E, ("a",)), ("y", E, ("b",))]),
        ("\0x=a", []),  # Go's lexer reads a NUL as the end of the string
    ],
)
def test_set_selector_parser(text: str, expected: list[tuple[str, Op, tuple[str, ...]]]) -> None:
    assert parse_selector(text) == Selector(tuple(Requirement(*r) for r in expected))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,,y", "found ',', expected: identifier after ','"),
        (",x,y", "found ',', expected: !, identifier, or 'end of string'"),
        ("x nott in (y)", f"{REQ}found 'nott', expected: {OPERATORS}"),
        ("a in (xyz),", "found '', expected: identifier after ','"),
        ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
        ("a in (xyz abc)", f"{REQ}found 'abc', expected: ',' or ')'"),
        ("a notin(", f"{REQ}found '', expected: ',', ')' or identifier"),
        ("a (", f"{REQ}found '(', expected: {OPERATORS}"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        ("!x in (a)", "found 'in', expected: ',' or 'end of string'"),
        ("x in (a", f"{REQ}found '', expected: ',' or ')'"),
        ("x in a", f"{REQ}found 'a' expected: '('"),
        ("x in (,", f"{REQ}found '', expected: ',', or identifier"),
        ("x in ((a))", f"{REQ}found '(', expected: ',', ')' or identifier"),
        ("x===a", f"{REQ}found '=', expected: identifier"),
        ("!", f"{REQ}found '', expected: identifier"),
        ("!!x", f"{REQ}found '!', expected: identifier"),
        ("x y", f"{REQ}found 'y', expected: {OPERATORS}"),
        ("x!y", f"{REQ}found '!', expected: {OPERATORS}"),
        ("x,", "found '', expected: identifier after ','"),
        ("x<a", f'{REQ}values[0]: Invalid value: "a": {NOT_INTEGER}'),
        ("x >", f'{REQ}values[0]: Invalid value: "": {NOT_INTEGER}'),
        ("x>1.5", f'{REQ}values[0]: Invalid value: "1.5": {NOT_INTEGER}'),
        (
            "x>99999999999999999999",
            f'{REQ}values[0]: Invalid value: "99999999999999999999": {NOT_INTEGER}',
        ),
        ("x=a||y=b", f'{REQ}values[0][x]: Invalid value: "a||y": {VALUE_RULE}'),
        ("x<-1", f'{REQ}values[0][x]: Invalid value: "-1": {VALUE_RULE}'),
        ("a=b_", f'{REQ}values[0][a]: Invalid value: "b_": {VALUE_RULE}'),
        (
            "x=" + "a" * 64,
            f'{REQ}values[0][x]: Invalid value: "{"a" * 64}": must be no more than 63 bytes',
        ),
        (
            "x in (-a,b-)",
            f'{REQ}[values[0][x]: Invalid value: "-a": {VALUE_RULE}, '
            f'values[1][x]: Invalid value: "b-": {VALUE_RULE}]',
        ),
        ("-a=b", f'{REQ}<nil>: Invalid value: "-a": {NAME_RULE}'),
        ("A/b=c", f'{REQ}<nil>: Invalid value: "A/b": {PREFIX_RULE}'),
        ("/b=c", f'{REQ}<nil>: Invalid value: "/b": prefix part must be non-empty'),
        ("a/=c", f'{REQ}<nil>: Invalid value: "a/": name part must be non-empty; {NAME_RULE}'),
        (
            "a" * 64 + "=x",
            f'{REQ}<nil>: Invalid value: "{"a" * 64}": name part must be no more than 63 bytes',
        ),
        (
            "a" * 254 + "/b=c",
            f'{REQ}<nil>: Invalid value: "{"a" * 254}/b": '
            "prefix part must be no more than 253 bytes",
        ),
        (
            "a/b/c=d",
            f'{REQ}<nil>: Invalid value: "a/b/c": a valid label key must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
            "and '/' (e.g. 'example.com/MyName')",
        ),
        ("x\u00a0=a", f'{REQ}<nil>: Invalid value: "x\\u00a0": {NAME_RULE}'),
        ("x=\u00e9", f'{REQ}values[0][x]: Invalid value: "\u00e9": {VALUE_RULE}'),
    ],
)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert caught.value.message == message
    assert caught.value.code == 400


def test_longest_valid_key_and_value() -> None:
    key, value = "a" * 63, "b" * 63
    prefixed = ".".join(["a"] * 127) + "/" + key  # a 253-byte DNS prefix
    assert str(parse_selector(f"{key}={value}")) == f"{key}={value}"
    assert parse_selector(prefixed).requirements == (Requirement(prefixed, Op.EXISTS),)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("tab\tnl\n", '"tab\\tnl\\n"'),
        ("\x01\x7f", '"\\x01\\x7f"'),
        ("\u00a0\u2028", '"\\u00a0\\u2028"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("é日本", '"é日本"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted
