"""The order's money and fulfilment command handlers on the in-memory store (no PostgreSQL): each command
appends its event to the order's stream, refuses by the domain's rules with nothing written, and a pinned stale
version is a conflict."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from services.orders.app.fulfilment import (
    CancelOrder,
    CancelOrderHandler,
    DeliverOrder,
    DeliverOrderHandler,
    RescheduleDelivery,
    RescheduleDeliveryHandler,
    ScheduleDelivery,
    ScheduleDeliveryHandler,
)
from services.orders.app.payments import (
    ApproveFinancing,
    ApproveFinancingHandler,
    DeclineFinancing,
    DeclineFinancingHandler,
    RecordPayment,
    RecordPaymentHandler,
    RefundPayment,
    RefundPaymentHandler,
)
from services.orders.app.ports import CommandContext
from services.orders.app.quotes import (
    AcceptQuote,
    AcceptQuoteHandler,
    IssueQuote,
    IssueQuoteHandler,
    SignContract,
    SignContractHandler,
)
from services.orders.domain.errors import OrderNotPaidError, OverpaymentError, RefundExceedsPaidError
from shared.domain import InvalidFieldError
from shared.eventstore import ConcurrencyError
from tests.support.orders_builders import CONFIG, T0, VALID_UNTIL, quote_line_in
from tests.support.orders_memory import InMemoryOrders

CTX = CommandContext(correlation_id="c-1", actor="tester")
TOTAL = 100_00


def clock() -> datetime:
    return T0


class Ids:
    def __init__(self) -> None:
        self._n = itertools.count(1)

    def __call__(self) -> str:
        return f"id-{next(self._n)}"


@pytest.fixture
def store() -> InMemoryOrders:
    return InMemoryOrders()


async def signed_order(store: InMemoryOrders, plan: str = "deposit_balance") -> str:
    ids = Ids()
    quote = await IssueQuoteHandler(unit_of_work=store, clock=clock, new_id=ids, config=CONFIG)(IssueQuote(
        consultant_id="S-1", role="consultant", lines=[quote_line_in(TOTAL)], currency="CNY", valid_until=VALID_UNTIL,
        lead_id="L-1"), CTX)
    await AcceptQuoteHandler(unit_of_work=store, clock=clock)(AcceptQuote(quote.quote.id), CTX)
    signed = await SignContractHandler(unit_of_work=store, clock=clock, new_id=ids)(
        SignContract(quote.quote.id, plan), CTX)
    return signed.order.id


async def test_payments_financing_delivery_scheduling_and_handover(store: InMemoryOrders) -> None:
    order_id = await signed_order(store, "financing")
    pay = RecordPaymentHandler(unit_of_work=store, clock=clock, new_id=Ids())
    paid = await pay(RecordPayment(order_id, "down_payment", 30_00, "CNY", reference="P-1"), CTX)
    assert paid.order.paid_minor == 30_00
    again = await pay(RecordPayment(order_id, "down_payment", 30_00, "CNY", reference="P-1"), CTX)
    assert again.order.paid_minor == 30_00  # the same reference is recorded once
    financed = await ApproveFinancingHandler(unit_of_work=store, clock=clock)(
        ApproveFinancing(order_id, "Bank", 70_00, "CNY"), CTX)
    assert financed.order.outstanding_minor == 0
    await ScheduleDeliveryHandler(unit_of_work=store, clock=clock)(
        ScheduleDelivery(order_id, T0 + timedelta(days=2), "showroom"), CTX)
    moved = await RescheduleDeliveryHandler(unit_of_work=store, clock=clock)(
        RescheduleDelivery(order_id, T0 + timedelta(days=3), reason="customer asked"), CTX)
    assert moved.order.delivery_scheduled_for == T0 + timedelta(days=3)
    delivered = await DeliverOrderHandler(unit_of_work=store, clock=clock, config=CONFIG)(DeliverOrder(order_id), CTX)
    assert delivered.order.delivered_at == T0
    assert store.event_types(f"order-{order_id}") == [
        "ContractSigned", "PaymentReceived", "FinancingApproved", "DeliveryScheduled", "DeliveryScheduled",
        "Delivered"]


async def test_a_declined_financing_then_cancellation_and_refund(store: InMemoryOrders) -> None:
    order_id = await signed_order(store, "financing")
    await RecordPaymentHandler(unit_of_work=store, clock=clock, new_id=Ids())(
        RecordPayment(order_id, "deposit", 20_00, "CNY"), CTX)
    await DeclineFinancingHandler(unit_of_work=store, clock=clock)(
        DeclineFinancing(order_id, "Bank", "income not proven"), CTX)
    cancelled = await CancelOrderHandler(unit_of_work=store, clock=clock, config=CONFIG)(
        CancelOrder(order_id, "changed mind"), CTX)
    due = cancelled.order.refund_due_minor
    with pytest.raises(RefundExceedsPaidError):
        await RefundPaymentHandler(unit_of_work=store, clock=clock, new_id=Ids())(
            RefundPayment(order_id, due + 1, "CNY", "too much"), CTX)
    await RefundPaymentHandler(unit_of_work=store, clock=clock, new_id=Ids())(
        RefundPayment(order_id, due, "CNY", "deposit back"), CTX)
    assert store.event_types(f"order-{order_id}") == [
        "ContractSigned", "PaymentReceived", "FinancingDeclined", "OrderCancelled", "RefundIssued"]


async def test_refused_commands_write_nothing(store: InMemoryOrders) -> None:
    order_id = await signed_order(store)
    with pytest.raises(OverpaymentError):
        await RecordPaymentHandler(unit_of_work=store, clock=clock, new_id=Ids())(
            RecordPayment(order_id, "full", TOTAL + 1, "CNY"), CTX)
    with pytest.raises(OrderNotPaidError):
        await DeliverOrderHandler(unit_of_work=store, clock=clock, config=CONFIG)(DeliverOrder(order_id), CTX)
    with pytest.raises(InvalidFieldError) as refused:
        await CancelOrderHandler(unit_of_work=store, clock=clock, config=CONFIG)(CancelOrder(order_id, " "), CTX)
    assert refused.value.field == "reason"
    with pytest.raises(ConcurrencyError):
        await ScheduleDeliveryHandler(unit_of_work=store, clock=clock)(
            ScheduleDelivery(order_id, T0 + timedelta(days=2), expected_version=0), CTX)
    assert store.event_types(f"order-{order_id}") == ["ContractSigned"]
