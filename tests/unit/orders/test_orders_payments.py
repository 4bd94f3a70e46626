"""Payments, financing and refunds: exact, in the order's currency, never more than owed, never below zero."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.orders.app.ports import NO_CHECKLIST
from services.orders.domain.errors import (
    CurrencyMismatchError,
    FinancingAlreadyDecidedError,
    FinancingNotInPlanError,
    OrderCancelledError,
    OrderDeliveredError,
    OverpaymentError,
    RefundExceedsPaidError,
)
from services.orders.domain.events import FinancingApproved, FinancingDeclined, PaymentReceived, RefundIssued
from services.orders.domain.order import FinancingStatus, Order, PaymentDetails
from shared.domain import DomainError, InvalidFieldError
from tests.support.orders_builders import T0, payment, signed_order

LATER = T0 + timedelta(days=1)


def test_a_deposit_then_the_balance_pay_the_order_in_full() -> None:
    order = signed_order(100_000_00)
    order.pay(payment(20_000_00), now=LATER)
    order.pay(payment(80_000_00, kind="balance", payment_id="P-2"), now=LATER)
    assert (order.paid_minor, order.outstanding_minor) == (100_000_00, 0)
    last = order.pending_events[-1]
    assert isinstance(last, PaymentReceived)
    assert (last.amount_minor, last.paid_total_minor, last.kind) == (80_000_00, 100_000_00, "balance")


def test_a_payment_retried_with_the_same_reference_is_recorded_once() -> None:
    order = signed_order(100_00)
    first = PaymentDetails("P-1", "deposit", 30_00, "CNY", reference="TXN-1")
    assert order.pay(first, now=LATER) is True
    assert order.pay(PaymentDetails("P-2", "deposit", 30_00, "CNY", reference="TXN-1"), now=LATER) is False
    rebuilt = Order.rehydrate(order.id, order.pending_events)
    assert rebuilt.pay(PaymentDetails("P-3", "deposit", 30_00, "CNY", reference="TXN-1"), now=LATER) is False
    assert (order.paid_minor, len(order.pending_events)) == (30_00, 2)


def test_paying_more_than_is_owed_is_refused_and_records_nothing() -> None:
    order = signed_order(100_00)
    order.pay(payment(60_00), now=LATER)
    with pytest.raises(OverpaymentError) as caught:
        order.pay(payment(40_01), now=LATER)
    assert caught.value.code == "overpayment"
    assert caught.value.details["outstanding_minor"] == 40_00
    assert order.paid_minor == 60_00
    assert len(order.pending_events) == 2  # ContractSigned + the first payment


@pytest.mark.parametrize("bad", [0, -1, -100_00])
def test_zero_and_negative_payments_are_refused(bad: int) -> None:
    with pytest.raises(InvalidFieldError, match="amount_minor"):
        signed_order().pay(payment(bad), now=LATER)


def test_a_payment_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError):
        signed_order().pay(payment(1_00, currency="USD"), now=LATER)


def test_an_unknown_payment_kind_is_refused() -> None:
    with pytest.raises(InvalidFieldError, match="kind"):
        signed_order().pay(payment(1_00, kind="iou"), now=LATER)


def test_a_cancelled_order_takes_no_payment() -> None:
    order = signed_order()
    order.cancel(reason="changed mind", refund_percent_of_paid=100, now=LATER)
    with pytest.raises(OrderCancelledError) as caught:
        order.pay(payment(1_00), now=LATER)
    assert caught.value.code == "order_cancelled"


def test_approved_financing_covers_its_share_of_what_is_owed() -> None:
    order = signed_order(100_000_00, plan="financing")
    order.pay(payment(30_000_00, kind="down_payment"), now=LATER)
    order.approve_financing(provider="Bank of Ningbo", amount_minor=70_000_00, currency="CNY", reference="LN-1",
                            now=LATER)
    assert isinstance(order.pending_events[-1], FinancingApproved)
    assert (order.financing, order.outstanding_minor) == (FinancingStatus.APPROVED, 0)


def test_financing_more_than_is_owed_is_refused() -> None:
    order = signed_order(100_00, plan="financing")
    order.pay(payment(30_00, kind="down_payment"), now=LATER)
    with pytest.raises(OverpaymentError):
        order.approve_financing(provider="B", amount_minor=70_01, currency="CNY", reference=None, now=LATER)


def test_financing_is_only_for_orders_with_a_financing_plan() -> None:
    with pytest.raises(FinancingNotInPlanError):
        signed_order(plan="full").approve_financing(provider="B", amount_minor=1, currency="CNY", reference=None,
                                                    now=LATER)


def test_financing_can_be_declined_and_then_approved_by_another_provider_but_not_approved_twice() -> None:
    order = signed_order(100_00, plan="financing")
    order.decline_financing(provider="Bank A", reason="income too low", now=LATER)
    assert isinstance(order.pending_events[-1], FinancingDeclined)
    assert order.financing is FinancingStatus.DECLINED
    order.approve_financing(provider="Bank B", amount_minor=100_00, currency="CNY", reference=None, now=LATER)
    with pytest.raises(FinancingAlreadyDecidedError):
        order.decline_financing(provider="Bank C", reason="late", now=LATER)


def test_a_refund_gives_back_at_most_what_was_paid() -> None:
    order = signed_order(100_00)
    order.pay(payment(50_00), now=LATER)
    with pytest.raises(RefundExceedsPaidError):
        order.refund(refund_id="R-1", amount_minor=50_01, currency="CNY", reason="x", now=LATER)
    order.refund(refund_id="R-1", amount_minor=20_00, currency="CNY", reason="double charge", now=LATER)
    assert isinstance(order.pending_events[-1], RefundIssued)
    assert (order.paid_minor, order.outstanding_minor) == (30_00, 70_00)


def test_refunds_need_a_reason_the_order_currency_and_a_positive_amount() -> None:
    order = signed_order(100_00)
    order.pay(payment(50_00), now=LATER)
    with pytest.raises(InvalidFieldError, match="reason"):
        order.refund(refund_id="R", amount_minor=1, currency="CNY", reason=" ", now=LATER)
    with pytest.raises(CurrencyMismatchError):
        order.refund(refund_id="R", amount_minor=1, currency="EUR", reason="x", now=LATER)
    with pytest.raises(InvalidFieldError):
        order.refund(refund_id="R", amount_minor=-1, currency="CNY", reason="x", now=LATER)


def test_a_delivered_order_is_not_refunded_here() -> None:
    order = signed_order(100_00, plan="full")
    order.pay(payment(100_00, kind="full"), now=LATER)
    order.deliver(now=LATER, checklist=NO_CHECKLIST)
    with pytest.raises(OrderDeliveredError):
        order.refund(refund_id="R", amount_minor=1, currency="CNY", reason="x", now=LATER)


# ---- property: whatever the sequence of money commands, the balance stays within [0, total] ---------------

money_command = st.one_of(
    st.tuples(st.just("pay"), st.integers(-10_00, 150_00)),
    st.tuples(st.just("refund"), st.integers(-10_00, 150_00)),
    st.tuples(st.just("finance"), st.integers(-10_00, 150_00)),
    st.tuples(st.just("decline"), st.just(0)),
    st.tuples(st.just("cancel"), st.integers(0, 100)),
    st.tuples(st.just("deliver"), st.just(0)),
)


@settings(max_examples=300)
@given(total=st.integers(1, 120_00), plan=st.sampled_from(["full", "deposit_balance", "financing"]),
       commands=st.lists(money_command, max_size=25))
def test_no_sequence_of_commands_drives_the_balance_negative_or_past_the_total(
    total: int, plan: str, commands: list[tuple[str, int]]
) -> None:
    order = signed_order(total, plan=plan)
    for name, value in commands:
        before = (order.paid_minor, order.financed_minor, order.version)
        try:
            match name:
                case "pay":
                    order.pay(payment(value), now=LATER)
                case "refund":
                    order.refund(refund_id="R", amount_minor=value, currency="CNY", reason="r", now=LATER)
                case "finance":
                    order.approve_financing(provider="B", amount_minor=value, currency="CNY", reference=None,
                                            now=LATER)
                case "decline":
                    order.decline_financing(provider="B", reason="no", now=LATER)
                case "cancel":
                    order.cancel(reason="r", refund_percent_of_paid=value, now=LATER)
                case "deliver":
                    order.deliver(now=LATER, checklist=NO_CHECKLIST)
        except DomainError:
            # A refused command changes nothing.
            assert (order.paid_minor, order.financed_minor, order.version) == before
        assert 0 <= order.paid_minor <= order.total_minor
        assert 0 <= order.paid_minor + order.financed_minor <= order.total_minor
        assert order.outstanding_minor >= 0
        assert 0 <= order.refund_due_minor <= order.paid_minor
    rebuilt = Order.rehydrate(order.id, order.pending_events)
    assert (rebuilt.paid_minor, rebuilt.financed_minor, rebuilt.status, rebuilt.outstanding_minor) == (
        order.paid_minor, order.financed_minor, order.status, order.outstanding_minor)
