"""resource.Quantity parsing and printing, against Kubernetes' own test vectors.

The tables port the cases of k8s.io/apimachinery pkg/api/resource/quantity_test.go
(TestQuantityParse, TestQuantityString, TestQuantityParseEmit, TestMilliNewSet, TestNewSet,
TestNewScaledSet) as inputs and expected outputs; a few more were checked against Go's
ParseQuantity and String() directly.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiservice.quantity import (
    FORMAT_WRONG,
    NUMERIC_WRONG,
    SUFFIX_WRONG,
    Format,
    Quantity,
    QuantityError,
    canonical,
)

DSI, BSI, DEX = Format.DECIMAL_SI, Format.BINARY_SI, Format.DECIMAL_EXPONENT
MAX_INT64 = 2**63 - 1


def dec(mantissa: int, exponent: int) -> Decimal:
    return Decimal(mantissa).scaleb(exponent)


# input, expected amount, expected format (TestQuantityParse)
PARSE = [
    ("0", dec(0, 0), DSI),
    ("0n", dec(0, 0), DSI),
    ("0u", dec(0, 0), DSI),
    ("0m", dec(0, 0), DSI),
    ("0Ki", dec(0, 0), BSI),
    ("0k", dec(0, 0), DSI),
    ("0Mi", dec(0, 0), BSI),
    ("0M", dec(0, 0), DSI),
    ("0Gi", dec(0, 0), BSI),
    ("0G", dec(0, 0), DSI),
    ("0Ti", dec(0, 0), BSI),
    ("0T", dec(0, 0), DSI),
    ("1", dec(1, 0), DSI),
    ("1Ki", dec(1024, 0), BSI),
    ("8Ki", dec(8 * 1024, 0), BSI),
    ("7Mi", dec(7 * 1024**2, 0), BSI),
    ("6Gi", dec(6 * 1024**3, 0), BSI),
    ("5Ti", dec(5 * 1024**4, 0), BSI),
    ("4Pi", dec(4 * 1024**5, 0), BSI),
    ("3Ei", dec(3 * 1024**6, 0), BSI),
    ("10Ti", dec(10 * 1024**4, 0), BSI),
    ("100Ti", dec(100 * 1024**4, 0), BSI),
    ("5n", dec(5, -9), DSI),
    ("4u", dec(4, -6), DSI),
    ("3m", dec(3, -3), DSI),
    ("9", dec(9, 0), DSI),
    ("8k", dec(8, 3), DSI),
    ("50k", dec(5, 4), DSI),
    ("7M", dec(7, 6), DSI),
    ("6G", dec(6, 9), DSI),
    ("5T", dec(5, 12), DSI),
    ("40T", dec(4, 13), DSI),
    ("300T", dec(3, 14), DSI),
    ("2P", dec(2, 15), DSI),
    ("1E", dec(1, 18), DSI),
    ("1E-3", dec(1, -3), DEX),
    ("1e3", dec(1, 3), DEX),
    ("1E6", dec(1, 6), DEX),
    ("1e9", dec(1, 9), DEX),
    ("1E12", dec(1, 12), DEX),
    ("1e15", dec(1, 15), DEX),
    ("1E18", dec(1, 18), DEX),
    ("1e14", dec(1, 14), DEX),
    ("1e13", dec(1, 13), DEX),
    ("100.035k", dec(100035, 0), DSI),
    ("0.001", dec(1, -3), DSI),
    ("0.0005k", dec(5, -1), DSI),
    ("0.005", dec(5, -3), DSI),
    ("0.05", dec(5, -2), DSI),
    ("0.5", dec(5, -1), DSI),
    ("0.00050k", dec(5, -1), DSI),
    ("0.00500", dec(5, -3), DSI),
    ("0.05000", dec(5, -2), DSI),
    ("0.50000", dec(5, -1), DSI),
    ("0.5e0", dec(5, -1), DEX),
    ("0.5e-1", dec(5, -2), DEX),
    ("0.5e-2", dec(5, -3), DEX),
    ("10.035M", dec(10035, 3), DSI),
    ("1.2e3", dec(12, 2), DEX),
    ("1.3E+6", dec(13, 5), DEX),
    ("1.40e9", dec(14, 8), DEX),
    ("1.53E12", dec(153, 10), DEX),
    ("1.6e15", dec(16, 14), DEX),
    ("1.7E18", dec(17, 17), DEX),
    ("9.01", dec(901, -2), DSI),
    ("8.1k", dec(81, 2), DSI),
    ("7.123456M", dec(7123456, 0), DSI),
    ("6.987654321G", dec(6987654321, 0), DSI),
    ("5.444T", dec(5444, 9), DSI),
    ("40.1T", dec(401, 11), DSI),
    ("300.2T", dec(3002, 11), DSI),
    ("2.5P", dec(25, 14), DSI),
    ("1.01E", dec(101, 16), DSI),
    # rounded up to the nearest nano, or capped
    ("3.001n", dec(4, -9), DSI),
    ("1.1E-9", dec(2, -9), DEX),
    ("0.0000000001", dec(1, -9), DSI),
    ("0.0000000005", dec(1, -9), DSI),
    ("0.00000000050", dec(1, -9), DSI),
    ("0.5e-9", dec(1, -9), DEX),
    ("0.9n", dec(1, -9), DSI),
    ("0.00000012345", dec(124, -9), DSI),
    ("0.00000012354", dec(124, -9), DSI),
    ("9Ei", dec(MAX_INT64, 0), BSI),
    ("9223372036854775807Ki", dec(MAX_INT64, 0), BSI),
    ("12E", dec(12, 18), DSI),
    # fractional binary amounts
    ("100.035Ki", dec(10243584, -2), BSI),
    ("0.5Mi", dec(512 * 1024, 0), BSI),
    ("0.05Gi", dec(536870912, -1), BSI),
    ("0.025Ti", dec(274877906944, -1), BSI),
    # odd but valid
    ("0.000000000001Ki", dec(2, -9), DSI),
    (".001", dec(1, -3), DSI),
    (".0001k", dec(100, -3), DSI),
    ("1.", dec(1, 0), DSI),
    ("1.G", dec(1, 9), DSI),
]


@pytest.mark.parametrize(("text", "amount", "fmt"), PARSE)
def test_parse(text: str, amount: Decimal, fmt: Format) -> None:
    parsed = Quantity.parse(text)
    assert (parsed.amount, parsed.format) == (amount, fmt)


@pytest.mark.parametrize(("text", "amount", "fmt"), PARSE)
def test_parse_signed(text: str, amount: Decimal, fmt: Format) -> None:
    negative = Quantity.parse("-" + text)
    assert (negative.amount, negative.format) == (-amount, fmt)
    positive = Quantity.parse("+" + text)
    assert (positive.amount, positive.format) == (amount, fmt)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", FORMAT_WRONG),
        ("1.1.M", FORMAT_WRONG),
        ("1+1.0M", FORMAT_WRONG),
        ("0.1mi", SUFFIX_WRONG),
        ("0.1am", FORMAT_WRONG),
        ("aoeu", FORMAT_WRONG),
        (".5i", SUFFIX_WRONG),
        ("1i", SUFFIX_WRONG),
        ("-3.01i", SUFFIX_WRONG),
        ("-3.01e-", SUFFIX_WRONG),
        (" 1", FORMAT_WRONG),  # whitespace is never trimmed
        ("1 ", FORMAT_WRONG),
        ("1e", SUFFIX_WRONG),
        ("1Ki3", SUFFIX_WRONG),
        ("1Ee3", SUFFIX_WRONG),
        ("1e99999999999999999999", SUFFIX_WRONG),
        (".e-20", NUMERIC_WRONG),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as caught:
        Quantity.parse(text)
    assert str(caught.value) == message


# constructed amount, format, String(), another spelling that prints the same (TestQuantityString)
STRING = [
    (dec(1024**3, 0), BSI, "1Gi", "1024Mi"),
    (dec(300 * 1024**2, 0), BSI, "300Mi", "307200Ki"),
    (dec(6 * 1024, 0), BSI, "6Ki", None),
    (dec(1001 * 1024**3, 0), BSI, "1001Gi", "1025024Mi"),
    (dec(1024**4, 0), BSI, "1Ti", "1024Gi"),
    (dec(5, 0), BSI, "5", "5000m"),
    (dec(500, -3), BSI, "500m", "0.5"),
    (dec(1, 9), DSI, "1G", "1000M"),
    (dec(1000, 6), DSI, "1G", "0.001T"),
    (dec(1000000, 3), DSI, "1G", None),
    (dec(1000000000, 0), DSI, "1G", None),
    (dec(1, -3), DSI, "1m", "1000u"),
    (dec(80, -3), DSI, "80m", None),
    (dec(1080, -3), DSI, "1080m", "1.08"),
    (dec(108, -2), DSI, "1080m", "1080000000n"),
    (dec(10800, -4), DSI, "1080m", None),
    (dec(300, 6), DSI, "300M", None),
    (dec(1, 12), DSI, "1T", None),
    (dec(1234567, 6), DSI, "1234567M", None),
    (dec(1234567, -3), BSI, "1234567m", None),
    (dec(3, 3), DSI, "3k", None),
    (dec(1025, 0), BSI, "1025", None),
    (dec(0, 0), DSI, "0", None),
    (dec(0, 0), BSI, "0", None),
    (dec(1, 9), DEX, "1e9", ".001e12"),
    (dec(1, -3), DEX, "1e-3", "0.001e0"),
    (dec(1, -9), DEX, "1e-9", "1000e-12"),
    (dec(80, -3), DEX, "80e-3", None),
    (dec(300, 6), DEX, "300e6", None),
    (dec(1, 12), DEX, "1e12", None),
    (dec(1, 3), DEX, "1e3", None),
    (dec(3, 3), DEX, "3e3", None),
    (dec(3, 3), DSI, "3k", None),
    (dec(0, 0), DEX, "0", "00"),
    (dec(1, -9), DSI, "1n", None),
    (dec(80, -9), DSI, "80n", None),
    (dec(1080, -9), DSI, "1080n", None),
    (dec(108, -8), DSI, "1080n", None),
    (dec(10800, -10), DSI, "1080n", None),
    (dec(1, -6), DSI, "1u", None),
    (dec(80, -6), DSI, "80u", None),
    (dec(1080, -6), DSI, "1080u", None),
]


@pytest.mark.parametrize(("amount", "fmt", "text", "alternate"), STRING)
def test_string(amount: Decimal, fmt: Format, text: str, alternate: str | None) -> None:
    assert str(Quantity(amount, fmt)) == text
    if amount:
        assert str(Quantity(-amount, fmt)) == "-" + text
    canonical = Quantity.parse(text)
    assert canonical.text == text  # a canonical string is kept as the printed form
    if alternate is not None:
        other = Quantity.parse(alternate)
        assert other.text is None
        assert str(other) == text


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        # TestQuantityParseEmit
        ("1Ki", "1Ki"),
        ("1Mi", "1Mi"),
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1000M", "1G"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),
        # checked against Go's String()
        ("1.5Ki", "1536"),
        ("1023.5Ki", "1048064"),
        ("0.5Ki", "512"),
        ("9Ei", "9223372036854775807"),
        ("1e1000", "10e999"),
        ("1.5", "1500m"),
        ("1.5k", "1500"),
        ("1.0k", "1k"),
        ("1e-12", "1e-9"),
    ],
)
def test_parse_then_print(text: str, printed: str) -> None:
    assert str(Quantity.parse(text)) == printed
    negative = Quantity.parse("-" + text)
    assert str(negative) == "-" + printed


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        # Go keeps a parsed string that is already canonical, even with a sign or zeros ...
        ("+1", "+1"),
        ("0100", "0100"),
        ("1.500", "1.500"),
        ("+1Ki", "+1Ki"),
        ("1e+3", "1e+3"),
        ("1.", "1."),
        # ... and a DecimalSI exponent with no SI suffix prints with no suffix at all.
        ("1000E", "1"),
        ("1000000E", "1"),
    ],
)
def test_go_printing_habits(text: str, printed: str) -> None:
    assert str(Quantity.parse(text)) == printed


@pytest.mark.parametrize(
    ("milli", "fmt", "printed"),
    [
        (1, DSI, "1m"),
        (1000, DSI, "1"),
        (1234000, DSI, "1234"),
        (1024, BSI, "1024m"),  # below 1024 a binary amount prints as decimal
        (1024 * 1024, BSI, "1048576m"),
    ],
)
def test_from_milli(milli: int, fmt: Format, printed: str) -> None:
    quantity = Quantity.from_milli(milli, fmt)
    assert str(quantity) == printed
    assert Quantity.parse(printed).milli_value() == milli


@pytest.mark.parametrize(
    ("value", "fmt", "printed"),
    [
        (1, DSI, "1"),
        (1000, DSI, "1k"),
        (1234000, DSI, "1234k"),
        (1024, BSI, "1Ki"),
        (1024**2, BSI, "1Mi"),
    ],
)
def test_from_value(value: int, fmt: Format, printed: str) -> None:
    quantity = Quantity.from_scaled(value, 0, fmt)
    assert str(quantity) == printed
    assert Quantity.parse(printed).value() == value


@pytest.mark.parametrize(
    ("value", "scale", "printed"),
    [
        (1, -9, "1n"),
        (1000, -9, "1u"),
        (1, -6, "1u"),
        (1000, -6, "1m"),
        (1, -3, "1m"),
        (1000, -3, "1"),
        (1, 0, "1"),
        (0, -9, "0"),
        (0, -6, "0"),
        (0, -3, "0"),
        (0, 0, "0"),
    ],
)
def test_from_scaled(value: int, scale: int, printed: str) -> None:
    assert str(Quantity.from_scaled(value, scale)) == printed


def test_a_made_quantity_prints_as_its_amount_does() -> None:
    """from_scaled works out the printed form from its integers: it must be the one
    canonical() reads from the Decimal, whatever the digits, zeros, sign and scale."""
    values = [0, 1, 7, 10, 999, 1000, 1001, 123456789, 10**15, 2**63 - 1, -(2**63)]
    for value in values + [-v for v in values]:
        for scale in range(-12, 13):
            quantity = Quantity.from_scaled(value, scale)
            assert str(quantity) == canonical(quantity.amount), (value, scale)


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (0.4775, "477m"),  # truncated toward zero at milli precision
        (-0.4775, "-477m"),
        (12.0, "12"),
        (1500.0, "1500"),
        (1_500_000.0, "1500k"),
        (0.0001, "0"),
        (float("nan"), "-9223372036854775808m"),  # Go's int64(NaN) on amd64
        (float("inf"), "-9223372036854775808m"),
    ],
)
def test_prometheus_adapter_values(value: float, printed: str) -> None:
    assert str(Quantity.from_float_milli(value)) == printed


@pytest.mark.parametrize(
    ("text", "value", "milli"),
    [
        ("1.5", 2, 1500),
        ("-1.5", -2, -1500),
        ("-1.0001m", -1, -2),
        ("9.01", 10, 9010),
        ("100m", 1, 100),
        ("2", 2, 2000),
    ],
)
def test_integer_values_round_away_from_zero(text: str, value: int, milli: int) -> None:
    quantity = Quantity.parse(text)
    assert (quantity.value(), quantity.milli_value()) == (value, milli)


def test_value_out_of_int64_range_is_an_error() -> None:
    with pytest.raises(QuantityError):
        Quantity.parse("1e30").value()


def test_equality_ignores_the_kept_text() -> None:
    assert Quantity.parse("+1") == Quantity.parse("1") == Quantity.from_milli(1000)
    assert Quantity.parse("1") != Quantity.parse("1e0")  # the format differs


def test_non_finite_amounts_are_refused() -> None:
    with pytest.raises(QuantityError):
        Quantity(Decimal("NaN"))


def test_absurd_exponents_do_not_hang() -> None:
    assert str(Quantity.parse("1e-3000000000000")) == "1e-9"


# The shapes of Go's TestJSON fuzzer: what String() prints parses back to the same amount.
decimal_quantities = st.builds(
    lambda mantissa, exponent, fmt: Quantity(dec(mantissa, exponent), fmt),
    st.integers(-MAX_INT64, MAX_INT64),
    st.integers(-3, 0),
    st.sampled_from([DSI, DEX]),
) | st.builds(
    lambda mantissa, exponent, fmt: Quantity(dec(mantissa, exponent), fmt),
    st.integers(-999, 999),
    st.integers(-3, 11),
    st.sampled_from([DSI, DEX]),
)
binary_quantities = st.builds(
    lambda number, power: Quantity(dec(number << (10 * power), 0), BSI),
    st.integers(-1023, 1023) | st.integers(0, MAX_INT64 >> 50),
    st.integers(0, 4),
)


@given(decimal_quantities | binary_quantities)
def test_printed_form_round_trips(quantity: Quantity) -> None:
    again = Quantity.parse(str(quantity))
    assert again.amount == quantity.amount
