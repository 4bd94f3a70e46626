"""What the shop's inbound messages ask the capture for: an abandoned cart's interest names its products within
the capture's length limit."""

from __future__ import annotations

from datetime import UTC, datetime

from services.leads.app.intake import cart_interest
from services.leads.domain.values import MAX_INTEREST_LENGTH
from shared.contracts.inbound import CartAbandonedV1, CartItemV1

AT = datetime(2026, 3, 1, tzinfo=UTC)


def cart(*items: CartItemV1) -> CartAbandonedV1:
    return CartAbandonedV1(cart_id="C-1", name="张三", phone="13812345678", items=list(items), abandoned_at=AT)


def test_an_abandoned_carts_interest_names_its_products_and_quantities_above_one() -> None:
    assert cart_interest(cart(CartItemV1(product="MODEL-Y"), CartItemV1(product="WALLBOX", quantity=2))) == (
        "abandoned cart: MODEL-Y, WALLBOX ×2")


def test_a_long_carts_interest_is_cut_to_the_captures_limit() -> None:
    interest = cart_interest(cart(*[CartItemV1(product=f"PRODUCT-{i:03d}") for i in range(40)]))
    assert len(interest) == MAX_INTEREST_LENGTH
    assert interest.endswith("…")
