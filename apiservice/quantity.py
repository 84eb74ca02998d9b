"""resource.Quantity: exact values, printed canonically as Go's apimachinery prints them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation, localcontext
from enum import Enum

_INT64_MIN = -(2**63)


class Format(str, Enum):
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
_BINARY_SUFFIXES = {1: "Ki", 2: "Mi", 3: "Gi", 4: "Ti", 5: "Pi", 6: "Ei"}
_SUFFIX_VALUES = {
    **{s: (Decimal(10) ** e, Format.DECIMAL_SI) for e, s in _DECIMAL_SUFFIXES.items()},
    **{s: (Decimal(1024) ** e, Format.BINARY_SI) for e, s in _BINARY_SUFFIXES.items()},
}
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[a-zA-Z]*)$")


class QuantityError(ValueError):
    pass


def go_int64(value: float) -> int:
    """Go's int64(value) on amd64: truncation, and the minimum int64 for NaN, Inf or overflow."""
    if math.isnan(value) or math.isinf(value) or not -(2**63) <= value < 2**63:
        return _INT64_MIN
    return int(value)


@dataclass(frozen=True)
class Quantity:
    """An exact decimal amount with the format Go would print it in."""

    amount: Decimal
    format: Format = Format.DECIMAL_SI

    @classmethod
    def from_milli(cls, milli: int, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        return cls(Decimal(milli).scaleb(-3), fmt)

    @classmethod
    def from_float_milli(cls, value: float) -> Quantity:
        """prometheus-adapter's `NewMilliQuantity(int64(v*1000), DecimalSI)`."""
        return cls.from_milli(go_int64(value * 1000.0))

    @classmethod
    def from_scaled(cls, value: int, scale: int, fmt: Format = Format.DECIMAL_SI) -> Quantity:
        """Go's NewScaledQuantity(value, scale): value x 10^scale."""
        return cls(Decimal(value).scaleb(scale), fmt)

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """resource.ParseQuantity: the suffix sets the format; precision below nano rounds up."""
        match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise QuantityError(f"quantities must match the regular expression: {text!r}")
        number, suffix = match.groups()
        try:
            amount = Decimal(number)
        except InvalidOperation as err:  # pragma: no cover - the regex admits only numbers
            raise QuantityError(f"invalid quantity {text!r}") from err
        if suffix[:1] in ("e", "E") and suffix not in _SUFFIX_VALUES:
            amount = amount.scaleb(int(suffix[1:]))
            fmt = Format.DECIMAL_EXPONENT
        elif suffix in _SUFFIX_VALUES:
            factor, fmt = _SUFFIX_VALUES[suffix]
            with localcontext() as ctx:
                ctx.prec = 60
                amount = amount * factor
        else:
            raise QuantityError(f"unable to parse quantity's suffix: {text!r}")
        return cls(_round_up_to_nano(amount), fmt)

    def milli_value(self) -> int:
        """Go's MilliValue(): the amount in thousandths, rounded up."""
        return int((self.amount * 1000).to_integral_value(rounding=ROUND_CEILING))

    def value(self) -> int:
        """Go's Value(): rounded up to an integer."""
        return int(self.amount.to_integral_value(rounding=ROUND_CEILING))

    def __float__(self) -> float:
        return float(self.amount)

    def __str__(self) -> str:
        return canonical(self.amount, self.format)


def _round_up_to_nano(amount: Decimal) -> Decimal:
    if amount.as_tuple().exponent < -9:  # type: ignore[operator]
        with localcontext() as ctx:
            ctx.prec = 60
            return amount.quantize(Decimal("1e-9"), rounding=ROUND_CEILING)
    return amount


def _mantissa_exponent(amount: Decimal) -> tuple[int, int]:
    sign, digits, exponent = amount.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)) or "0")
    return (-mantissa if sign else mantissa), int(exponent)


def canonical(amount: Decimal, fmt: Format = Format.DECIMAL_SI) -> str:
    """Quantity.String(): the shortest exact form with an exponent that is a multiple of 3."""
    if amount == 0:
        return "0"
    amount = _round_up_to_nano(amount)
    if fmt is Format.BINARY_SI:
        if -1024 < amount < 1024 or amount != amount.to_integral_value():
            fmt = Format.DECIMAL_SI
        else:
            number = int(amount)
            power = 0
            while power < 6 and number % 1024 == 0:
                number //= 1024
                power += 1
            return f"{number}{_BINARY_SUFFIXES.get(power, '')}"
    mantissa, exponent = _mantissa_exponent(amount)
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    if fmt is Format.DECIMAL_SI and exponent in _DECIMAL_SUFFIXES:
        return f"{mantissa}{_DECIMAL_SUFFIXES[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)
