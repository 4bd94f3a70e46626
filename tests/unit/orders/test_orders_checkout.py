"""Online-shop checkout in the domain: signed and paid in one step, attributed to the online shop."""

from __future__ import annotations

import pytest

from services.orders.domain.errors import OverpaymentError, TotalMismatchError
from services.orders.domain.events import ContractSigned, PaymentReceived
from services.orders.domain.order import Order, ShopCheckout
from services.orders.domain.parties import Customer
from shared.domain import InvalidFieldError
from tests.support.orders_builders import CURRENCIES, T0, line


def checkout(**changes: object) -> ShopCheckout:
    fields: dict[str, object] = {
        "shop_order_id": "SHOP-1", "customer": Customer.of(customer_id=None, name="李四", phone="0086 139 0000 1111"),
        "lines": [line(50_00, 2)], "discount_minor": 10_00, "total_minor": 90_00, "paid_minor": 90_00,
        "currency": "CNY", "payment_id": "P-1",
    }
    fields.update(changes)
    return ShopCheckout(**fields)  # type: ignore[arg-type]


def test_a_paid_shop_order_becomes_a_signed_and_fully_paid_order_in_one_step() -> None:
    order = Order.check_out(order_id="O-1", checkout=checkout(), now=T0, currencies=CURRENCIES)
    signed, paid = order.pending_events
    assert isinstance(signed, ContractSigned)
    assert (signed.channel, signed.lead_id, signed.shop_order_id, signed.payment_plan) == (
        "online_shop", None, "SHOP-1", "full")
    assert (signed.customer_name, signed.customer_phone) == ("李四", "+8613900001111")
    assert isinstance(paid, PaymentReceived)
    assert (paid.amount_minor, paid.method, paid.reference) == (90_00, "online_shop", "SHOP-1")
    assert order.outstanding_minor == 0


def test_a_shop_order_can_name_its_lead() -> None:
    order = Order.check_out(order_id="O-1", checkout=checkout(lead_id="L-9"), now=T0, currencies=CURRENCIES)
    assert order.signed is not None
    assert order.signed.lead_id == "L-9"


def test_a_partly_paid_shop_order_is_a_deposit_order_and_an_unpaid_one_has_no_payment() -> None:
    partly = Order.check_out(order_id="O-1", checkout=checkout(paid_minor=20_00), now=T0, currencies=CURRENCIES)
    assert partly.signed is not None
    assert (partly.signed.payment_plan, partly.outstanding_minor) == ("deposit_balance", 70_00)
    assert partly.pending_events[-1].kind == "deposit"  # type: ignore[attr-defined]
    unpaid = Order.check_out(order_id="O-2", checkout=checkout(paid_minor=0), now=T0, currencies=CURRENCIES)
    assert len(unpaid.pending_events) == 1


def test_lines_that_do_not_add_up_to_the_total_are_refused() -> None:
    with pytest.raises(TotalMismatchError) as caught:
        Order.check_out(order_id="O-1", checkout=checkout(total_minor=95_00), now=T0, currencies=CURRENCIES)
    assert caught.value.code == "total_mismatch"


def test_paying_more_than_the_total_in_the_shop_is_refused() -> None:
    with pytest.raises(OverpaymentError):
        Order.check_out(order_id="O-1", checkout=checkout(paid_minor=90_01), now=T0, currencies=CURRENCIES)


@pytest.mark.parametrize(("changes", "field"), [
    ({"shop_order_id": " "}, "shop_order_id"),
    ({"customer": Customer(name=None, phone="+8613900001111")}, "customer_name"),
    ({"customer": Customer(name="x", phone=None)}, "customer_phone"),
    ({"currency": "JPY"}, "currency"),
    ({"paid_minor": -1}, "paid_minor"),
    ({"lines": []}, "lines"),
])
def test_incomplete_checkouts_are_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        Order.check_out(order_id="O-1", checkout=checkout(**changes), now=T0, currencies=CURRENCIES)
    assert caught.value.field == field


def test_a_bad_phone_is_refused_as_the_customer_phone_field() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        Customer.of(customer_id=None, name="x", phone="12345")
    assert caught.value.field == "customer_phone"
