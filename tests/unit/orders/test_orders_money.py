"""Money is exact: integer minor units, basis points, explicit half-up rounding, no floats anywhere."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.orders.domain.errors import CurrencyMismatchError
from services.orders.domain.lines import price
from services.orders.domain.money import (
    MAX_AMOUNT_MINOR,
    check_amount,
    check_currency,
    check_same_currency,
    exceeds_share,
    percent_to_basis_points,
    share_of,
)
from shared.domain import InvalidFieldError
from tests.support.orders_builders import amount, line, percent


@pytest.mark.parametrize(("text", "bp"), [("5", 500), ("2.5", 250), ("0.01", 1), ("100", 10_000), ("7.25", 725)])
def test_a_percentage_becomes_exact_basis_points(text: str, bp: int) -> None:
    assert percent_to_basis_points(text) == bp


@pytest.mark.parametrize("text", ["0", "-1", "100.01", "1.005", "abc", "NaN", "Infinity"])
def test_a_percentage_that_is_out_of_range_or_not_exact_in_basis_points_is_refused(text: str) -> None:
    with pytest.raises(InvalidFieldError):
        percent_to_basis_points(text)


def test_a_share_is_rounded_half_up_to_the_minor_unit() -> None:
    assert share_of(1, 5_000) == 1  # 0.5 fen rounds up
    assert share_of(3, 1_000) == 0  # 0.3 fen rounds down
    assert share_of(27_190_000, 200) == 543_800


@given(st.integers(0, MAX_AMOUNT_MINOR), st.integers(0, 10_000))
def test_a_share_matches_decimal_arithmetic_and_stays_within_the_whole(whole: int, bp: int) -> None:
    exact = Decimal(whole) * bp / 10_000
    expected = int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    assert share_of(whole, bp) == expected
    assert 0 <= share_of(whole, bp) <= whole


@given(st.integers(1, MAX_AMOUNT_MINOR), st.integers(0, 10_000), st.integers(0, MAX_AMOUNT_MINOR))
def test_exceeds_share_is_the_exact_comparison(whole: int, bp: int, part: int) -> None:
    assert exceeds_share(part, whole, bp) == (Decimal(part) / whole > Decimal(bp) / 10_000)


@pytest.mark.parametrize("bad", [-1, 0, True, MAX_AMOUNT_MINOR + 1])
def test_amounts_must_be_positive_integers_within_bounds(bad: int) -> None:
    with pytest.raises(InvalidFieldError):
        check_amount(bad, field="amount_minor")


def test_a_float_is_never_accepted_as_an_amount() -> None:
    with pytest.raises(InvalidFieldError):
        check_amount(10.0, field="amount_minor")  # type: ignore[arg-type]


def test_zero_is_allowed_only_where_asked_for() -> None:
    assert check_amount(0, field="x", allow_zero=True) == 0


@pytest.mark.parametrize("code", ["cny", "CN", "XXX", "RMB"])
def test_a_currency_must_be_a_known_iso_code(code: str) -> None:
    with pytest.raises(InvalidFieldError):
        check_currency(code, known={"CNY", "USD"})


def test_different_currencies_are_a_mismatch() -> None:
    with pytest.raises(CurrencyMismatchError) as caught:
        check_same_currency("CNY", "USD")
    assert caught.value.code == "currency_mismatch"


def test_options_are_priced_per_unit_and_the_discount_comes_off_the_subtotal() -> None:
    lines = [line(100_00, 2, ("red", 10_00), ("tow", 5_00)), line(50_00)]
    assert price(lines, None).total_minor == (100_00 + 15_00) * 2 + 50_00
    assert price(lines, amount(80_00)).total_minor == 280_00 - 80_00
    priced = price(lines, percent(1_000))
    assert (priced.subtotal_minor, priced.discount_minor, priced.total_minor) == (280_00, 28_00, 252_00)


def test_a_discount_larger_than_the_lines_is_refused() -> None:
    with pytest.raises(InvalidFieldError, match="discount"):
        price([line(10_00)], amount(10_01))


@given(st.lists(st.tuples(st.integers(0, 10**8), st.integers(1, 50)), min_size=1, max_size=10),
       st.integers(1, 10_000))
def test_a_percent_discount_never_makes_the_total_negative_or_larger(items: list[tuple[int, int]], bp: int) -> None:
    priced = price([line(p, q) for p, q in items], percent(bp))
    assert 0 <= priced.total_minor <= priced.subtotal_minor
    assert priced.subtotal_minor - priced.discount_minor == priced.total_minor
