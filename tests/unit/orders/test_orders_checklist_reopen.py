"""Undoing a delivery checklist item: a reopened item is open again for the delivery gate until completed anew, the
history keeps both, and what may not be reopened (an open item, an unknown one, without a reason, after delivery or
cancellation) is refused with nothing recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.orders.api_schemas import checklist_view
from services.orders.app.fulfilment import (
    CompleteDeliveryChecklistItem,
    CompleteDeliveryChecklistItemHandler,
    ReopenDeliveryChecklistItem,
    ReopenDeliveryChecklistItemHandler,
)
from services.orders.app.ports import CommandContext
from services.orders.domain import errors
from services.orders.domain.checklist import ChecklistItem, DeliveryChecklist
from services.orders.domain.events import DeliveryChecklistItemReopened
from services.orders.domain.order import Order, OrderStatus
from services.orders.domain.vehicle import Vehicle
from shared.domain import InvalidFieldError
from tests.support.orders_builders import CHECKLIST, CONFIG, T0, payment, stock_vehicle, vehicle_order
from tests.support.orders_memory import InMemoryOrders

LATER = T0 + timedelta(hours=5)
CTX = CommandContext(correlation_id="c-1", actor="S-2")


def complete(order: Order, item: str, reference: str | None = None) -> None:
    order.complete_checklist_item(item=item, checklist=CHECKLIST, completed_by="S-1", reference=reference, note=None,
                                  now=T0)


def ready_order() -> tuple[Order, Vehicle]:
    """Paid, its PDI-done vehicle allocated, every item of CHECKLIST completed: deliverable."""
    order, car = vehicle_order(), stock_vehicle()
    order.allocate_vehicle(car, now=T0)
    order.pay(payment(order.total_minor, kind="full"), now=T0)
    for item in CHECKLIST.item_ids:
        complete(order, item, reference=f"{item}-1")
    return order, car


def test_a_reopened_item_is_open_for_the_delivery_gate_until_it_is_completed_again() -> None:
    order, car = ready_order()
    order.reopen_checklist_item(item="invoice", checklist=CHECKLIST, reason=" wrong company name ",
                                reopened_by="S-2", now=LATER)
    reopened = order.pending_events[-1]
    assert isinstance(reopened, DeliveryChecklistItemReopened)
    assert (reopened.item, reopened.reason, reopened.reopened_by, reopened.reopened_at) == (
        "invoice", "wrong company name", "S-2", LATER)
    assert "invoice" not in order.checklist_done
    with pytest.raises(errors.DeliveryNotReadyError) as caught:
        order.deliver(now=LATER, checklist=CHECKLIST, vehicle=car)
    assert caught.value.details["open_items"] == ["invoice"]
    complete(order, "invoice", reference="INV-2")
    assert order.checklist_done["invoice"].reference == "INV-2"
    assert order.checklist_reopened == {}
    order.deliver(now=LATER, checklist=CHECKLIST, vehicle=car)
    assert order.status is OrderStatus.DELIVERED


def test_the_checklist_view_says_who_reopened_an_open_item_and_why() -> None:
    order, _ = ready_order()
    order.reopen_checklist_item(item="pdi", checklist=CHECKLIST, reason="scratch found", reopened_by="S-2", now=LATER)
    view = {i["item"]: i for i in checklist_view(order, CHECKLIST)["items"]}
    assert (view["pdi"]["completed"], view["pdi"]["reopened"]) == (
        False, {"by": "S-2", "at": LATER.isoformat(), "reason": "scratch found"})
    assert (view["invoice"]["completed"], view["invoice"]["reopened"]) == (True, None)
    assert checklist_view(order, CHECKLIST)["open_items"] == ["pdi"]


def test_an_open_or_unknown_item_or_one_without_a_reason_is_not_reopened() -> None:
    order = vehicle_order()
    complete(order, "invoice")
    with pytest.raises(errors.ChecklistItemNotCompletedError):
        order.reopen_checklist_item(item="pdi", checklist=CHECKLIST, reason="r", reopened_by="S-2", now=LATER)
    with pytest.raises(InvalidFieldError) as unknown:
        order.reopen_checklist_item(item="car_wash", checklist=CHECKLIST, reason="r", reopened_by="S-2", now=LATER)
    assert unknown.value.field == "item"
    with pytest.raises(InvalidFieldError) as blank:
        order.reopen_checklist_item(item="invoice", checklist=CHECKLIST, reason="  ", reopened_by="S-2", now=LATER)
    assert blank.value.field == "reason"
    assert [e.event_type for e in order.pending_events][-1] == "DeliveryChecklistItemCompleted"
    assert "invoice" in order.checklist_done


def test_an_item_completed_under_an_older_list_can_still_be_reopened() -> None:
    order = vehicle_order()
    complete(order, "invoice")
    shorter = DeliveryChecklist((ChecklistItem("pdi", "PDI"),))
    order.reopen_checklist_item(item="invoice", checklist=shorter, reason="dropped from the list", reopened_by="S-2",
                                now=LATER)
    assert "invoice" not in order.checklist_done


def test_nothing_is_reopened_after_delivery_or_cancellation() -> None:
    order, car = ready_order()
    order.deliver(now=LATER, checklist=CHECKLIST, vehicle=car)
    assert order.status is OrderStatus.DELIVERED
    with pytest.raises(errors.OrderDeliveredError):
        order.reopen_checklist_item(item="invoice", checklist=CHECKLIST, reason="r", reopened_by="S-2", now=LATER)
    cancelled = vehicle_order("O-2")
    complete(cancelled, "invoice")
    cancelled.cancel(reason="withdrew", refund_percent_of_paid=100, now=LATER)
    with pytest.raises(errors.OrderCancelledError):
        cancelled.reopen_checklist_item(item="invoice", checklist=CHECKLIST, reason="r", reopened_by="S-2",
                                        now=LATER)


async def test_the_reopen_handler_records_the_caller_and_completing_again_works() -> None:
    store = InMemoryOrders()
    order = vehicle_order("O-7")
    async with store() as uow:
        uow.add(order)
        await uow.commit(CTX, T0)
    clock = lambda: LATER  # noqa: E731
    complete_item = CompleteDeliveryChecklistItemHandler(unit_of_work=store, clock=clock, config=CONFIG)
    reopen = ReopenDeliveryChecklistItemHandler(unit_of_work=store, clock=clock, config=CONFIG)
    await complete_item(CompleteDeliveryChecklistItem("O-7", "registration", reference="沪A12345"), CTX)
    result = await reopen(ReopenDeliveryChecklistItem("O-7", "registration", reason="plate of the swapped car"), CTX)
    assert "registration" not in result.order.checklist_done
    assert result.order.checklist_reopened["registration"].reopened_by == "S-2"
    with pytest.raises(errors.ChecklistItemNotCompletedError):
        await reopen(ReopenDeliveryChecklistItem("O-7", "registration", reason="again"), CTX)
    again = await complete_item(CompleteDeliveryChecklistItem("O-7", "registration", reference="沪A54321"), CTX)
    assert again.order.checklist_done["registration"].reference == "沪A54321"
    assert store.event_types("order-O-7")[-3:] == [
        "DeliveryChecklistItemCompleted", "DeliveryChecklistItemReopened", "DeliveryChecklistItemCompleted"]
