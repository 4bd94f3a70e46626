"""Events of the vehicle stock (stream ``vehicle-<VIN>``): one aggregate per vehicle, so "never allocated to two
orders" is one stream's rule. ``adapters/publishing.py`` decides which become public."""

from __future__ import annotations

from datetime import datetime

from shared.domain import DomainEvent, EventTypeRegistry

vehicle_events = EventTypeRegistry()


@vehicle_events.register
class VehicleRegistered(DomainEvent):
    """A vehicle entered the stock: ordered from the factory, on its way, or already here."""

    event_type = "VehicleRegistered"

    vin: str
    model: str  # catalogue ids (the price list's model, trim and colour items)
    trim: str | None
    colour: str | None
    status: str
    factory_order_ref: str | None
    registered_by: str | None
    registered_at: datetime


@vehicle_events.register
class VehicleStatusChanged(DomainEvent):
    """The vehicle moved on through logistics: ordered → in_transit → arrived → pdi_done."""

    event_type = "VehicleStatusChanged"

    vin: str
    from_status: str
    to_status: str
    reference: str | None  # the shipment, the arrival note, the PDI report
    changed_by: str | None
    changed_at: datetime


@vehicle_events.register
class VehicleReserved(DomainEvent):
    """The vehicle was allocated to an order (the order records VehicleAllocated in the same transaction)."""

    event_type = "VehicleReserved"

    vin: str
    order_id: str
    reserved_at: datetime


@vehicle_events.register
class VehicleReleased(DomainEvent):
    """The order gave the vehicle back (cancelled, released or swapped for another): it is free stock again."""

    event_type = "VehicleReleased"

    vin: str
    order_id: str
    reason: str  # the order's VehicleDeallocated reason code: order_cancelled, released, swapped
    released_at: datetime


@vehicle_events.register
class VehicleHandedOver(DomainEvent):
    """The vehicle left the stock with its order's delivery."""

    event_type = "VehicleHandedOver"

    vin: str
    order_id: str
    handed_over_at: datetime
