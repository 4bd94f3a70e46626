"""Events of the showroom floor (DESIGN §1 steps 2 and 5): the reception register (streams ``visit-<id>``) and the
test-drive fleet (streams ``test-drive-vehicle-<id>``). The lead's own side of a visit or a test drive is recorded
on the lead's stream (``lead_events``). New fields on an existing event are always optional."""

from __future__ import annotations

from datetime import datetime

from shared.domain import DomainEvent, EventTypeRegistry

showroom_events = EventTypeRegistry()


# --- reception register (到店登记) ----------------------------------------------------------------------------


@showroom_events.register
class VisitArrived(DomainEvent):
    """Someone came to the showroom and the receptionist registered them. ``visit_number`` counts the customer's
    register entries (1 = first visit); it is computed from the register under the customer's lock."""

    event_type = "VisitArrived"

    visit_id: str
    lead_id: str
    customer_id: str
    visit_number: int
    first_visit: bool
    party_size: int
    purpose: str
    receptionist_id: str | None = None
    consultant_id: str | None = None
    team_id: str | None = None
    # True when the visitor had no open lead and the registration captured one (channel showroom).
    walk_in_lead: bool = False
    arrived_at: datetime


@showroom_events.register
class VisitDeparted(DomainEvent):
    event_type = "VisitDeparted"

    visit_id: str
    lead_id: str
    departed_at: datetime
    duration_minutes: int
    recorded_by: str | None = None


# --- test-drive fleet (试乘试驾) -------------------------------------------------------------------------------


@showroom_events.register
class TestDriveVehicleRegistered(DomainEvent):
    event_type = "TestDriveVehicleRegistered"

    vehicle_id: str
    model: str
    trim: str | None = None
    colour: str | None = None
    plate: str
    vin: str | None = None
    registered_at: datetime


@showroom_events.register
class TestDriveBooked(DomainEvent):
    """A slot of the vehicle's calendar was booked for a lead; no other booking overlaps it."""

    event_type = "TestDriveBooked"

    vehicle_id: str
    booking_id: str
    lead_id: str
    starts_at: datetime
    ends_at: datetime
    route: str
    booked_by: str | None = None
    booked_at: datetime


@showroom_events.register
class TestDriveStarted(DomainEvent):
    """The driver's licence was checked and the waiver signed; the drive began."""

    event_type = "TestDriveStarted"

    vehicle_id: str
    booking_id: str
    lead_id: str
    licence_checked_by: str | None = None
    waiver_signed: bool
    started_at: datetime


@showroom_events.register
class TestDriveCompleted(DomainEvent):
    event_type = "TestDriveCompleted"

    vehicle_id: str
    booking_id: str
    lead_id: str
    ended_at: datetime
    duration_minutes: int
    feedback_score: int
    feedback_note: str | None = None
    completed_by: str | None = None


@showroom_events.register
class TestDriveMissed(DomainEvent):
    """No-show: the prospect did not come by the slot's start plus the grace period (the timer) or a consultant
    said so. The slot is free again."""

    event_type = "TestDriveMissed"

    vehicle_id: str
    booking_id: str
    lead_id: str
    recorded_by: str | None = None
    recorded_at: datetime


@showroom_events.register
class TestDriveCancelled(DomainEvent):
    """The booking was called off before the drive began; the slot is free again."""

    event_type = "TestDriveCancelled"

    vehicle_id: str
    booking_id: str
    lead_id: str
    reason: str
    cancelled_by: str | None = None
    cancelled_at: datetime


@showroom_events.register
class TestDriveRescheduled(DomainEvent):
    """The booking moved to this vehicle's slot ``starts_at``–``ends_at`` (from another slot of the same vehicle, or
    from ``from_vehicle_id``, which records TestDriveMovedAway in the same transaction); the old slot is free."""

    event_type = "TestDriveRescheduled"

    vehicle_id: str
    booking_id: str
    lead_id: str
    from_vehicle_id: str
    previous_starts_at: datetime
    starts_at: datetime
    ends_at: datetime
    route: str
    booked_by: str | None = None  # who made the booking (kept when it moves to another vehicle)
    rescheduled_by: str | None = None
    rescheduled_at: datetime


@showroom_events.register
class TestDriveMovedAway(DomainEvent):
    """The booking left this vehicle's calendar for ``to_vehicle_id`` (TestDriveRescheduled there)."""

    event_type = "TestDriveMovedAway"

    vehicle_id: str
    booking_id: str
    lead_id: str
    to_vehicle_id: str
    moved_by: str | None = None
    moved_at: datetime
