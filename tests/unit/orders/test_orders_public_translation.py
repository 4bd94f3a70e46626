"""Every stored orders event has a decided public mapping, and the message it becomes honours its contract."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
import pytest

from services.orders.adapters.publishing import PRIVATE, SOURCE, to_public_message
from services.orders.app.ports import NO_CHECKLIST
from services.orders.domain.catalogue import PriceList
from services.orders.domain.events import order_events
from services.orders.domain.order import Order
from services.orders.domain.products import CatalogueItem, ItemKind
from services.orders.domain.quote import Quote
from services.orders.domain.vehicle import Vehicle
from services.orders.domain.vehicle_events import vehicle_events
from shared.contracts import registry
from shared.contracts.orders import (
    ContractSignedV1,
    DeliveredV1,
    DeliveryChecklistItemReopenedV1,
    QuoteRevisedV1,
    VehicleDeallocatedV1,
)
from shared.domain import DomainEvent
from shared.eventstore import RecordedEvent
from shared.messaging.headers import EventHeaders
from tests.support.orders_builders import (
    CHECKLIST,
    CURRENCIES,
    CUSTOMER,
    POLICY,
    T0,
    VALID_UNTIL,
    accepted_quote,
    line,
    manager_approval,
    payment,
    percent,
    stock_vehicle,
    valid_vin,
    vehicle_order,
)

EVENT_ID = UUID("3f2b8c1e-9a4d-4b7e-8c2f-1a2b3c4d5e6f")


AGGREGATE_ID = {"quote": "quote_id", "order": "order_id", "price-list": "currency", "vehicle": "vin"}


def recorded(event: DomainEvent, stream_type: str) -> RecordedEvent:
    aggregate_id = getattr(event, AGGREGATE_ID[stream_type])
    return RecordedEvent(
        position=1, txid=1, event_id=EVENT_ID, stream_id=f"{stream_type}-{aggregate_id}", stream_type=stream_type,
        version=1, event_type=event.event_type, schema_version=event.schema_version,
        data=event.model_dump(mode="json"), metadata={"correlation_id": "corr"}, occurred_at=T0, recorded_at=T0,
    )


def every_stored_event() -> list[tuple[DomainEvent, str]]:
    """One of each stored type, produced by the domain itself (so the samples are realistic)."""
    quote = accepted_quote(line(100_00, 1, ("red", 5_00)), discount=percent(200))
    quote.revise(role="consultant", lines=[line(90_00)], discount=None, approval=None, valid_until=VALID_UNTIL,
                 reason="r", now=T0 + timedelta(hours=2), policy=POLICY)
    quote.accept(revision=2, now=T0 + timedelta(hours=3))
    order = Order.sign(order_id="O-1", quote=quote, payment_plan="financing", now=T0 + timedelta(hours=4))
    order.pay(payment(10_00, kind="down_payment"), now=T0 + timedelta(hours=5))
    order.refund(refund_id="R-1", amount_minor=1_00, currency="CNY", reason="r", now=T0 + timedelta(hours=5))
    order.decline_financing(provider="A", reason="no", now=T0 + timedelta(hours=6))
    order.approve_financing(provider="B", amount_minor=81_00, currency="CNY", reference=None,
                            now=T0 + timedelta(hours=6))
    order.schedule_delivery(scheduled_for=T0 + timedelta(days=3), location="showroom", now=T0 + timedelta(hours=7))
    order.deliver(now=T0 + timedelta(days=3), checklist=NO_CHECKLIST)
    other = accepted_quote()
    expired = accepted_quote()
    expired.expire(now=VALID_UNTIL)
    cancelled = Order.sign(order_id="O-2", quote=other, payment_plan="full", now=T0 + timedelta(hours=2))
    cancelled.cancel(reason="r", refund_percent_of_paid=100, now=T0 + timedelta(hours=3))
    fresh = Quote.issue(quote_id="Q-9", lead_id=None, customer=CUSTOMER, consultant_id="S-1", role="consultant",
                        lines=[line()], discount=percent(500), approval=manager_approval(), currency="CNY",
                        valid_until=VALID_UNTIL, now=T0, policy=POLICY, currencies=CURRENCIES)
    quote_events = [*fresh.pending_events, *quote.pending_events, *expired.pending_events]
    order_events_ = [*order.pending_events, *cancelled.pending_events]
    price_list = PriceList.for_currency("CNY")
    price_list.publish(version_id="2026-12", valid_from=T0, valid_until=None, published_by="d1", now=T0,
                       items=[CatalogueItem(catalogue_id="MY", kind=ItemKind.MODEL, name="Model Y", price_minor=1)])
    return ([(e, "quote") for e in quote_events] + [(e, "order") for e in order_events_]
            + [(e, "price-list") for e in price_list.pending_events] + vehicle_story())


def vehicle_story() -> list[tuple[DomainEvent, str]]:
    """A vehicle order: the car registered, moved to PDI done, allocated, the checklist done, delivered; and a
    second car allocated to a cancelled order (deallocated)."""
    car = Vehicle.register(vin=valid_vin(7), model="MY", trim="MY-LR", colour="COL-WHITE", status="in_transit",
                           factory_order_ref="F-1", registered_by="M-1", now=T0)
    car.move(status="pdi_done", reference="PDI-1", changed_by="M-1", now=T0 + timedelta(hours=1))
    sold = vehicle_order("O-3")
    sold.allocate_vehicle(car, now=T0 + timedelta(hours=3))
    for item in CHECKLIST.item_ids:
        sold.complete_checklist_item(item=item, checklist=CHECKLIST, completed_by="S-1", reference=f"{item}-1",
                                     note=None, now=T0 + timedelta(hours=4))
    sold.pay(payment(sold.total_minor, kind="full"), now=T0 + timedelta(hours=4))
    sold.deliver(now=T0 + timedelta(hours=5), checklist=CHECKLIST, vehicle=car)
    returned = stock_vehicle(8)
    dropped = vehicle_order("O-4")
    dropped.allocate_vehicle(returned, now=T0 + timedelta(hours=3))
    dropped.cancel(reason="r", refund_percent_of_paid=100, now=T0 + timedelta(hours=4), vehicle=returned)
    swapped, first, second = vehicle_order("O-5"), stock_vehicle(9), stock_vehicle(10)
    swapped.allocate_vehicle(first, now=T0 + timedelta(hours=3))
    swapped.swap_vehicle(first, second, note="scratched", swapped_by="S-1", now=T0 + timedelta(hours=4))
    swapped.release_vehicle(second, note="customer waits", released_by="S-1", now=T0 + timedelta(hours=5))
    swapped.complete_checklist_item(item="invoice", checklist=CHECKLIST, completed_by="S-1", reference="INV-9",
                                    note=None, now=T0 + timedelta(hours=5))
    swapped.reopen_checklist_item(item="invoice", checklist=CHECKLIST, reason="wrong buyer name", reopened_by="S-2",
                                  now=T0 + timedelta(hours=6))
    return [(e, stream_type) for aggregate, stream_type in
            ((sold, "order"), (dropped, "order"), (car, "vehicle"), (returned, "vehicle"))
            for e in aggregate.pending_events] + [(e, "order") for e in swapped.pending_events]


SAMPLES = every_stored_event()


def test_the_samples_cover_every_stored_event_type() -> None:
    assert {e.event_type for e, _ in SAMPLES} == set(order_events._types) | set(vehicle_events._types)


@pytest.mark.parametrize(("event", "stream_type"), SAMPLES, ids=[f"{e.event_type}" for e, _ in SAMPLES])
def test_every_stored_event_is_published_under_its_contract_or_kept_private(
    event: DomainEvent, stream_type: str
) -> None:
    message = to_public_message(recorded(event, stream_type))
    if event.event_type in PRIVATE:
        assert message is None
        return
    assert message is not None
    headers = EventHeaders.decode(message.headers)
    aggregate_id = getattr(event, AGGREGATE_ID[stream_type])
    assert message.key == headers.subject.encode() == aggregate_id.encode()
    assert (headers.source, headers.correlation_id) == (SOURCE, "corr")
    contract = registry.get(headers.event_type, headers.schema_version)
    assert contract.producer == "orders"
    assert headers.event_type == f"salesflow.orders.{event.event_type}"
    contract.model_validate_json(message.value)


def body(event_type: str) -> dict[str, Any]:
    event, stream_type = next((e, s) for e, s in SAMPLES if e.event_type == event_type)
    message = to_public_message(recorded(event, stream_type))
    assert message is not None
    parsed: dict[str, Any] = orjson.loads(message.value)
    return parsed


def test_contract_signed_carries_the_order_terms_with_option_prices_in_the_unit_price() -> None:
    signed = ContractSignedV1.model_validate(body("ContractSigned"))
    assert (signed.order_id, signed.lead_id, signed.quote_id, signed.payment_plan) == ("O-1", "L-1", "Q-1",
                                                                                        "financing")
    assert signed.total_minor == 90_00
    assert signed.customer_phone == "+8613812345678"


def test_a_revised_quote_says_which_revision_and_why() -> None:
    revised = QuoteRevisedV1.model_validate(body("QuoteRevised"))
    assert (revised.revision, revised.reason, revised.currency, revised.total_minor) == (2, "r", "CNY", 90_00)


def test_delivered_carries_the_lead_and_the_customer_for_return_visits() -> None:
    delivered = DeliveredV1.model_validate(body("Delivered"))
    assert (delivered.lead_id, delivered.customer_name, delivered.customer_phone) == ("L-1", "张三",
                                                                                      "+8613812345678")


def test_a_stored_type_nobody_decided_about_is_refused_rather_than_silently_dropped() -> None:
    class OrderTeleported(DomainEvent):
        event_type = "OrderTeleported"
        order_id: str = "O-1"

    with pytest.raises(LookupError, match="OrderTeleported"):
        to_public_message(recorded(OrderTeleported(), "order"))


def test_a_quote_issued_with_an_approved_discount_names_the_approver() -> None:
    issued = body("QuoteIssued")
    assert (issued["discount_kind"], issued["discount_percent_bp"], issued["discount_approved_by"]) == (
        "percent", 500, "M-1")
    assert "customer_phone" not in issued  # personal data stays in the orders service


def test_a_swap_and_a_release_say_why_who_and_which_vehicle_took_the_place() -> None:
    order_o5 = [orjson.loads(m.value) for e, s in SAMPLES if getattr(e, "order_id", None) == "O-5"
                and e.event_type == "VehicleDeallocated" and (m := to_public_message(recorded(e, s)))]
    swap, release = (VehicleDeallocatedV1.model_validate(b) for b in order_o5)
    assert (swap.vin, swap.reason, swap.replaced_by, swap.note, swap.deallocated_by) == (
        valid_vin(9), "swapped", valid_vin(10), "scratched", "S-1")
    assert (release.vin, release.reason, release.replaced_by, release.note) == (
        valid_vin(10), "released", None, "customer waits")
    cancelled = VehicleDeallocatedV1.model_validate(body("VehicleDeallocated"))
    assert (cancelled.reason, cancelled.note, cancelled.deallocated_by) == ("order_cancelled", None, None)


def test_a_reopened_checklist_item_says_which_item_who_and_why() -> None:
    reopened = DeliveryChecklistItemReopenedV1.model_validate(body("DeliveryChecklistItemReopened"))
    assert (reopened.order_id, reopened.item, reopened.reason, reopened.reopened_by) == (
        "O-5", "invoice", "wrong buyer name", "S-2")
    assert reopened.reopened_at == T0 + timedelta(hours=6)
