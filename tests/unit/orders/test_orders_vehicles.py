"""Vehicle stock, allocation and the delivery checklist: VINs, logistics moves, one vehicle per order and one
order per vehicle, deallocation on cancel, and delivery refused until the checklist and the vehicle are ready."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.orders.app.fulfilment import (
    CancelOrder,
    CancelOrderHandler,
    CompleteDeliveryChecklistItem,
    CompleteDeliveryChecklistItemHandler,
    DeliverOrder,
    DeliverOrderHandler,
)
from services.orders.app.ports import CommandContext, OrdersConfig
from services.orders.app.vehicles import (
    AllocateVehicle,
    AllocateVehicleHandler,
    ChangeVehicleStatus,
    ChangeVehicleStatusHandler,
    RegisterVehicle,
    RegisterVehicleHandler,
)
from services.orders.domain import errors
from services.orders.domain.events import Delivered
from services.orders.domain.order import Order, OrderStatus
from services.orders.domain.vehicle import Vehicle, VehicleSpec
from services.orders.domain.vin import TRANSLITERATION, VIN_ALPHABET, normalise_vin
from shared.domain import InvalidFieldError
from tests.support.orders_builders import (
    CHECKLIST,
    CONFIG,
    T0,
    accepted_quote,
    line,
    payment,
    stock_vehicle,
    valid_vin,
    vehicle_order,
)
from tests.support.orders_memory import InMemoryOrders

LATER = T0 + timedelta(hours=5)
CTX = CommandContext(correlation_id="c-1", actor="S-1")


# ---- VINs ---------------------------------------------------------------------------------------------------


def test_a_vin_is_normalised_and_its_check_digit_verified() -> None:
    assert normalise_vin(" 1m8gdm9axkp042788 ") == "1M8GDM9AXKP042788"  # the textbook North American example
    assert normalise_vin(valid_vin(123)) == valid_vin(123)


@pytest.mark.parametrize(("vin", "reason"), [
    ("LRW3E7FA8NC00001", "17 characters, not 16"),
    ("LRW3E7FA8NC0000011", "17 characters, not 18"),
    ("LRW3E7FA8NC00O001", "without I, O and Q; found 'O'"),
    ("LRWIE7FAQNC000001", "found 'IQ'"),
])
def test_a_malformed_vin_is_refused_naming_the_field_and_the_reason(vin: str, reason: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        normalise_vin(vin)
    assert caught.value.field == "vin"
    assert reason in caught.value.reason


def test_a_chinese_vin_with_a_wrong_check_digit_is_refused_a_european_one_is_not_checked() -> None:
    good = valid_vin(42)
    wrong = good[:8] + ("1" if good[8] != "1" else "2") + good[9:]
    with pytest.raises(InvalidFieldError) as caught:
        normalise_vin(wrong)
    assert f"give {good[8]!r}" in caught.value.reason
    assert normalise_vin("WVWZZZ1JZXW000001") == "WVWZZZ1JZXW000001"  # position 9 is the maker's own in Europe


@given(serial=st.integers(0, 999_999), position=st.integers(0, 16).filter(lambda p: p != 8),
       char=st.sampled_from(sorted(VIN_ALPHABET)))
def test_changing_any_one_character_of_a_chinese_vin_to_one_of_another_value_breaks_its_check_digit(
        serial: int, position: int, char: str) -> None:
    good = valid_vin(serial)
    changed = good[:position] + char + good[position + 1:]
    if position < 3 and not changed.startswith("L"):
        return  # no longer a Chinese WMI: not checked
    if TRANSLITERATION[char] == TRANSLITERATION[good[position]]:
        assert normalise_vin(changed) == changed  # same transliteration value: the check digit cannot tell
    else:
        with pytest.raises(InvalidFieldError):
            normalise_vin(changed)


# ---- the vehicle ---------------------------------------------------------------------------------------------


def test_a_vehicle_moves_forward_through_logistics_repeats_record_nothing_and_it_never_goes_back() -> None:
    car = stock_vehicle(1, status="ordered")
    assert car.move(status="in_transit", reference="SHIP-1", changed_by="M-1", now=T0)
    assert not car.move(status="in_transit", reference="SHIP-1", changed_by="M-1", now=T0)
    assert car.move(status="pdi_done", reference="PDI-1", changed_by="M-1", now=T0)  # arrived skipped
    with pytest.raises(errors.VehicleStatusBackwardsError):
        car.move(status="arrived", reference=None, changed_by="M-1", now=T0)
    with pytest.raises(InvalidFieldError) as caught:
        car.move(status="teleported", reference=None, changed_by="M-1", now=T0)
    assert caught.value.field == "status"
    assert [e.event_type for e in car.pending_events] == ["VehicleStatusChanged", "VehicleStatusChanged"]
    assert car.status == "pdi_done"


def test_the_vehicle_spec_comes_from_the_catalogue_lines_and_hand_typed_orders_have_none() -> None:
    assert vehicle_order().vehicle_spec == VehicleSpec(model=None, trim="MY-LR", colour="COL-WHITE")
    typed = Order.sign(order_id="O-9", quote=accepted_quote(line()), payment_plan="full", now=T0)
    assert typed.vehicle_spec is None
    with pytest.raises(errors.NotAVehicleOrderError):
        typed.allocate_vehicle(stock_vehicle(), now=T0)


def test_an_allocated_vehicle_is_reserved_and_refused_to_a_second_order() -> None:
    car, first, second = stock_vehicle(), vehicle_order("O-1"), vehicle_order("O-2")
    first.allocate_vehicle(car, now=T0)
    assert (first.vin, car.order_id, car.status) == (car.id, "O-1", "reserved")
    with pytest.raises(errors.VehicleAlreadyAllocatedError):
        second.allocate_vehicle(car, now=T0)
    with pytest.raises(errors.OrderHasVehicleError):
        first.allocate_vehicle(stock_vehicle(2), now=T0)


def test_a_vehicle_of_another_colour_or_trim_does_not_match() -> None:
    with pytest.raises(errors.VehicleDoesNotMatchError) as caught:
        vehicle_order().allocate_vehicle(stock_vehicle(colour="COL-RED"), now=T0)
    assert caught.value.details["needed"] == {"model": None, "trim": "MY-LR", "colour": "COL-WHITE"}
    with pytest.raises(errors.VehicleDoesNotMatchError):
        vehicle_order().allocate_vehicle(stock_vehicle(trim="MY-P"), now=T0)
    vehicle_order(colour=None).allocate_vehicle(stock_vehicle(colour="COL-RED"), now=T0)  # no colour line: any


def test_cancelling_the_order_gives_the_vehicle_back_to_free_stock() -> None:
    car, order = stock_vehicle(), vehicle_order()
    order.allocate_vehicle(car, now=T0)
    order.cancel(reason="changed mind", refund_percent_of_paid=100, now=LATER, vehicle=car)
    assert (order.vin, car.order_id, car.status) == (None, None, "pdi_done")
    assert [e.event_type for e in order.pending_events][-2:] == ["OrderCancelled", "VehicleDeallocated"]
    vehicle_order("O-2").allocate_vehicle(car, now=LATER)


# ---- the checklist and delivery ------------------------------------------------------------------------------


def paid_order_with(car_status: str) -> tuple[Order, Vehicle]:
    car, order = stock_vehicle(status=car_status), vehicle_order()
    order.allocate_vehicle(car, now=T0)
    order.pay(payment(order.total_minor, kind="full"), now=T0)
    return order, car


def test_delivery_is_refused_naming_the_open_items_and_the_vehicle_until_both_are_ready() -> None:
    order, car = paid_order_with("arrived")
    order.complete_checklist_item(item="invoice", checklist=CHECKLIST, completed_by="S-1", reference="INV-7",
                                  note=None, now=T0)
    with pytest.raises(errors.DeliveryNotReadyError) as caught:
        order.deliver(now=LATER, checklist=CHECKLIST, vehicle=car)
    assert caught.value.details["open_items"] == ["pdi", "customer_confirmation"]
    assert caught.value.details["vehicle_status"] == "arrived"
    assert "not pdi_done" in caught.value.message
    for item in ("pdi", "customer_confirmation"):
        order.complete_checklist_item(item=item, checklist=CHECKLIST, completed_by="S-1", reference=None,
                                      note=None, now=T0)
    with pytest.raises(errors.DeliveryNotReadyError) as caught:
        order.deliver(now=LATER, checklist=CHECKLIST, vehicle=car)
    assert caught.value.details["open_items"] == []
    car.move(status="pdi_done", reference="PDI-9", changed_by="M-1", now=T0)
    order.deliver(now=LATER, checklist=CHECKLIST, vehicle=car)
    assert (order.status, car.status) == (OrderStatus.DELIVERED, "delivered")
    delivered = order.pending_events[-1]
    assert isinstance(delivered, Delivered)
    assert delivered.vin == car.id


def test_payment_is_still_checked_first_and_a_vehicle_order_without_a_vehicle_is_not_delivered() -> None:
    order = vehicle_order()
    with pytest.raises(errors.OrderNotPaidError):
        order.deliver(now=LATER, checklist=CHECKLIST)
    order.pay(payment(order.total_minor, kind="full"), now=T0)
    with pytest.raises(errors.DeliveryNotReadyError) as caught:
        order.deliver(now=LATER, checklist=CHECKLIST)
    assert "no vehicle is allocated" in caught.value.message


def test_a_checklist_item_is_completed_once_and_only_from_the_departments_list() -> None:
    order = vehicle_order()
    with pytest.raises(InvalidFieldError) as caught:
        order.complete_checklist_item(item="car_wash", checklist=CHECKLIST, completed_by="S-1", reference=None,
                                      note=None, now=T0)
    assert caught.value.field == "item"
    order.complete_checklist_item(item="invoice", checklist=CHECKLIST, completed_by="S-1", reference=" INV-1 ",
                                  note=None, now=T0)
    with pytest.raises(errors.ChecklistItemAlreadyCompletedError) as again:
        order.complete_checklist_item(item="invoice", checklist=CHECKLIST, completed_by="S-2", reference=None,
                                      note=None, now=T0)
    assert again.value.details["completed_by"] == "S-1"
    done = order.checklist_done["invoice"]
    assert (done.completed_by, done.reference, done.completed_at) == ("S-1", "INV-1", T0)


def test_the_checklist_is_configured_per_department_with_a_default() -> None:
    assert CONFIG.delivery_checklist(None).item_ids == (
        "pdi", "invoice", "insurance_policy", "registration", "documents_handed_over", "customer_confirmation")
    config = OrdersConfig(discount_limits_bp={}, currencies=frozenset({"CNY"}),
                          delivery_checklists={"default": CHECKLIST, "T-fleet": CONFIG.delivery_checklist(None)})
    assert config.delivery_checklist("T-other") == CHECKLIST
    assert len(config.delivery_checklist("T-fleet").items) == 6


# ---- handlers (in memory) ------------------------------------------------------------------------------------


async def test_allocation_takes_the_most_advanced_matching_vehicle_and_two_racing_orders_get_one_each() -> None:
    store = InMemoryOrders()
    clock = lambda: T0  # noqa: E731
    register = RegisterVehicleHandler(unit_of_work=store, clock=clock)
    for serial, status in ((1, "ordered"), (2, "pdi_done"), (3, "in_transit")):
        await register(RegisterVehicle(vin=valid_vin(serial), model="MY", trim="MY-LR", colour="COL-WHITE",
                                       status=status), CTX)
    await register(RegisterVehicle(vin=valid_vin(4), model="MY", trim="MY-LR", colour="COL-RED",
                                   status="pdi_done"), CTX)
    with pytest.raises(errors.VehicleAlreadyRegisteredError):
        await register(RegisterVehicle(vin=valid_vin(4).lower(), model="MY"), CTX)
    orders = [vehicle_order(f"O-{n}") for n in range(4)]
    async with store() as uow:
        for order in orders:
            uow.add(order)
        await uow.commit(CTX, T0)
    allocate = AllocateVehicleHandler(unit_of_work=store, clock=clock)
    first = await allocate(AllocateVehicle("O-0"), CTX)
    assert first.order.vin == valid_vin(2)  # PDI done before in transit before ordered; the red one never
    both = await asyncio.gather(allocate(AllocateVehicle("O-1"), CTX), allocate(AllocateVehicle("O-2"), CTX))
    assert sorted(r.order.vin or "" for r in both) == sorted([valid_vin(3), valid_vin(1)])
    with pytest.raises(errors.NoVehicleAvailableError):
        await allocate(AllocateVehicle("O-3"), CTX)
    with pytest.raises(errors.VehicleAlreadyAllocatedError):
        await allocate(AllocateVehicle("O-3", vin=valid_vin(2)), CTX)

    await CancelOrderHandler(unit_of_work=store, clock=clock, config=CONFIG)(CancelOrder("O-0", "changed mind"), CTX)
    again = await allocate(AllocateVehicle("O-3"), CTX)
    assert again.order.vin == valid_vin(2)
    assert store.event_types(f"vehicle-{valid_vin(2)}") == [
        "VehicleRegistered", "VehicleReserved", "VehicleReleased", "VehicleReserved"]


async def test_deliver_handler_checks_the_departments_checklist_and_hands_the_vehicle_over() -> None:
    store = InMemoryOrders()
    clock = lambda: T0  # noqa: E731
    await RegisterVehicleHandler(unit_of_work=store, clock=clock)(RegisterVehicle(
        vin=valid_vin(5), model="MY", trim="MY-LR", colour="COL-WHITE", status="arrived"), CTX)
    order = vehicle_order("O-5")
    order.pay(payment(order.total_minor, kind="full"), now=T0)
    async with store() as uow:
        uow.add(order)
        await uow.commit(CTX, T0)
    await AllocateVehicleHandler(unit_of_work=store, clock=clock)(AllocateVehicle("O-5"), CTX)
    deliver = DeliverOrderHandler(unit_of_work=store, clock=clock, config=CONFIG)
    with pytest.raises(errors.DeliveryNotReadyError) as caught:
        await deliver(DeliverOrder("O-5"), CTX)
    assert caught.value.details["open_items"] == list(CONFIG.delivery_checklist(None).item_ids)
    complete = CompleteDeliveryChecklistItemHandler(unit_of_work=store, clock=clock, config=CONFIG)
    for item in CONFIG.delivery_checklist(None).item_ids:
        await complete(CompleteDeliveryChecklistItem("O-5", item, reference=f"{item}-ref"), CTX)
    await ChangeVehicleStatusHandler(unit_of_work=store, clock=clock)(
        ChangeVehicleStatus(valid_vin(5), "pdi_done", reference="PDI-5"), CTX)
    delivered = await deliver(DeliverOrder("O-5"), CTX)
    assert delivered.order.status is OrderStatus.DELIVERED
    assert store.event_types(f"vehicle-{valid_vin(5)}")[-1] == "VehicleHandedOver"
    assert store.event_types("order-O-5").count("DeliveryChecklistItemCompleted") == 6
