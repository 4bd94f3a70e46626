"""Releasing an order's vehicle without cancelling the order, and swapping it for another: what each records on the
order and on both vehicles, what is refused (after delivery, without a vehicle, a taken or mismatching
replacement, no reason) and that a refusal leaves nothing half-written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.orders.app.fulfilment import DeliverOrder, DeliverOrderHandler
from services.orders.app.ports import CommandContext
from services.orders.app.vehicles import (
    AllocateVehicle,
    AllocateVehicleHandler,
    RegisterVehicle,
    RegisterVehicleHandler,
    ReleaseVehicle,
    ReleaseVehicleHandler,
    SwapVehicle,
    SwapVehicleHandler,
)
from services.orders.domain import errors
from services.orders.domain.events import VehicleAllocated, VehicleDeallocated
from services.orders.domain.order import Order, OrderStatus
from services.orders.domain.vehicle import Vehicle
from shared.domain import InvalidFieldError
from tests.support.orders_builders import CHECKLIST, CONFIG, T0, payment, stock_vehicle, valid_vin, vehicle_order
from tests.support.orders_memory import InMemoryOrders

LATER = T0 + timedelta(hours=5)
CTX = CommandContext(correlation_id="c-1", actor="S-1")


def allocated(serial: int = 1, order_id: str = "O-1") -> tuple[Order, Vehicle]:
    car, order = stock_vehicle(serial), vehicle_order(order_id)
    order.allocate_vehicle(car, now=T0)
    return order, car


def delivered_order(serial: int = 1, order_id: str = "O-1") -> tuple[Order, Vehicle]:
    order, car = allocated(serial, order_id)
    order.pay(payment(order.total_minor, kind="full"), now=T0)
    for item in CHECKLIST.item_ids:
        order.complete_checklist_item(item=item, checklist=CHECKLIST, completed_by="S-1", reference=None, note=None,
                                      now=T0)
    order.deliver(now=T0, checklist=CHECKLIST, vehicle=car)
    return order, car


# ---- release -------------------------------------------------------------------------------------------------


def test_a_release_frees_the_vehicle_the_order_goes_on_and_can_take_another() -> None:
    order, car = allocated()
    order.release_vehicle(car, note=" paint damage found in PDI ", released_by="S-1", now=LATER)
    assert (order.status, order.vin, car.order_id, car.status) == (OrderStatus.SIGNED, None, None, "pdi_done")
    released = order.pending_events[-1]
    assert isinstance(released, VehicleDeallocated)
    assert (released.vin, released.reason, released.note, released.deallocated_by, released.replaced_by) == (
        car.id, "released", "paint damage found in PDI", "S-1", None)
    assert [e.event_type for e in car.pending_events][-1] == "VehicleReleased"
    other = stock_vehicle(2)
    order.allocate_vehicle(other, now=LATER)
    assert order.vin == other.id
    vehicle_order("O-2").allocate_vehicle(car, now=LATER)  # the released one is free stock for anyone


def test_a_released_order_is_not_delivered_until_it_has_a_vehicle_again() -> None:
    order, car = allocated()
    order.pay(payment(order.total_minor, kind="full"), now=T0)
    for item in CHECKLIST.item_ids:
        order.complete_checklist_item(item=item, checklist=CHECKLIST, completed_by="S-1", reference=None, note=None,
                                      now=T0)
    order.release_vehicle(car, note="damaged", released_by="S-1", now=T0)
    with pytest.raises(errors.DeliveryNotReadyError) as caught:
        order.deliver(now=LATER, checklist=CHECKLIST)
    assert "no vehicle is allocated" in caught.value.message


def test_a_release_needs_a_reason_a_vehicle_and_an_undelivered_uncancelled_order() -> None:
    order, car = allocated()
    with pytest.raises(InvalidFieldError) as caught:
        order.release_vehicle(car, note="  ", released_by="S-1", now=LATER)
    assert caught.value.field == "reason"
    assert (order.vin, car.order_id, order.pending_events[-1].event_type) == (car.id, order.id, "VehicleAllocated")
    with pytest.raises(errors.NoVehicleAllocatedError):
        vehicle_order("O-2").release_vehicle(None, note="why", released_by="S-1", now=LATER)
    done, handed_over = delivered_order()
    with pytest.raises(errors.OrderDeliveredError):
        done.release_vehicle(handed_over, note="why", released_by="S-1", now=LATER)
    order.cancel(reason="withdrew", refund_percent_of_paid=100, now=LATER, vehicle=car)
    with pytest.raises(errors.OrderCancelledError):
        order.release_vehicle(None, note="why", released_by="S-1", now=LATER)


# ---- swap ----------------------------------------------------------------------------------------------------


def test_a_swap_records_the_deallocation_naming_the_replacement_then_the_allocation() -> None:
    order, old = allocated(1)
    new = stock_vehicle(2, status="arrived")
    assert order.swap_vehicle(old, new, note="customer prefers the later one", swapped_by="S-1", now=LATER)
    swapped, allocation = order.pending_events[-2:]
    assert isinstance(swapped, VehicleDeallocated)
    assert isinstance(allocation, VehicleAllocated)
    assert (swapped.vin, swapped.reason, swapped.replaced_by, swapped.note, swapped.deallocated_by) == (
        old.id, "swapped", new.id, "customer prefers the later one", "S-1")
    assert (allocation.vin, allocation.vehicle_status, allocation.allocated_at) == (new.id, "arrived", LATER)
    assert (order.vin, old.order_id, new.order_id) == (new.id, None, order.id)
    assert (old.status, new.status) == ("pdi_done", "arrived")
    assert [e.event_type for e in old.pending_events][-1] == "VehicleReleased"
    assert [e.event_type for e in new.pending_events] == ["VehicleReserved"]


def test_swapping_to_the_vehicle_the_order_already_has_records_nothing() -> None:
    order, car = allocated()
    before = len(order.pending_events)
    assert not order.swap_vehicle(car, car, note="a repeated request", swapped_by="S-1", now=LATER)
    assert len(order.pending_events) == before
    assert order.vin == car.id


@pytest.mark.parametrize(("replacement", "error"), [
    ("taken", errors.VehicleAlreadyAllocatedError),
    ("red", errors.VehicleDoesNotMatchError),
    ("delivered", errors.VehicleDeliveredError),
])
def test_a_refused_replacement_leaves_the_order_and_both_vehicles_as_they_were(
        replacement: str, error: type[Exception]) -> None:
    order, old = allocated(1)
    if replacement == "taken":
        _, new = allocated(2, order_id="O-2")
    elif replacement == "red":
        new = stock_vehicle(3, colour="COL-RED")
    else:
        _, new = delivered_order(6, order_id="O-6")
    before = (len(order.pending_events), len(old.pending_events), len(new.pending_events), new.order_id)
    with pytest.raises(error):
        order.swap_vehicle(old, new, note="why", swapped_by="S-1", now=LATER)
    assert (len(order.pending_events), len(old.pending_events), len(new.pending_events), new.order_id) == before
    assert (order.vin, old.order_id) == (old.id, order.id)


def test_a_swap_is_refused_after_delivery_without_a_vehicle_and_without_a_reason() -> None:
    done, handed_over = delivered_order()
    with pytest.raises(errors.OrderDeliveredError):
        done.swap_vehicle(handed_over, stock_vehicle(2), note="why", swapped_by="S-1", now=LATER)
    with pytest.raises(errors.OrderDeliveredError):  # even naming the vehicle it was delivered with
        done.swap_vehicle(handed_over, handed_over, note="why", swapped_by="S-1", now=LATER)
    with pytest.raises(errors.NoVehicleAllocatedError):
        vehicle_order("O-2").swap_vehicle(None, stock_vehicle(3), note="why", swapped_by="S-1", now=LATER)
    order, car = allocated(4, order_id="O-4")
    with pytest.raises(InvalidFieldError) as caught:
        order.swap_vehicle(car, stock_vehicle(5), note="", swapped_by="S-1", now=LATER)
    assert caught.value.field == "reason"


# ---- handlers (in memory) ------------------------------------------------------------------------------------


async def stocked(store: InMemoryOrders, *serials: int) -> None:
    register = RegisterVehicleHandler(unit_of_work=store, clock=lambda: T0)
    for serial in serials:
        await register(RegisterVehicle(vin=valid_vin(serial), model="MY", trim="MY-LR", colour="COL-WHITE",
                                       status="pdi_done"), CTX)
    order = vehicle_order("O-1")
    order.pay(payment(order.total_minor, kind="full"), now=T0)
    async with store() as uow:
        uow.add(order)
        await uow.commit(CTX, T0)


async def test_the_swap_handler_commits_the_order_and_both_vehicles_and_a_repeat_changes_nothing() -> None:
    store = InMemoryOrders()
    await stocked(store, 11, 12)
    clock = lambda: LATER  # noqa: E731
    await AllocateVehicleHandler(unit_of_work=store, clock=clock)(AllocateVehicle("O-1", vin=valid_vin(11)), CTX)
    swap = SwapVehicleHandler(unit_of_work=store, clock=clock)
    result = await swap(SwapVehicle("O-1", vin=valid_vin(12).lower(), reason="scratch on the door"), CTX)
    assert result.order.vin == valid_vin(12)
    assert store.event_types("order-O-1")[-2:] == ["VehicleDeallocated", "VehicleAllocated"]
    assert store.event_types(f"vehicle-{valid_vin(11)}")[-1] == "VehicleReleased"
    assert store.event_types(f"vehicle-{valid_vin(12)}")[-1] == "VehicleReserved"
    versions = {stream: len(store.event_types(stream)) for stream in
                ("order-O-1", f"vehicle-{valid_vin(11)}", f"vehicle-{valid_vin(12)}")}
    again = await swap(SwapVehicle("O-1", vin=valid_vin(12), reason="scratch on the door"), CTX)
    assert again.order.vin == valid_vin(12)
    assert {stream: len(store.event_types(stream)) for stream in versions} == versions
    async with store() as uow:
        freed = await uow.load(Vehicle, valid_vin(11))
    assert freed is not None
    assert (freed.order_id, freed.status) == (None, "pdi_done")


async def test_the_release_handler_frees_the_vehicle_and_delivery_then_waits_for_another() -> None:
    store = InMemoryOrders()
    await stocked(store, 21)
    clock = lambda: LATER  # noqa: E731
    await AllocateVehicleHandler(unit_of_work=store, clock=clock)(AllocateVehicle("O-1"), CTX)
    released = await ReleaseVehicleHandler(unit_of_work=store, clock=clock)(
        ReleaseVehicle("O-1", reason="customer postpones"), CTX)
    assert released.order.vin is None
    assert store.event_types(f"vehicle-{valid_vin(21)}")[-1] == "VehicleReleased"
    with pytest.raises(errors.DeliveryNotReadyError):
        await DeliverOrderHandler(unit_of_work=store, clock=clock, config=CONFIG)(DeliverOrder("O-1"), CTX)
    with pytest.raises(errors.NoVehicleAllocatedError):
        await ReleaseVehicleHandler(unit_of_work=store, clock=clock)(ReleaseVehicle("O-1", reason="again"), CTX)
