"""The vehicle stock (车辆库存): one aggregate per vehicle, keyed by its VIN.

Logistics moves a vehicle forward through ``ordered → in_transit → arrived → pdi_done`` (a move may skip a step,
never go back); an order reserves it (from stock or while it is still an incoming factory order) and hands it
over at delivery. Its ``status`` as people read it is the logistics stage, except that a reserved vehicle which
is PDI done reads ``reserved`` and a handed-over one ``delivered`` — the chain ordered → in transit → arrived →
PDI done → reserved → delivered. A vehicle reserved for one order cannot be reserved for another: both
reservations append to this one stream expecting the same version, so one of them conflicts and is decided again
against the winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.orders.domain.errors import (
    VehicleAlreadyAllocatedError,
    VehicleDeliveredError,
    VehicleDoesNotMatchError,
    VehicleStatusBackwardsError,
)
from services.orders.domain.lines import Line
from services.orders.domain.products import ItemKind
from services.orders.domain.vehicle_events import (
    VehicleHandedOver,
    VehicleRegistered,
    VehicleReleased,
    VehicleReserved,
    VehicleStatusChanged,
)
from services.orders.domain.vin import normalise_vin
from shared.domain import Aggregate, DomainEvent, InvalidFieldError


class LogisticsStatus(StrEnum):
    ORDERED = "ordered"  # a factory order: allocatable as an incoming vehicle
    IN_TRANSIT = "in_transit"
    ARRIVED = "arrived"
    PDI_DONE = "pdi_done"  # pre-delivery inspection passed: the only status a vehicle is handed over in


LOGISTICS_ORDER = tuple(LogisticsStatus)
RESERVED = "reserved"
DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class VehicleSpec:
    """What an order needs: the catalogue ids of its model, trim and colour lines (None: any)."""

    model: str | None
    trim: str | None
    colour: str | None

    @classmethod
    def of_lines(cls, lines: tuple[Line, ...] | list[Line]) -> VehicleSpec | None:
        """The vehicle a contract's catalogue lines sell, or None when no line is a model or trim from the
        catalogue (hand-typed lines, accessories only): such an order has no vehicle to allocate."""
        by_kind: dict[str, str] = {}
        for line in lines:
            if line.catalogue_id and line.kind and line.kind not in by_kind:
                by_kind[line.kind] = line.catalogue_id
        model, trim = by_kind.get(ItemKind.MODEL), by_kind.get(ItemKind.TRIM)
        if model is None and trim is None:
            return None
        return cls(model=model, trim=trim, colour=by_kind.get(ItemKind.COLOUR))

    def matches(self, model: str, trim: str | None, colour: str | None) -> bool:
        return ((self.trim is None or self.trim == trim) and (self.model is None or self.model == model)
                and (self.colour is None or self.colour == colour))

    def describe(self) -> str:
        return describe(self.model, self.trim, self.colour)


def describe(model: str | None, trim: str | None, colour: str | None) -> str:
    """``model MY / trim MY-LR / colour COL-WHITE`` (the parts that are set), for messages."""
    return " / ".join(f"{name} {value}" for name, value in
                      (("model", model), ("trim", trim), ("colour", colour)) if value)


class Vehicle(Aggregate):
    stream_type = "vehicle"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.model = ""
        self.trim: str | None = None
        self.colour: str | None = None
        self.logistics = LogisticsStatus.ORDERED
        self.order_id: str | None = None
        self.delivered = False
        self.factory_order_ref: str | None = None
        self.registered_at: datetime | None = None

    @classmethod
    def register(cls, *, vin: str, model: str, trim: str | None, colour: str | None, status: str,
                 factory_order_ref: str | None, registered_by: str | None, now: datetime) -> Vehicle:
        vin = normalise_vin(vin)
        if not model.strip():
            raise InvalidFieldError("model", "must not be empty")
        vehicle = cls(vin)
        vehicle._record(VehicleRegistered(
            vin=vin, model=model.strip(), trim=_optional(trim), colour=_optional(colour),
            status=_logistics(status, "status").value, factory_order_ref=_optional(factory_order_ref),
            registered_by=registered_by, registered_at=now))
        return vehicle

    def move(self, *, status: str, reference: str | None, changed_by: str | None, now: datetime) -> bool:
        """Move forward through logistics; False (nothing recorded) when it is there already (a repeated
        notification). Backwards is refused: a vehicle does not un-arrive."""
        target = _logistics(status, "status")
        if self.delivered:
            raise VehicleDeliveredError(f"vehicle {self.id} was delivered")
        if target is self.logistics:
            return False
        if LOGISTICS_ORDER.index(target) < LOGISTICS_ORDER.index(self.logistics):
            raise VehicleStatusBackwardsError(f"vehicle {self.id} is {self.logistics.value}: it cannot go back to "
                                              f"{target.value}", status=self.logistics.value)
        self._record(VehicleStatusChanged(vin=self.id, from_status=self.logistics.value, to_status=target.value,
                                          reference=_optional(reference), changed_by=changed_by, changed_at=now))
        return True

    def reserve(self, *, order_id: str, spec: VehicleSpec, now: datetime) -> None:
        if self.delivered:
            raise VehicleDeliveredError(f"vehicle {self.id} was delivered")
        if self.order_id is not None:
            raise VehicleAlreadyAllocatedError(f"vehicle {self.id} is allocated to another order",
                                               vin=self.id)
        if not spec.matches(self.model, self.trim, self.colour):
            raise VehicleDoesNotMatchError(
                f"vehicle {self.id} is {self.describe()}; the order needs {spec.describe()}",
                vin=self.id, vehicle={"model": self.model, "trim": self.trim, "colour": self.colour},
                needed={"model": spec.model, "trim": spec.trim, "colour": spec.colour})
        self._record(VehicleReserved(vin=self.id, order_id=order_id, reserved_at=now))

    def release(self, *, order_id: str, reason: str, now: datetime) -> None:
        if self.order_id != order_id or self.delivered:
            raise LookupError(f"vehicle {self.id} is not reserved for order {order_id}")  # an order-stream bug
        self._record(VehicleReleased(vin=self.id, order_id=order_id, reason=reason, released_at=now))

    def hand_over(self, *, order_id: str, now: datetime) -> None:
        if self.order_id != order_id or self.delivered:
            raise LookupError(f"vehicle {self.id} is not reserved for order {order_id}")
        self._record(VehicleHandedOver(vin=self.id, order_id=order_id, handed_over_at=now))

    @property
    def status(self) -> str:
        if self.delivered:
            return DELIVERED
        if self.order_id is not None and self.logistics is LogisticsStatus.PDI_DONE:
            return RESERVED
        return self.logistics.value

    @property
    def ready_for_handover(self) -> bool:
        return self.logistics is LogisticsStatus.PDI_DONE and not self.delivered

    def describe(self) -> str:
        return describe(self.model, self.trim, self.colour)

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case VehicleRegistered():
                self.model, self.trim, self.colour = event.model, event.trim, event.colour
                self.logistics = LogisticsStatus(event.status)
                self.factory_order_ref, self.registered_at = event.factory_order_ref, event.registered_at
            case VehicleStatusChanged():
                self.logistics = LogisticsStatus(event.to_status)
            case VehicleReserved():
                self.order_id = event.order_id
            case VehicleReleased():
                self.order_id = None
            case VehicleHandedOver():
                self.delivered = True
            case _:
                raise TypeError(f"Vehicle cannot apply {type(event).__name__}")


def _logistics(value: str, field: str) -> LogisticsStatus:
    try:
        return LogisticsStatus(value)
    except ValueError:
        raise InvalidFieldError(field, f"one of {', '.join(s.value for s in LogisticsStatus)}") from None


def _optional(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None
