"""The test-drive fleet's commands on the in-memory unit of work: a booking is the vehicle's slot and the lead's
appointment, overlapping slots are refused, the licence check and the waiver come before the start, feedback ends
the drive, and a no-show (by hand or by the timer) frees the vehicle and makes the lead's follow-up due soon."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.leads.app import test_drives as td
from services.leads.app.commands import CaptureLead
from services.leads.app.lead_commands import RecordAppointmentOutcome
from services.leads.app.organisation import RegisterConsultant, RegisterTeam
from services.leads.app.ports import CommandContext
from services.leads.app.test_drives import (
    NO_SHOW,
    BookTestDrive,
    CompleteTestDrive,
    RecordTestDriveNoShow,
    RegisterTestDriveVehicle,
    StartTestDrive,
)
from services.leads.domain import errors
from services.leads.domain.lead import Lead
from shared.auth.errors import ForbiddenError
from shared.domain import InvalidFieldError
from shared.timer_model import Timer
from tests.support.showroom_floor import T0, ShowroomFloor, as_caller

SLOT = T0 + timedelta(days=1)


def ctx(actor: str | None = "c1") -> CommandContext:
    return CommandContext(correlation_id="corr", actor=actor)


class Fleet(ShowroomFloor):
    async def lead(self, phone: str = "13800000001") -> Lead:
        return (await self.capture(CaptureLead(name="王", phone=phone, channel="website"), ctx())).lead

    async def book(self, lead: Lead, starts_at: datetime = SLOT, route: str = "city_short", vehicle_id: str = "V1",
                   context: CommandContext | None = None) -> td.TestDrive:
        return await self.drives.book(BookTestDrive(vehicle_id, lead.id, starts_at, route), context or ctx())

    def vehicle_types(self, vehicle_id: str = "V1") -> list[str]:
        return self.stream_types(f"test-drive-vehicle-{vehicle_id}")


@pytest.fixture
async def fleet() -> Fleet:
    world = Fleet()
    await world.organisation.register_team(RegisterTeam("t1", "t1"), ctx())
    await world.organisation.register_consultant(RegisterConsultant("c1", "c1", "t1"), ctx())
    await world.drives.register_vehicle(RegisterTestDriveVehicle("V1", "Model Y", "沪A12345", trim="LR",
                                                                 colour="white", vin="LRW3E7EK1PC000001"), ctx())
    return world


async def test_a_booking_is_the_vehicles_slot_and_the_leads_test_drive_appointment(fleet: Fleet) -> None:
    lead = await fleet.lead()
    drive = await fleet.book(lead)
    assert (drive.booking.starts_at, drive.booking.ends_at, drive.booking.status) == (
        SLOT, SLOT + timedelta(minutes=20), "booked")
    assert fleet.vehicle_types() == ["TestDriveVehicleRegistered", "TestDriveBooked"]
    appointment = (await fleet.load_lead(lead.id)).appointments[drive.booking_id]
    assert (appointment.kind, appointment.scheduled_for, appointment.vehicle_id) == ("test_drive", SLOT, "V1")
    timer = fleet.store.timer_table.pending[f"{NO_SHOW}:{drive.booking_id}"]
    assert (timer.due_at, timer.payload) == (SLOT + timedelta(minutes=30),
                                             {"vehicle_id": "V1", "booking_id": drive.booking_id})


@pytest.mark.parametrize(("offset_minutes", "route", "taken"), [
    (0, "city_short", True), (10, "city_short", True), (-15, "city_short", True),
    (-44, "mixed_long", True), (20, "city_short", False), (-20, "city_short", False), (-45, "mixed_long", False),
])
async def test_no_two_active_bookings_of_one_vehicle_overlap(fleet: Fleet, offset_minutes: int, route: str,
                                                             taken: bool) -> None:
    await fleet.book(await fleet.lead("13800000001"))
    other = await fleet.lead("13800000002")
    starts_at = SLOT + timedelta(minutes=offset_minutes)
    if taken:
        with pytest.raises(errors.TestDriveSlotTakenError):
            await fleet.book(other, starts_at, route)
        assert fleet.vehicle_types().count("TestDriveBooked") == 1
        assert (await fleet.load_lead(other.id)).appointments == {}
    else:
        assert (await fleet.book(other, starts_at, route)).booking.starts_at == starts_at


async def test_a_drive_starts_after_the_licence_check_and_the_waiver_and_ends_with_feedback(fleet: Fleet) -> None:
    lead = await fleet.lead()
    drive = await fleet.book(lead)
    for licence, waiver in ((False, True), (True, False)):
        with pytest.raises(errors.LicenceNotCheckedError):
            await fleet.drives.start(StartTestDrive(drive.booking_id, licence, waiver), ctx())
    with pytest.raises(errors.TestDriveNotStartedError):
        await fleet.drives.complete(CompleteTestDrive(drive.booking_id, 5), ctx())
    fleet.clock.now = SLOT
    await fleet.drives.start(StartTestDrive(drive.booking_id, True, True), ctx())
    assert f"{NO_SHOW}:{drive.booking_id}" not in fleet.store.timer_table.pending
    assert (await fleet.load_lead(lead.id)).stage.value == "test_driven"
    with pytest.raises(InvalidFieldError) as refused:
        await fleet.drives.complete(CompleteTestDrive(drive.booking_id, 6), ctx())
    assert refused.value.field == "feedback_score"
    fleet.clock.now = SLOT + timedelta(minutes=25)
    done = await fleet.drives.complete(CompleteTestDrive(drive.booking_id, 4, "舒适"), ctx())
    assert (done.booking.status, done.booking.feedback_score, done.booking.feedback_note) == ("completed", 4, "舒适")
    assert fleet.vehicle_types()[-2:] == ["TestDriveStarted", "TestDriveCompleted"]
    with pytest.raises(errors.TestDriveClosedError):
        await fleet.drives.record_no_show(RecordTestDriveNoShow(drive.booking_id), ctx())


async def test_a_no_show_frees_the_slot_and_makes_the_follow_up_due_soon(fleet: Fleet) -> None:
    lead = await fleet.lead()
    drive = await fleet.book(lead)
    fleet.clock.now = SLOT + timedelta(minutes=10)
    await fleet.drives.record_no_show(RecordTestDriveNoShow(drive.booking_id), ctx())
    after = await fleet.load_lead(lead.id)
    assert after.appointments[drive.booking_id].outcome == "missed"
    assert after.follow_up_due_at == fleet.clock.now + fleet.store.policy.no_show_follow_up
    assert f"{NO_SHOW}:{drive.booking_id}" not in fleet.store.timer_table.pending
    fleet.clock.now = T0
    again = await fleet.book(await fleet.lead("13800000002"))
    assert again.booking.starts_at == SLOT


async def test_the_no_show_timer_misses_a_drive_still_booked_and_a_repeat_firing_records_nothing(
        fleet: Fleet) -> None:
    lead = await fleet.lead()
    drive = await fleet.book(lead)
    pending = fleet.store.timer_table.pending[f"{NO_SHOW}:{drive.booking_id}"]
    timer = Timer(f"{NO_SHOW}:{drive.booking_id}", NO_SHOW, pending.due_at, pending.payload, 0)
    fleet.clock.now = SLOT + timedelta(minutes=29)  # early (a clock skew): not yet a no-show
    await fleet.drives.no_show_due(None, timer)
    assert fleet.vehicle_types()[-1] == "TestDriveBooked"
    fleet.clock.now = pending.due_at
    await fleet.drives.no_show_due(None, timer)
    await fleet.drives.no_show_due(None, timer)
    assert fleet.vehicle_types().count("TestDriveMissed") == 1
    assert fleet.store.event_types(lead.id).count("AppointmentMissed") == 1


async def test_the_timer_leaves_a_started_drive_alone(fleet: Fleet) -> None:
    drive = await fleet.book(await fleet.lead())
    fleet.clock.now = SLOT
    await fleet.drives.start(StartTestDrive(drive.booking_id, True, True), ctx())
    fleet.clock.now = SLOT + timedelta(hours=1)
    await fleet.drives.no_show_due(None, Timer("t", NO_SHOW, SLOT, {"vehicle_id": "V1",
                                                                    "booking_id": drive.booking_id}, 0))
    assert "TestDriveMissed" not in fleet.vehicle_types()


async def test_a_booked_test_drive_is_not_closed_through_the_leads_appointment_endpoint(fleet: Fleet) -> None:
    lead = await fleet.lead()
    drive = await fleet.book(lead)
    with pytest.raises(errors.AppointmentIsATestDriveError):
        await fleet.commands.record_appointment_outcome(
            RecordAppointmentOutcome(lead.id, drive.booking_id, attended=False), ctx())


@pytest.mark.parametrize(("command", "field"), [
    (RegisterTestDriveVehicle("V2", "", "沪A1"), "model"),
    (RegisterTestDriveVehicle("V2", "Model 3", " "), "plate"),
    (RegisterTestDriveVehicle("V2", "Model 3", "沪A1", vin="123"), "vin"),
])
async def test_a_bad_vehicle_names_the_field(fleet: Fleet, command: RegisterTestDriveVehicle, field: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        await fleet.drives.register_vehicle(command, ctx())
    assert refused.value.field == field
    assert fleet.vehicle_types("V2") == []


async def test_bad_bookings_are_refused_naming_the_field_or_the_missing_thing(fleet: Fleet) -> None:
    lead = await fleet.lead()
    with pytest.raises(InvalidFieldError) as past:
        await fleet.book(lead, T0 - timedelta(minutes=1))
    with pytest.raises(InvalidFieldError) as route:
        await fleet.book(lead, route="moon")
    with pytest.raises(errors.TestDriveVehicleNotFoundError):
        await fleet.book(lead, vehicle_id="V404")
    with pytest.raises(errors.TestDriveVehicleAlreadyExistsError):
        await fleet.drives.register_vehicle(RegisterTestDriveVehicle("V1", "Model 3", "沪B1"), ctx())
    with pytest.raises(errors.TestDriveNotFoundError):
        await fleet.drives.start(StartTestDrive("nope", True, True), ctx())
    assert (past.value.field, route.value.field) == ("starts_at", "route")
    assert fleet.vehicle_types() == ["TestDriveVehicleRegistered"]


async def test_the_fleet_is_a_managers_and_bookings_follow_the_leads_rule(fleet: Fleet) -> None:
    with pytest.raises(ForbiddenError):
        await fleet.drives.register_vehicle(RegisterTestDriveVehicle("V2", "Model 3", "沪B1"),
                                            as_caller("c1", "consultant"))
    lead = await fleet.lead()
    assert lead.owner_id == "c1"
    with pytest.raises(errors.LeadNotFoundError):
        await fleet.book(lead, context=as_caller("c9", "consultant", team="t2"))
    drive = await fleet.book(lead, context=as_caller("c1", "consultant"))
    for outsider in (as_caller("c9", "consultant", "t2"), as_caller("c2", "consultant")):
        with pytest.raises(errors.TestDriveNotFoundError):  # not their lead: the drive does not exist for them
            await fleet.drives.start(StartTestDrive(drive.booking_id, True, True), outsider)
    assert fleet.vehicle_types()[-1] == "TestDriveBooked"
    started = await fleet.drives.start(StartTestDrive(drive.booking_id, True, True),
                                       as_caller("m1", "manager"))  # the team's manager may
    assert started.booking.status == "started"


# ---- cancelling and moving a booking ---------------------------------------------------------------------------


async def test_a_cancelled_booking_frees_its_slot_closes_the_appointment_and_its_timer(fleet: Fleet) -> None:
    lead = await fleet.lead()
    drive = await fleet.book(lead)
    due_before = (await fleet.load_lead(lead.id)).follow_up_due_at
    cancelled = await fleet.drives.cancel(td.CancelTestDrive(drive.booking_id, " customer postponed "), ctx())
    assert cancelled.booking.status == "cancelled"
    after = await fleet.load_lead(lead.id)
    assert after.appointments[drive.booking_id].outcome == "cancelled"
    assert after.follow_up_due_at == due_before  # calling off is not a no-show: no follow-up moved
    assert fleet.stream_types(f"lead-{lead.id}")[-1] == "AppointmentCancelled"
    assert f"{NO_SHOW}:{drive.booking_id}" not in fleet.store.timer_table.pending
    again = await fleet.book(await fleet.lead("13800000002"))  # the same slot is free
    assert again.booking.starts_at == SLOT
    with pytest.raises(errors.TestDriveClosedError):
        await fleet.drives.cancel(td.CancelTestDrive(drive.booking_id, "again"), ctx())


async def test_a_started_drive_can_be_neither_cancelled_nor_moved(fleet: Fleet) -> None:
    drive = await fleet.book(await fleet.lead())
    fleet.clock.now = SLOT
    await fleet.drives.start(StartTestDrive(drive.booking_id, licence_checked=True, waiver_signed=True), ctx())
    with pytest.raises(errors.TestDriveAlreadyStartedError):
        await fleet.drives.cancel(td.CancelTestDrive(drive.booking_id, "r"), ctx())
    with pytest.raises(errors.TestDriveAlreadyStartedError):
        await fleet.drives.move(td.MoveTestDrive(drive.booking_id, SLOT + timedelta(hours=2)), ctx())


async def test_moving_a_booking_in_time_frees_the_old_slot_and_moves_the_appointment_and_the_timer(
        fleet: Fleet) -> None:
    lead = await fleet.lead()
    drive = await fleet.book(lead)
    later = SLOT + timedelta(hours=3)
    moved = await fleet.drives.move(td.MoveTestDrive(drive.booking_id, later), ctx())
    assert (moved.vehicle.id, moved.booking.starts_at, moved.booking.ends_at, moved.booking.status) == (
        "V1", later, later + timedelta(minutes=20), "booked")
    assert fleet.vehicle_types()[-1] == "TestDriveRescheduled"
    appointment = (await fleet.load_lead(lead.id)).appointments[drive.booking_id]
    assert (appointment.scheduled_for, appointment.outcome) == (later, None)
    timer = fleet.store.timer_table.pending[f"{NO_SHOW}:{drive.booking_id}"]
    assert timer.due_at == later + timedelta(minutes=30)
    assert (await fleet.book(await fleet.lead("13800000002"))).booking.starts_at == SLOT  # the old slot is free
    repeat = await fleet.drives.move(td.MoveTestDrive(drive.booking_id, later), ctx())  # a retried request
    assert repeat.booking.starts_at == later
    assert fleet.vehicle_types().count("TestDriveRescheduled") == 1
    # A move over its own old slot is fine (it does not overlap itself); onto someone else's is refused.
    await fleet.drives.move(td.MoveTestDrive(drive.booking_id, later + timedelta(minutes=10)), ctx())
    with pytest.raises(errors.TestDriveSlotTakenError):
        await fleet.drives.move(td.MoveTestDrive(drive.booking_id, SLOT + timedelta(minutes=5)), ctx())


async def test_moving_a_booking_to_another_vehicle_takes_its_slot_and_frees_the_first_vehicle(fleet: Fleet) -> None:
    await fleet.drives.register_vehicle(RegisterTestDriveVehicle("V2", "Model 3", "沪B54321"), ctx())
    lead = await fleet.lead()
    drive = await fleet.book(lead)
    moved = await fleet.drives.move(td.MoveTestDrive(drive.booking_id, SLOT, vehicle_id="V2", route="mixed_long"),
                                    ctx())
    assert (moved.vehicle.id, moved.booking.route, moved.booking.ends_at) == ("V2", "mixed_long",
                                                                              SLOT + timedelta(minutes=45))
    assert fleet.vehicle_types("V1")[-1] == "TestDriveMovedAway"
    assert fleet.vehicle_types("V2")[-1] == "TestDriveRescheduled"
    assert (await fleet.load_lead(lead.id)).appointments[drive.booking_id].vehicle_id == "V2"
    assert fleet.store.timer_table.pending[f"{NO_SHOW}:{drive.booking_id}"].payload["vehicle_id"] == "V2"
    assert (await fleet.book(await fleet.lead("13800000002"), vehicle_id="V1")).booking.starts_at == SLOT
    with pytest.raises(errors.TestDriveSlotTakenError):
        await fleet.book(await fleet.lead("13800000003"), vehicle_id="V2")
    # The booking is now V2's: starting it works through the booking id as before.
    fleet.clock.now = SLOT
    started = await fleet.drives.start(StartTestDrive(drive.booking_id, True, True), ctx())
    assert (started.vehicle.id, started.booking.status) == ("V2", "started")


async def test_a_move_to_an_unknown_vehicle_or_route_is_refused_and_changes_nothing(fleet: Fleet) -> None:
    drive = await fleet.book(await fleet.lead())
    before = fleet.vehicle_types()
    with pytest.raises(errors.TestDriveVehicleNotFoundError):
        await fleet.drives.move(td.MoveTestDrive(drive.booking_id, SLOT, vehicle_id="NOPE"), ctx())
    with pytest.raises(InvalidFieldError) as caught:
        await fleet.drives.move(td.MoveTestDrive(drive.booking_id, SLOT, route="moon"), ctx())
    assert caught.value.field == "route"
    with pytest.raises(InvalidFieldError) as past:
        await fleet.drives.move(td.MoveTestDrive(drive.booking_id, T0 - timedelta(hours=1)), ctx())
    assert past.value.field == "starts_at"
    assert fleet.vehicle_types() == before
