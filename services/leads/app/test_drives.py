"""The test-drive fleet and its booking calendar (试乘试驾).

A booking is the vehicle's rule (no overlap with an active booking, see domain/test_drive.py) and the lead's
appointment (kind test_drive, id = the booking's), appended together. Concurrent bookings of one vehicle conflict
on its stream; the runner decides each again (no client-pinned version), so the winner's slot is seen and an
overlapping request is refused with 409 ``test_drive_slot_taken`` — one booking per slot, however many race for it.
Each booking arms a durable no-show timer at its start plus the grace period (kernel timers, id
``leads.test_drive_no_show:<booking>``) in the same transaction; starting or closing the drive cancels it; if it
fires while the drive is still only booked, the drive is missed, the vehicle's slot is free again and the lead's
follow-up is due soon (the appointment no-show rule).

Before the drive starts a booking can be **cancelled** (the slot is free; the lead's appointment is cancelled; the
timer cancelled) or **moved** to another slot or vehicle: both vehicles' streams and the lead's are appended
together, so the old slot is freed in the transaction that takes the new one, and a move racing a booking (or
another move) into the same slot conflicts on the target vehicle's stream and is decided again against the winner
— the same no-double-booking argument as for two bookings. The no-show timer moves with the booking (same id).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from services.leads.app import access
from services.leads.app.ports import Clock, CommandContext, IdFactory, UnitOfWork, UnitOfWorkFactory
from services.leads.domain import errors
from services.leads.domain.lead import Lead
from services.leads.domain.policy import LeadPolicy
from services.leads.domain.test_drive import Booking, TestDriveVehicle
from shared.timer_model import Timer
from shared.unit_of_work.core import TimerPlan
from shared.unit_of_work.retry import CommandRunner

NO_SHOW = "leads.test_drive_no_show"


@dataclass(frozen=True, slots=True)
class RegisterTestDriveVehicle:
    """Add a vehicle to the test-drive fleet."""

    vehicle_id: Annotated[str, Field(min_length=1, max_length=100, examples=["DEMO-MY-01"])]
    model: Annotated[str, Field(min_length=1, max_length=100, examples=["Model Y"])]
    plate: Annotated[str, Field(min_length=1, max_length=20, examples=["沪A12345"])]
    trim: Annotated[str | None, Field(max_length=100)] = None
    colour: Annotated[str | None, Field(max_length=50)] = None
    vin: Annotated[str | None, Field(min_length=17, max_length=17)] = None


@dataclass(frozen=True, slots=True)
class BookTestDrive:
    """Book a slot of a fleet vehicle for a lead."""

    vehicle_id: Annotated[str, Field(min_length=1, max_length=100)]
    lead_id: Annotated[str, Field(min_length=1, max_length=100)]
    starts_at: Annotated[datetime, Field(description="the slot's start (with a time zone); it ends after the "
                                                     "route's minutes")]
    route: Annotated[str, Field(min_length=1, max_length=40, description="a code from GET /v1/test-drive-routes")]


@dataclass(frozen=True, slots=True)
class StartTestDrive:
    """Start the drive, after the licence check and the waiver."""

    booking_id: str
    licence_checked: Annotated[bool, Field(description="the driver's licence was seen and is valid")]
    waiver_signed: Annotated[bool, Field(description="the test-drive waiver (试驾协议) is signed")]


@dataclass(frozen=True, slots=True)
class CompleteTestDrive:
    """End the drive with the prospect's feedback."""

    booking_id: str
    feedback_score: Annotated[int, Field(ge=1, le=5, description="1 (poor) to 5 (excellent)")]
    feedback_note: Annotated[str | None, Field(max_length=1000)] = None


@dataclass(frozen=True, slots=True)
class RecordTestDriveNoShow:
    booking_id: str


@dataclass(frozen=True, slots=True)
class CancelTestDrive:
    """Call a booking off before the drive; the slot is free again."""

    booking_id: str
    reason: Annotated[str, Field(min_length=1, max_length=500, examples=["customer postponed"])]


@dataclass(frozen=True, slots=True)
class MoveTestDrive:
    """Move a booking to another slot, another fleet vehicle, or both."""

    booking_id: str
    starts_at: Annotated[datetime, Field(description="the new slot's start (with a time zone)")]
    vehicle_id: Annotated[str | None, Field(min_length=1, max_length=100,
                                            description="another fleet vehicle (default: the same)")] = None
    route: Annotated[str | None, Field(min_length=1, max_length=40, description="default: the booking's")] = None


@dataclass(frozen=True, slots=True)
class TestDrive:
    """A booking as the handlers answer it: the vehicle (its version) and the booking."""

    vehicle: TestDriveVehicle
    booking_id: str
    booking: Booking


@dataclass(frozen=True, slots=True)
class TestDrivePolicy:
    route_minutes: Mapping[str, int]
    no_show_grace: timedelta = timedelta(minutes=30)


BookingChange = Callable[[TestDriveVehicle, Lead, UnitOfWork, datetime], Awaitable[Booking]]


def no_show_timer(booking_id: str, vehicle_id: str, due_at: datetime | None) -> TimerPlan:
    return TimerPlan(f"{NO_SHOW}:{booking_id}", NO_SHOW, due_at, {"vehicle_id": vehicle_id, "booking_id": booking_id})


class TestDriveHandlers:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory, policy: TestDrivePolicy,
                 lead_policy: LeadPolicy) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._new_id = new_id
        self._policy = policy
        self._lead_policy = lead_policy

    def timer_handlers(self) -> dict[str, Any]:
        return {NO_SHOW: self.no_show_due}

    async def register_vehicle(self, command: RegisterTestDriveVehicle, context: CommandContext) -> TestDriveVehicle:
        if context.caller is not None:
            access.require_fleet(context.caller)

        async def decide(uow: UnitOfWork, now: datetime) -> TestDriveVehicle:
            if await uow.load(TestDriveVehicle, command.vehicle_id) is not None:
                raise errors.TestDriveVehicleAlreadyExistsError(f"vehicle {command.vehicle_id} is in the fleet",
                                                                vehicle_id=command.vehicle_id)
            vehicle = TestDriveVehicle.register(vehicle_id=command.vehicle_id, model=command.model,
                                                plate=command.plate, trim=command.trim, colour=command.colour,
                                                vin=command.vin, now=now)
            uow.add(vehicle)
            return vehicle
        return await self._commands.run(decide, context)

    async def book(self, command: BookTestDrive, context: CommandContext) -> TestDrive:
        async def decide(uow: UnitOfWork, now: datetime) -> TestDrive:
            lead = await self._workable_lead(uow, command.lead_id, context)
            vehicle = await uow.get(TestDriveVehicle, command.vehicle_id, missing=lambda: (
                errors.TestDriveVehicleNotFoundError(f"no test-drive vehicle {command.vehicle_id}",
                                                     vehicle_id=command.vehicle_id)))
            booking_id = self._new_id()
            booking = vehicle.book(booking_id=booking_id, lead_id=lead.id, starts_at=command.starts_at,
                                   route=command.route, route_minutes=self._policy.route_minutes, by=context.actor,
                                   now=now)
            lead.schedule_test_drive(booking_id=booking_id, vehicle_id=vehicle.id, starts_at=booking.starts_at,
                                     by=context.actor)
            uow.add(vehicle, timers=[no_show_timer(booking_id, vehicle.id,
                                                   booking.starts_at + self._policy.no_show_grace)])
            return TestDrive(vehicle, booking_id, booking)
        return await self._commands.run(decide, context)

    async def start(self, command: StartTestDrive, context: CommandContext) -> TestDrive:
        async def change(vehicle: TestDriveVehicle, lead: Lead, uow: UnitOfWork, now: datetime) -> Booking:
            booking = vehicle.start(booking_id=command.booking_id, licence_checked=command.licence_checked,
                                    waiver_signed=command.waiver_signed, by=context.actor, now=now)
            lead.record_test_drive_outcome(booking_id=command.booking_id, attended=True, by=context.actor, now=now,
                                           policy=self._lead_policy)
            uow.add(vehicle, timers=[no_show_timer(command.booking_id, vehicle.id, None)])
            return booking
        return await self._on_booking(command.booking_id, context, change)

    async def complete(self, command: CompleteTestDrive, context: CommandContext) -> TestDrive:
        async def change(vehicle: TestDriveVehicle, lead: Lead, uow: UnitOfWork, now: datetime) -> Booking:
            return vehicle.complete(booking_id=command.booking_id, feedback_score=command.feedback_score,
                                    feedback_note=command.feedback_note, by=context.actor, now=now)
        return await self._on_booking(command.booking_id, context, change)

    async def record_no_show(self, command: RecordTestDriveNoShow, context: CommandContext) -> TestDrive:
        async def change(vehicle: TestDriveVehicle, lead: Lead, uow: UnitOfWork, now: datetime) -> Booking:
            booking = vehicle.record_no_show(booking_id=command.booking_id, by=context.actor, now=now)
            lead.record_test_drive_outcome(booking_id=command.booking_id, attended=False, by=context.actor,
                                           now=now, policy=self._lead_policy)
            uow.add(vehicle, timers=[no_show_timer(command.booking_id, vehicle.id, None)])
            return booking
        return await self._on_booking(command.booking_id, context, change)

    async def cancel(self, command: CancelTestDrive, context: CommandContext) -> TestDrive:
        async def change(vehicle: TestDriveVehicle, lead: Lead, uow: UnitOfWork, now: datetime) -> Booking:
            booking = vehicle.cancel(booking_id=command.booking_id, reason=command.reason, by=context.actor, now=now)
            lead.cancel_test_drive(booking_id=command.booking_id, reason=command.reason.strip(),
                                   by=context.actor, now=now)
            uow.add(vehicle, timers=[no_show_timer(command.booking_id, vehicle.id, None)])
            return booking
        return await self._on_booking(command.booking_id, context, change)

    async def move(self, command: MoveTestDrive, context: CommandContext) -> TestDrive:
        booking_id = command.booking_id

        async def decide(uow: UnitOfWork, now: datetime) -> TestDrive:
            vehicle, lead = await self._booking_and_lead(uow, booking_id, context)
            target = vehicle
            if command.vehicle_id is not None and command.vehicle_id != vehicle.id:
                target = await uow.get(TestDriveVehicle, command.vehicle_id, missing=lambda: (
                    errors.TestDriveVehicleNotFoundError(f"no test-drive vehicle {command.vehicle_id}",
                                                         vehicle_id=command.vehicle_id)))
            moved = vehicle.move(booking_id=booking_id, to=target, starts_at=command.starts_at, route=command.route,
                                 route_minutes=self._policy.route_minutes, by=context.actor, now=now)
            if moved is None:  # already there: a retried request
                return TestDrive(vehicle, booking_id, vehicle.booking(booking_id))
            lead.reschedule_test_drive(booking_id=booking_id, vehicle_id=target.id, starts_at=moved.starts_at,
                                       by=context.actor)
            uow.add(target, timers=[no_show_timer(booking_id, target.id, moved.starts_at + self._policy.no_show_grace)])
            return TestDrive(target, booking_id, moved)
        return await self._commands.run(decide, context)

    async def no_show_due(self, conn: Any, timer: Timer) -> None:
        """The no-show timer, in the timer runner's transaction: a drive still only booked after its grace period
        is missed (a started, closed or unknown one records nothing, so a repeated firing is harmless)."""
        async def decide(uow: UnitOfWork, now: datetime) -> None:
            vehicle = await uow.load(TestDriveVehicle, timer.payload["vehicle_id"])
            booking_id = timer.payload["booking_id"]
            if vehicle is None or not vehicle.no_show_timer_fired(booking_id=booking_id,
                                                                  grace=self._policy.no_show_grace, now=now):
                return
            uow.add(vehicle)
            lead = await uow.load(Lead, vehicle.booking(booking_id).lead_id)
            if lead is not None and lead.record_test_drive_outcome(booking_id=booking_id, attended=False, by=None,
                                                                   now=now, policy=self._lead_policy):
                uow.add(lead)
        await self._commands.run(decide, CommandContext(correlation_id=timer.timer_id, actor="system:timers"),
                                 conn=conn)

    async def _workable_lead(self, uow: UnitOfWork, lead_id: str, context: CommandContext) -> Lead:
        lead = await uow.get(Lead, lead_id, missing=lambda: errors.LeadNotFoundError(f"no lead {lead_id}",
                                                                                     lead_id=lead_id))
        if context.caller is not None:
            access.require_work(context.caller, lead.id, owner_id=lead.owner_id, team_id=lead.team_id,
                                pooled=lead.pooled)
        return lead

    async def _on_booking(self, booking_id: str, context: CommandContext, change: BookingChange) -> TestDrive:
        """Load the booking's vehicle and lead (the lead's access rule decides who may act), apply ``change``."""
        async def decide(uow: UnitOfWork, now: datetime) -> TestDrive:
            vehicle, lead = await self._booking_and_lead(uow, booking_id, context)
            booking = await change(vehicle, lead, uow, now)
            return TestDrive(vehicle, booking_id, booking)
        return await self._commands.run(decide, context)

    async def _booking_and_lead(self, uow: UnitOfWork, booking_id: str, context: CommandContext
                                ) -> tuple[TestDriveVehicle, Lead]:
        vehicle_id = await uow.vehicle_of_booking(booking_id)
        vehicle = await uow.load(TestDriveVehicle, vehicle_id) if vehicle_id else None
        if vehicle is None or booking_id not in vehicle.bookings:
            raise errors.TestDriveNotFoundError(f"no test drive {booking_id}", booking_id=booking_id)
        uow.add(vehicle)
        lead = await self._lead_in_scope(uow, vehicle.booking(booking_id).lead_id, booking_id, context)
        return vehicle, lead

    @staticmethod
    async def _lead_in_scope(uow: UnitOfWork, lead_id: str, booking_id: str, context: CommandContext) -> Lead:
        lead = await uow.get(Lead, lead_id, missing=lambda: errors.TestDriveNotFoundError(
            f"no test drive {booking_id}", booking_id=booking_id))
        if context.caller is not None:
            try:
                access.require_work(context.caller, lead.id, owner_id=lead.owner_id, team_id=lead.team_id,
                                    pooled=lead.pooled)
            except errors.LeadNotFoundError:  # out of scope: the test drive does not exist for this caller
                raise errors.TestDriveNotFoundError(f"no test drive {booking_id}", booking_id=booking_id) from None
        return lead
