"""Quantity strings read back into numbers, independently of Surge's quantity code."""

from __future__ import annotations

from decimal import Decimal

_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(1000),
}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def nanocores(text: str) -> int:
    number = text.rstrip("numk")
    return int(Decimal(number) * _DECIMAL[text[len(number) :]] * 10**9)


def byte_count(text: str) -> int:
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return int(text.removesuffix(suffix)) * factor
    return int(text)
