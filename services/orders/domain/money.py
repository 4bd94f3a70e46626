"""Exact money: integer minor units (fen for CNY) with an ISO 4217 code. Never floats: percentages are basis
points (1 % = 100 bp) and rounding is explicit (half up, to the minor unit)."""

from __future__ import annotations

import re
from collections.abc import Collection
from decimal import Decimal, InvalidOperation

from services.orders.domain.errors import CurrencyMismatchError
from shared.domain import InvalidFieldError

_CURRENCY = re.compile(r"^[A-Z]{3}$")
BASIS_POINTS = 10_000
# A quote or order above this is almost certainly a typo (and would overflow BIGINT sums quickly otherwise).
MAX_AMOUNT_MINOR = 10**13


def check_currency(currency: str, *, known: Collection[str], field: str = "currency") -> str:
    """The currency code if it is well-formed and one this business accepts."""
    if not _CURRENCY.match(currency):
        raise InvalidFieldError(field, "must be an ISO 4217 code such as CNY")
    if currency not in known:
        raise InvalidFieldError(field, f"not accepted here; accepted: {', '.join(sorted(known))}")
    return currency


def check_same_currency(expected: str, actual: str) -> None:
    if actual != expected:
        raise CurrencyMismatchError(f"the order is in {expected}, not {actual}", expected=expected, actual=actual)


def check_amount(amount_minor: int, *, field: str, allow_zero: bool = False) -> int:
    """A non-negative (or positive) integer amount within bounds. ``bool`` is refused: True is not one fen."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise InvalidFieldError(field, "must be an integer number of minor units")
    if amount_minor < 0 or (amount_minor == 0 and not allow_zero):
        raise InvalidFieldError(field, "must be positive" if not allow_zero else "must not be negative")
    if amount_minor > MAX_AMOUNT_MINOR:
        raise InvalidFieldError(field, f"must be at most {MAX_AMOUNT_MINOR}")
    return amount_minor


def percent_to_basis_points(percent: str | Decimal, *, field: str = "discount.percent") -> int:
    """``"5.25"`` → 525. At most two decimals, 0 < p ≤ 100: a percentage that cannot be expressed exactly in
    basis points is refused rather than rounded silently."""
    try:
        value = Decimal(str(percent))
    except InvalidOperation:
        raise InvalidFieldError(field, "must be a decimal number such as 5 or 7.5") from None
    if not value.is_finite() or value <= 0 or value > 100:
        raise InvalidFieldError(field, "must be greater than 0 and at most 100")
    scaled = value * 100
    if scaled != scaled.to_integral_value():
        raise InvalidFieldError(field, "at most two decimal places")
    return int(scaled)


def share_of(amount_minor: int, basis_points: int) -> int:
    """``amount × bp / 10 000`` rounded half up to the minor unit, in integers."""
    return (amount_minor * basis_points * 2 + BASIS_POINTS) // (2 * BASIS_POINTS)


def exceeds_share(part_minor: int, whole_minor: int, basis_points: int) -> bool:
    """Is ``part`` more than ``bp`` of ``whole``? Cross-multiplied, so no division and no rounding."""
    return part_minor * BASIS_POINTS > whole_minor * basis_points
