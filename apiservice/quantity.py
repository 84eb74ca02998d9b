"""resource.Quantity: exact values, printed exactly as Go's apimachinery prints them.

Parsing follows ParseQuantity step by step (its scanner, its rounding up to nano, its
BinarySI cap), and `str()` follows Quantity.String(), including two of its habits that a
client can see: a parsed string already in canonical form is kept as written ("+1",
"0100"), and a DecimalSI exponent with no SI suffix prints with no suffix at all
("1000E" is "1"). Being byte-compatible with Kubernetes matters more here than being tidy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class Format(StrEnum):
    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


_DECIMAL_SUFFIXES = {
    -9: "n",
    -6: "u",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
    15: "P",
    18: "E",
}
_BINARY_SUFFIXES = {0: "", 1: "Ki", 2: "Mi", 3: "Gi", 4: "Ti", 5: "Pi", 6: "Ei"}
_SUFFIXES: dict[str, tuple[int, int, Format]] = {
    **{s: (10, e, Format.DECIMAL_SI) for e, s in _DECIMAL_SUFFIXES.items()},
    **{s: (2, 10 * p, Format.BINARY_SI) for p, s in _BINARY_SUFFIXES.items() if s},
}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")

FORMAT_WRONG = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
NUMERIC_WRONG = "unable to parse numeric part of quantity"
SUFFIX_WRONG = "unable to parse quantity's suffix"


class QuantityError(ValueError):
    pass


def go_int64(value: float) -> int:
    """Go's int64(value) on amd64: truncation, and the minimum int64 for NaN, Inf or overflow."""
    if math.isnan(value) or math.isinf(value) or not -(2**63) <= value < 2**63:
        return _INT64_MIN
    return int(value)


def _decimal(negative: bool, coefficient: int, exponent: int) -> Decimal:
    """An exact Decimal, whatever the context's precision (a string is never rounded)."""
    return Decimal(f"{'-' if negative else ''}{coefficient}E{exponent}")


def _parts(amount: Decimal) -> tuple[bool, int, int]:
    sign, digits, exponent = amount.as_tuple()
    coefficient = 0
    for digit in digits:  # a few times faster than joining the digits' strings
        coefficient = coefficient * 10 + digit
    return bool(sign), coefficient, int(exponent)


@dataclass(frozen=True)
class Quantity:
    """An exact decimal amount with the format Go would print it in.

    `text` is the parsed string when Go keeps it as the quantity's printed form.
    """

    amount: Decimal
    format: Format = Format.DECIMAL_SI
    text: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.amount.is_finite():
            raise QuantityError(f"a quantity must be a finite number, not {self.amount}")

    @classmethod
    def from_milli(cls, milli: int, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        """Go's NewMilliQuantity(milli, fmt)."""
        return cls.from_scaled(milli, -3, fmt)

    @classmethod
    def from_float_milli(cls, value: float) -> Quantity:
        """prometheus-adapter's `NewMilliQuantity(int64(v*1000), DecimalSI)`."""
        return cls.from_milli(go_int64(value * 1000.0))

    @classmethod
    def from_scaled(cls, value: int, scale: int, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        """Go's NewScaledQuantity(value, scale): value x 10^scale."""
        negative, magnitude = value < 0, abs(value)
        # Its printed form from the integers now, not from the Decimal when it is printed
        # (a metric answer prints every value it makes: 2 us a value less).
        text = _canonical(negative, magnitude, scale) if fmt is Format.DECIMAL_SI else None
        return cls(_decimal(negative, magnitude, scale), fmt, text)

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """resource.ParseQuantity, with its error messages."""
        if not isinstance(text, str) or not text:
            raise QuantityError(FORMAT_WRONG)
        if text == "0":
            return cls(Decimal(0), Format.DECIMAL_SI, text)
        negative, value, num, denom, suffix = _scan(text)
        base, exponent, fmt = _interpret(suffix)
        fast = _parse_int64_path(text, negative, num, denom, exponent, fmt)
        if fast is not None:
            return fast
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise QuantityError(NUMERIC_WRONG) from None
        _, coefficient, scale = _parts(amount)
        if base == 10:
            scale += exponent
        else:
            coefficient <<= exponent
        if coefficient and scale < -9:  # round up, away from zero, to the nearest nano
            drop = -9 - scale
            coefficient = -(-coefficient // 10**drop) if drop <= len(str(coefficient)) else 1
            scale = -9
        if fmt is Format.BINARY_SI and _decimal(False, coefficient, scale) > _INT64_MAX:
            coefficient, scale = _INT64_MAX, 0
        if fmt is Format.BINARY_SI and 0 < _decimal(False, coefficient, scale) < 1:
            fmt = Format.DECIMAL_SI
        return cls(_decimal(negative, coefficient, scale), fmt)

    def milli_value(self) -> int:
        """MilliValue(): the amount in thousandths, rounded away from zero."""
        negative, coefficient, exponent = _parts(self.amount)
        return _round_away(_decimal(negative, coefficient, exponent + 3))

    def value(self) -> int:
        """Value(): the amount rounded away from zero to an integer."""
        return _round_away(self.amount)

    def __float__(self) -> float:
        return float(self.amount)

    def __str__(self) -> str:
        return self.text if self.text is not None else canonical(self.amount, self.format)


def _round_away(amount: Decimal) -> int:
    if amount.adjusted() > 18:
        raise QuantityError(f"{amount} does not fit in an int64")
    negative, coefficient, exponent = _parts(amount)
    if exponent >= 0:
        magnitude = coefficient * 10**exponent
    else:
        magnitude = -(-coefficient // 10**-exponent)
    return -magnitude if negative else magnitude


def _scan(text: str) -> tuple[bool, str, str, str, str]:
    """parseQuantityString: sign, the numeric text, integer digits, fraction digits, suffix."""
    end = len(text)
    pos = 0
    negative = text[0] == "-"
    if text[0] in "+-":
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos == end:
        return negative, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    if pos == end:
        return negative, text, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos == end:
            return negative, text, num, denom, ""
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos != end:
        raise QuantityError(FORMAT_WRONG)
    return negative, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, Format]:
    """The suffix's base, exponent and format; `e<int>` is a decimal exponent."""
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        unsigned = digits[1:] if digits[0] in "+-" else digits
        if unsigned and set(unsigned) <= _DIGITS:
            exponent = int(digits)
            if _INT64_MIN <= exponent <= _INT64_MAX:
                return 10, (exponent + 2**31) % 2**32 - 2**31, Format.DECIMAL_EXPONENT  # int32()
    raise QuantityError(SUFFIX_WRONG)


def _parse_int64_path(
    text: str, negative: bool, num: str, denom: str, exponent: int, fmt: Format
) -> Quantity | None:
    """ParseQuantity's int64 fast path: None where Go falls back to inf.Dec.

    Only this path keeps the input string as the printed form, when it is already canonical.
    """
    mantissa = 1
    if fmt is Format.BINARY_SI:
        if exponent < 0 or denom:
            return None
        scale = 0
        mantissa = 1 << exponent
        precision = 15 - len(num) - exponent * 3 // 10 - 1
    else:
        scale = exponent
        precision = 18 - len(num) - len(denom)
    scale -= len(denom)
    if precision < 0 or scale < -9:
        return None
    shifted = num + denom
    magnitude = int(shifted) * mantissa
    if magnitude > _INT64_MAX:
        return None
    if fmt is Format.BINARY_SI:
        keep = exponent % 10 == 0 and int(shifted) & 7 != 0
    else:
        keep = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    return Quantity(_decimal(negative, magnitude, scale), fmt, text if keep else None)


def canonical(amount: Decimal, fmt: Format = Format.DECIMAL_SI) -> str:
    """Quantity.String() of a computed amount (CanonicalizeBytes)."""
    if amount == 0:
        return "0"
    negative, coefficient, exponent = _parts(amount)
    if fmt is Format.BINARY_SI:
        integral = exponent >= 0 or coefficient % 10**-exponent == 0
        if -1024 < amount < 1024 or not integral:
            fmt = Format.DECIMAL_SI
        else:
            number = coefficient * 10**exponent if exponent >= 0 else coefficient // 10**-exponent
            power = 0
            while number % 1024 == 0:
                number //= 1024
                power += 1
            return f"{'-' if negative else ''}{number}{_BINARY_SUFFIXES.get(power, '')}"
    return _canonical(negative, coefficient, exponent, fmt)


def _canonical(
    negative: bool, coefficient: int, exponent: int, fmt: Format = Format.DECIMAL_SI
) -> str:
    """The decimal forms of canonical(), from sign, coefficient and exponent."""
    if coefficient == 0:
        return "0"
    while coefficient % 10 == 0:
        coefficient //= 10
        exponent += 1
    shift = exponent % 3
    coefficient *= 10**shift
    exponent -= shift
    if fmt is Format.DECIMAL_SI:
        suffix = _DECIMAL_SUFFIXES.get(exponent, "")
    else:
        suffix = f"e{exponent}" if exponent else ""
    return f"{'-' if negative else ''}{coefficient}{suffix}"
