"""Cancellation before delivery with the refund due; delivery scheduling; delivery only when paid or financed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.orders.app.ports import NO_CHECKLIST
from services.orders.domain.errors import (
    DeliveryAlreadyScheduledError,
    DeliveryNotScheduledError,
    OrderCancelledError,
    OrderDeliveredError,
    OrderNotPaidError,
)
from services.orders.domain.events import Delivered, DeliveryScheduled, OrderCancelled
from services.orders.domain.order import OrderStatus
from shared.domain import InvalidFieldError
from tests.support.orders_builders import T0, payment, signed_order

LATER = T0 + timedelta(days=1)
HANDOVER = T0 + timedelta(days=10)


def test_cancelling_refunds_what_was_paid_by_default() -> None:
    order = signed_order(100_00)
    order.pay(payment(30_00), now=LATER)
    order.cancel(reason="customer changed their mind", refund_percent_of_paid=100, now=LATER)
    event = order.pending_events[-1]
    assert isinstance(event, OrderCancelled)
    assert (event.paid_minor, event.refund_due_minor, event.currency, event.lead_id) == (30_00, 30_00, "CNY", "L-1")
    assert order.status is OrderStatus.CANCELLED
    assert order.outstanding_minor == 0  # nothing is owed on a cancelled order


def test_a_configured_forfeit_reduces_the_refund_due() -> None:
    order = signed_order(100_00)
    order.pay(payment(33_33), now=LATER)
    order.cancel(reason="r", refund_percent_of_paid=50, now=LATER)
    assert order.refund_due_minor == 16_67  # half of 33.33 rounded half up


def test_refunds_after_cancellation_settle_the_refund_due_and_no_more() -> None:
    order = signed_order(100_00)
    order.pay(payment(30_00), now=LATER)
    order.cancel(reason="r", refund_percent_of_paid=100, now=LATER)
    order.refund(refund_id="R-1", amount_minor=30_00, currency="CNY", reason="cancellation", now=LATER)
    assert (order.refund_due_minor, order.paid_minor) == (0, 0)
    with pytest.raises(Exception, match="at most 0"):
        order.refund(refund_id="R-2", amount_minor=1, currency="CNY", reason="again", now=LATER)


def test_cancelling_needs_a_reason_and_happens_once() -> None:
    order = signed_order()
    with pytest.raises(InvalidFieldError, match="reason"):
        order.cancel(reason="  ", refund_percent_of_paid=100, now=LATER)
    order.cancel(reason="r", refund_percent_of_paid=100, now=LATER)
    with pytest.raises(OrderCancelledError):
        order.cancel(reason="again", refund_percent_of_paid=100, now=LATER)


def test_a_delivered_order_cannot_be_cancelled() -> None:
    order = signed_order(100_00)
    order.pay(payment(100_00, kind="full"), now=LATER)
    order.deliver(now=LATER, checklist=NO_CHECKLIST)
    with pytest.raises(OrderDeliveredError) as caught:
        order.cancel(reason="too late", refund_percent_of_paid=100, now=LATER)
    assert caught.value.code == "order_delivered"


def test_delivering_an_unpaid_order_is_refused_with_what_is_owed() -> None:
    order = signed_order(100_00)
    order.pay(payment(99_99), now=LATER)
    with pytest.raises(OrderNotPaidError) as caught:
        order.deliver(now=LATER, checklist=NO_CHECKLIST)
    assert caught.value.code == "order_not_paid"
    assert caught.value.details == {"outstanding_minor": 1}


def test_a_fully_paid_order_is_delivered_with_the_customer_for_after_sales() -> None:
    order = signed_order(100_00)
    order.pay(payment(100_00, kind="full"), now=LATER)
    order.deliver(now=HANDOVER, checklist=NO_CHECKLIST)
    event = order.pending_events[-1]
    assert isinstance(event, Delivered)
    assert (event.lead_id, event.customer_name, event.customer_phone, event.total_minor) == (
        "L-1", "张三", "+8613812345678", 100_00)
    with pytest.raises(OrderDeliveredError):
        order.deliver(now=HANDOVER, checklist=NO_CHECKLIST)


def test_an_order_whose_rest_is_covered_by_approved_financing_can_be_delivered() -> None:
    order = signed_order(100_00, plan="financing")
    order.pay(payment(20_00, kind="down_payment"), now=LATER)
    with pytest.raises(OrderNotPaidError):
        order.deliver(now=LATER, checklist=NO_CHECKLIST)
    order.approve_financing(provider="B", amount_minor=80_00, currency="CNY", reference=None, now=LATER)
    order.deliver(now=LATER, checklist=NO_CHECKLIST)
    assert order.status is OrderStatus.DELIVERED


def test_a_cancelled_order_is_not_delivered() -> None:
    order = signed_order()
    order.cancel(reason="r", refund_percent_of_paid=100, now=LATER)
    with pytest.raises(OrderCancelledError):
        order.deliver(now=LATER, checklist=NO_CHECKLIST)


def test_delivery_is_scheduled_then_rescheduled_with_the_previous_date_kept() -> None:
    order = signed_order()
    with pytest.raises(DeliveryNotScheduledError):
        order.reschedule_delivery(scheduled_for=HANDOVER, location=None, reason=None, now=LATER)
    order.schedule_delivery(scheduled_for=HANDOVER, location="Showroom 2", now=LATER)
    with pytest.raises(DeliveryAlreadyScheduledError):
        order.schedule_delivery(scheduled_for=HANDOVER, location=None, now=LATER)
    order.reschedule_delivery(scheduled_for=HANDOVER + timedelta(days=2), location=None, reason="car late",
                              now=LATER)
    event = order.pending_events[-1]
    assert isinstance(event, DeliveryScheduled)
    assert (event.previous, event.scheduled_for, event.reason) == (HANDOVER, HANDOVER + timedelta(days=2), "car late")
    assert order.delivery_scheduled_for == HANDOVER + timedelta(days=2)


def test_delivery_must_be_scheduled_in_the_future_and_not_for_a_cancelled_order() -> None:
    order = signed_order()
    with pytest.raises(InvalidFieldError, match="scheduled_for"):
        order.schedule_delivery(scheduled_for=LATER, location=None, now=LATER)
    order.cancel(reason="r", refund_percent_of_paid=100, now=LATER)
    with pytest.raises(OrderCancelledError):
        order.schedule_delivery(scheduled_for=HANDOVER, location=None, now=LATER)
