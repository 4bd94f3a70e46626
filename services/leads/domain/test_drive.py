"""The test-drive fleet (试乘试驾): each vehicle keeps its own booking calendar, so "no double booking" is one
aggregate's rule — a booking is checked against the vehicle's active bookings and appended with the version the
vehicle was loaded at; a concurrent booking of the same vehicle is a version conflict, decided again against the
winner's booking (and refused if it overlaps). A booking starts after the licence check and the waiver, ends
with a feedback score, or becomes a no-show, which frees the slot. Before it starts it can be cancelled (the slot
is free) or moved to another slot of the same vehicle or to another vehicle (one transaction over both vehicles'
streams: the old slot is freed as the new one is taken, and a concurrent booking of the new slot conflicts on its
vehicle's stream exactly as two bookings do).

The stream grows with every booking (about three events each); at a dealership's pace (tens a week per vehicle)
that is a few thousand events a year, which a load reads in milliseconds. A vehicle that has driven for years
would want a snapshot or a stream per year — not built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.leads.domain import errors
from services.leads.domain.showroom_events import (
    TestDriveBooked,
    TestDriveCancelled,
    TestDriveCompleted,
    TestDriveMissed,
    TestDriveMovedAway,
    TestDriveRescheduled,
    TestDriveStarted,
    TestDriveVehicleRegistered,
)
from services.leads.domain.values import text_field
from shared.domain import Aggregate, DomainEvent, InvalidFieldError, check_scheduled

FEEDBACK_SCORES = range(1, 6)
_BOOKING_EVENTS = (TestDriveBooked, TestDriveStarted, TestDriveCompleted, TestDriveMissed, TestDriveCancelled,
                   TestDriveRescheduled, TestDriveMovedAway)
ACTIVE = frozenset({"booked", "started"})


@dataclass(slots=True)
class Booking:
    lead_id: str
    starts_at: datetime
    ends_at: datetime
    route: str
    booked_by: str | None = None
    status: str = "booked"  # booked | started | completed | missed | cancelled
    started_at: datetime | None = None
    ended_at: datetime | None = None
    feedback_score: int | None = None
    feedback_note: str | None = None

    def overlaps(self, starts_at: datetime, ends_at: datetime) -> bool:
        return self.status in ACTIVE and self.starts_at < ends_at and starts_at < self.ends_at


def _required(field: str, value: str | None, limit: int) -> str:
    clean = text_field(field, value, limit)
    if not clean:
        raise InvalidFieldError(field, "must not be empty")
    return clean


class TestDriveVehicle(Aggregate):
    stream_type = "test-drive-vehicle"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.model = ""
        self.trim: str | None = None
        self.colour: str | None = None
        self.plate = ""
        self.vin: str | None = None
        self.registered_at: datetime | None = None
        self.bookings: dict[str, Booking] = {}

    @classmethod
    def register(cls, *, vehicle_id: str, model: str, plate: str, trim: str | None, colour: str | None,
                 vin: str | None, now: datetime) -> TestDriveVehicle:
        vehicle = cls(_required("vehicle_id", vehicle_id, 100))
        if vin is not None and len(vin.strip()) != 17:
            raise InvalidFieldError("vin", "a VIN has 17 characters")
        vehicle._record(TestDriveVehicleRegistered(
            vehicle_id=vehicle.id, model=_required("model", model, 100), plate=_required("plate", plate, 20),
            trim=text_field("trim", trim, 100), colour=text_field("colour", colour, 50),
            vin=vin.strip().upper() if vin else None, registered_at=now))
        return vehicle

    def touched_bookings(self) -> list[str]:
        """The bookings this unit of work's events changed and that are (still) on this vehicle's calendar — what
        the calendar table must be told; a booking moved away is written by the vehicle it moved to."""
        return list(dict.fromkeys(e.booking_id for e in self.pending_events
                                  if isinstance(e, _BOOKING_EVENTS) and e.booking_id in self.bookings))

    def booking(self, booking_id: str) -> Booking:
        booking = self.bookings.get(booking_id)
        if booking is None:
            raise errors.TestDriveNotFoundError(f"no test drive {booking_id}", booking_id=booking_id)
        return booking

    def book(self, *, booking_id: str, lead_id: str, starts_at: datetime, route: str,
             route_minutes: Mapping[str, int], by: str | None, now: datetime) -> Booking:
        """Book the slot ``starts_at`` + the route's duration. Refused if any active booking overlaps it."""
        ends_at = self._free_slot(starts_at, route, route_minutes, now=now)
        self._record(TestDriveBooked(vehicle_id=self.id, booking_id=booking_id, lead_id=lead_id, starts_at=starts_at,
                                     ends_at=ends_at, route=route, booked_by=by, booked_at=now))
        return self.bookings[booking_id]

    def cancel(self, *, booking_id: str, reason: str, by: str | None, now: datetime) -> Booking:
        """Call the booking off before the drive: the slot is free again."""
        booking = self._not_started(booking_id, "cancel")
        self._record(TestDriveCancelled(vehicle_id=self.id, booking_id=booking_id, lead_id=booking.lead_id,
                                        reason=_required("reason", reason, 500), cancelled_by=by, cancelled_at=now))
        return booking

    def move(self, *, booking_id: str, to: TestDriveVehicle, starts_at: datetime, route: str | None,
             route_minutes: Mapping[str, int], by: str | None, now: datetime) -> Booking | None:
        """Move the booking to ``starts_at`` on vehicle ``to`` (this one or another; the route stays unless a new
        one is given). The new slot must be free of *other* active bookings; the old one is free afterwards.
        None (nothing recorded) when it is already there — a retried request."""
        booking = self._not_started(booking_id, "move")
        route = route or booking.route
        if to is self and starts_at == booking.starts_at and route == booking.route:
            return None
        ends_at = to._free_slot(starts_at, route, route_minutes, now=now, ignoring=booking_id)
        if to is not self:
            self._record(TestDriveMovedAway(vehicle_id=self.id, booking_id=booking_id, lead_id=booking.lead_id,
                                            to_vehicle_id=to.id, moved_by=by, moved_at=now))
        to._record(TestDriveRescheduled(
            vehicle_id=to.id, booking_id=booking_id, lead_id=booking.lead_id, from_vehicle_id=self.id,
            previous_starts_at=booking.starts_at, starts_at=starts_at, ends_at=ends_at, route=route,
            booked_by=booking.booked_by, rescheduled_by=by, rescheduled_at=now))
        return to.bookings[booking_id]

    def start(self, *, booking_id: str, licence_checked: bool, waiver_signed: bool, by: str | None,
              now: datetime) -> Booking:
        booking = self._open(booking_id)
        if booking.status == "started":
            raise errors.TestDriveAlreadyStartedError(f"test drive {booking_id} started at "
                                                      f"{booking.started_at.isoformat() if booking.started_at else ''}")
        if not licence_checked or not waiver_signed:
            missing = [name for name, done in (("licence_checked", licence_checked),
                                               ("waiver_signed", waiver_signed)) if not done]
            raise errors.LicenceNotCheckedError(
                "a test drive starts after the driver's licence was checked and the waiver signed", missing=missing)
        self._record(TestDriveStarted(vehicle_id=self.id, booking_id=booking_id, lead_id=booking.lead_id,
                                      licence_checked_by=by, waiver_signed=True, started_at=now))
        return booking

    def complete(self, *, booking_id: str, feedback_score: int, feedback_note: str | None, by: str | None,
                 now: datetime) -> Booking:
        booking = self._open(booking_id)
        if booking.status != "started" or booking.started_at is None:
            raise errors.TestDriveNotStartedError(f"test drive {booking_id} has not started")
        if feedback_score not in FEEDBACK_SCORES:
            raise InvalidFieldError("feedback_score", "must be 1 (poor) to 5 (excellent)")
        minutes = max(0, int((now - booking.started_at).total_seconds() // 60))
        self._record(TestDriveCompleted(vehicle_id=self.id, booking_id=booking_id, lead_id=booking.lead_id,
                                        ended_at=now, duration_minutes=minutes, feedback_score=feedback_score,
                                        feedback_note=text_field("feedback_note", feedback_note), completed_by=by))
        return booking

    def record_no_show(self, *, booking_id: str, by: str | None, now: datetime) -> Booking:
        """A consultant says the prospect did not come: the slot is free again."""
        booking = self._open(booking_id)
        if booking.status == "started":
            raise errors.TestDriveAlreadyStartedError(f"test drive {booking_id} is under way: complete it")
        self._record(TestDriveMissed(vehicle_id=self.id, booking_id=booking_id, lead_id=booking.lead_id,
                                     recorded_by=by, recorded_at=now))
        return booking

    def no_show_timer_fired(self, *, booking_id: str, grace: timedelta, now: datetime) -> bool:
        """The no-show timer fired: records the no-show only if the drive is still booked and the grace period
        after its start has passed (a late, repeated or stale firing records nothing)."""
        booking = self.bookings.get(booking_id)
        if booking is None or booking.status != "booked" or now < booking.starts_at + grace:
            return False
        self._record(TestDriveMissed(vehicle_id=self.id, booking_id=booking_id, lead_id=booking.lead_id,
                                     recorded_at=now))
        return True

    def _free_slot(self, starts_at: datetime, route: str, route_minutes: Mapping[str, int], *, now: datetime,
                   ignoring: str | None = None) -> datetime:
        """The slot's end, if ``starts_at`` + the route's minutes overlaps no active booking (but ``ignoring``,
        the one being moved); else TestDriveSlotTakenError naming the taken slot."""
        check_scheduled("starts_at", starts_at, now=now)
        if route not in route_minutes:
            raise InvalidFieldError("route", f"unknown route {route!r}; known: {', '.join(sorted(route_minutes))}")
        ends_at = starts_at + timedelta(minutes=route_minutes[route])
        taken = [b for booking_id, b in self.bookings.items()
                 if booking_id != ignoring and b.overlaps(starts_at, ends_at)]
        if taken:
            raise errors.TestDriveSlotTakenError(
                f"vehicle {self.id} is booked from {taken[0].starts_at.isoformat()} to {taken[0].ends_at.isoformat()}",
                vehicle_id=self.id, starts_at=taken[0].starts_at.isoformat(), ends_at=taken[0].ends_at.isoformat())
        return ends_at

    def _not_started(self, booking_id: str, what: str) -> Booking:
        booking = self._open(booking_id)
        if booking.status == "started":
            raise errors.TestDriveAlreadyStartedError(f"test drive {booking_id} is under way: it cannot {what}; "
                                                      f"complete it")
        return booking

    def _open(self, booking_id: str) -> Booking:
        booking = self.booking(booking_id)
        if booking.status not in ACTIVE:
            raise errors.TestDriveClosedError(f"test drive {booking_id} is {booking.status}", booking_id=booking_id)
        return booking

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case TestDriveVehicleRegistered():
                self.model, self.trim, self.colour = event.model, event.trim, event.colour
                self.plate, self.vin, self.registered_at = event.plate, event.vin, event.registered_at
            case TestDriveBooked():
                self.bookings[event.booking_id] = Booking(event.lead_id, event.starts_at, event.ends_at, event.route,
                                                          event.booked_by)
            case TestDriveStarted():
                self.bookings[event.booking_id].status = "started"
                self.bookings[event.booking_id].started_at = event.started_at
            case TestDriveCompleted():
                completed = self.bookings[event.booking_id]
                completed.status, completed.ended_at = "completed", event.ended_at
                completed.feedback_score, completed.feedback_note = event.feedback_score, event.feedback_note
            case TestDriveMissed():
                self.bookings[event.booking_id].status = "missed"
            case TestDriveCancelled():
                self.bookings[event.booking_id].status = "cancelled"
            case TestDriveRescheduled():
                moved = self.bookings.get(event.booking_id)
                if moved is None:  # it came from another vehicle
                    self.bookings[event.booking_id] = Booking(event.lead_id, event.starts_at, event.ends_at,
                                                              event.route, event.booked_by)
                else:
                    moved.starts_at, moved.ends_at, moved.route = event.starts_at, event.ends_at, event.route
            case TestDriveMovedAway():
                del self.bookings[event.booking_id]
            case _:
                raise TypeError(f"TestDriveVehicle cannot apply {type(event).__name__}")
