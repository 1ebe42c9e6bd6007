"""Money is an integer number of euro cents; never a float."""

from __future__ import annotations

import re
from decimal import Decimal

_AMOUNT = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]{1,2})?")


def require_cents(cents: object) -> int:
    """`cents` if it is an int; bool is an int subclass, but True would silently become 0,01."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"an amount is an int number of cents, not {type(cents).__name__}")
    return cents


def format_amount(cents: int, decimal: str = ",") -> str:
    """``1250 -> "12,50"``, ``-5 -> "-0,05"``; no thousands separator."""
    require_cents(cents)
    if decimal not in (",", "."):
        raise ValueError("decimal must be ',' or '.'")
    units, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}{units}{decimal}{rest:02d}"


def parse_amount(text: str) -> int:
    """``"12,50"``, ``"12.50"``, ``"12"`` -> cents; at most 2 decimals."""
    if not isinstance(text, str):
        raise TypeError(f"parse_amount takes a str, not {type(text).__name__}")
    text = text.strip()
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"not an amount in euros with at most 2 decimals: {text!r}")
    return from_decimal(Decimal(text.replace(",", ".")))


def from_decimal(value: Decimal) -> int:
    """``Decimal("12.50") -> 1250``; refuses a fraction of a cent."""
    if not isinstance(value, Decimal):
        raise TypeError(f"from_decimal takes a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    cents = value.scaleb(2)
    if cents != cents.to_integral_value():
        raise ValueError(f"an amount has at most 2 decimals: {value}")
    return int(cents)


def to_decimal(cents: int) -> Decimal:
    """``1250 -> Decimal("12.50")``, always 2 decimal places (XML ``CtrlSum``, ``InstdAmt``)."""
    return Decimal(require_cents(cents)).scaleb(-2)
