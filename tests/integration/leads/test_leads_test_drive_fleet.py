"""The test-drive fleet against real PostgreSQL: twenty consultants booking one vehicle's slot at once get exactly
one booking (the rest are refused as taken), the calendar table follows the vehicle's events, and the durable
no-show timer frees a slot nobody came for — once, however often it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from services.leads.app import test_drives as td
from services.leads.app.commands import CaptureLead
from services.leads.domain import errors
from tests.integration.leads.conftest import team_with
from tests.support.leads import LeadsInProcess, ctx

pytestmark = pytest.mark.integration

CONCURRENT = 20


@pytest.fixture(scope="module", autouse=True)
async def fleet_team(leads: LeadsInProcess) -> None:
    await team_with(leads, "fleet", ["dc1", "dc2"], manager="dm1")


async def new_lead(leads: LeadsInProcess, phone: str) -> str:
    return (await leads.capture(CaptureLead(name="赵", phone=phone, channel="showroom", team_id="fleet"),
                                ctx())).lead.id


async def vehicle(leads: LeadsInProcess, vehicle_id: str) -> str:
    await leads.test_drives.register_vehicle(td.RegisterTestDriveVehicle(vehicle_id, "Model Y", "沪A0000"), ctx())
    return vehicle_id


async def test_twenty_concurrent_bookings_of_one_slot_make_exactly_one_booking(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    car = await vehicle(leads, "race-car")
    lead_ids = [await new_lead(leads, phone()) for _ in range(CONCURRENT)]
    slot = leads.clock.now + timedelta(days=1)
    results = await asyncio.gather(*(leads.test_drives.book(td.BookTestDrive(car, lead_id, slot, "city_short"),
                                                            ctx(f"dc{n % 2 + 1}"))
                                     for n, lead_id in enumerate(lead_ids)), return_exceptions=True)
    booked = [r for r in results if isinstance(r, td.TestDrive)]
    refused = [r for r in results if isinstance(r, errors.TestDriveSlotTakenError)]
    assert (len(booked), len(refused)) == (1, CONCURRENT - 1), [r for r in results if isinstance(r, Exception)
                                                                 and not isinstance(r, errors.TestDriveSlotTakenError)]
    rows = await leads.queries.calendar(car, starts_from=slot - timedelta(hours=1), starts_to=slot + timedelta(hours=1))
    assert [(r["booking_id"], r["status"]) for r in rows] == [(booked[0].booking_id, "booked")]
    # Only the winner's lead got the appointment; the refused ones wrote nothing.
    scheduled = await leads.pool.fetchval(
        "SELECT count(*) FROM events WHERE event_type = 'AppointmentScheduled' AND stream_id = ANY($1::text[])",
        [f"lead-{lead_id}" for lead_id in lead_ids])
    assert scheduled == 1


async def test_the_no_show_timer_frees_the_slot_and_a_new_booking_takes_it(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    car = await vehicle(leads, "timer-car")
    lead_id = await new_lead(leads, phone())
    slot = leads.clock.now + timedelta(hours=2)
    # 45 minutes on the road, a no-show after 30: the timer frees the slot's last quarter of an hour.
    drive = await leads.test_drives.book(td.BookTestDrive(car, lead_id, slot, "mixed_long"), ctx("dc1"))
    leads.clock.advance(timedelta(hours=2, minutes=31))
    await leads.timers.fire_due()
    await leads.timers.fire_due()
    row = await leads.queries.test_drive_row(drive.booking_id)
    assert row is not None
    assert row["status"] == "missed"
    types = await leads.history_types(lead_id)
    assert types.count("AppointmentMissed") == 1
    missed = await leads.pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1 AND "
                                       "event_type = 'TestDriveMissed'", f"test-drive-vehicle-{car}")
    assert missed == 1
    other = await new_lead(leads, phone())
    within_the_missed_slot = slot + timedelta(minutes=35)
    later = await leads.test_drives.book(td.BookTestDrive(car, other, within_the_missed_slot, "city_short"),
                                         ctx("dc1"))
    assert later.booking.starts_at < drive.booking.ends_at


async def test_a_started_drive_cancels_its_timer_and_completes_with_feedback(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    car = await vehicle(leads, "feedback-car")
    lead_id = await new_lead(leads, phone())
    slot = leads.clock.now + timedelta(hours=1)
    drive = await leads.test_drives.book(td.BookTestDrive(car, lead_id, slot, "city_short"), ctx("dc1"))
    leads.clock.advance(timedelta(hours=1))
    await leads.test_drives.start(td.StartTestDrive(drive.booking_id, True, True), ctx("dc1"))
    pending = await leads.pool.fetchval("SELECT count(*) FROM timers WHERE timer_id = $1 AND status = 'pending'",
                                        f"{td.NO_SHOW}:{drive.booking_id}")
    leads.clock.advance(timedelta(minutes=22))
    await leads.test_drives.complete(td.CompleteTestDrive(drive.booking_id, 5, "动力很好"), ctx("dc1"))
    leads.clock.advance(timedelta(hours=1))
    await leads.timers.fire_due()
    row = await leads.queries.test_drive_row(drive.booking_id)
    lead = await leads.queries.lead_row(lead_id)
    assert pending == 0
    assert row is not None
    assert (row["status"], row["feedback_score"], row["feedback_note"]) == ("completed", 5, "动力很好")
    assert lead is not None
    assert lead["stage"] == "test_driven"


async def test_moves_and_a_booking_racing_for_one_slot_of_another_vehicle_get_it_once_and_free_what_they_leave(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    source, target = await vehicle(leads, "move-from"), await vehicle(leads, "move-to")
    base = leads.clock.now + timedelta(days=2)
    # Eight bookings on the source vehicle, an hour apart; each asks to move to the same slot of the target,
    # while a ninth lead books that slot directly.
    drives = [await leads.test_drives.book(td.BookTestDrive(source, await new_lead(leads, phone()),
                                                            base + timedelta(hours=n), "city_short"), ctx("dc1"))
              for n in range(8)]
    wanted = base + timedelta(days=1)
    direct = await new_lead(leads, phone())
    results = await asyncio.gather(
        *(leads.test_drives.move(td.MoveTestDrive(d.booking_id, wanted, vehicle_id=target), ctx("dc1"))
          for d in drives),
        leads.test_drives.book(td.BookTestDrive(target, direct, wanted, "city_short"), ctx("dc1")),
        return_exceptions=True)
    won = [r for r in results if isinstance(r, td.TestDrive)]
    refused = [r for r in results if isinstance(r, errors.TestDriveSlotTakenError)]
    assert (len(won), len(refused)) == (1, 8), [r for r in results if isinstance(r, Exception)]
    on_target = await leads.queries.calendar(target, starts_from=wanted - timedelta(hours=1),
                                             starts_to=wanted + timedelta(hours=1))
    assert [(r["booking_id"], r["status"]) for r in on_target] == [(won[0].booking_id, "booked")]
    # The losers kept their slots on the source; a winning move left its old slot free for a new booking.
    on_source = await leads.queries.calendar(source, starts_from=base - timedelta(hours=1),
                                             starts_to=base + timedelta(hours=9))
    moved = {d.booking_id: d.booking.starts_at for d in drives if d.booking_id == won[0].booking_id}
    assert {r["booking_id"] for r in on_source} == {d.booking_id for d in drives} - set(moved)
    for booking_id, old_slot in moved.items():
        freed = await leads.test_drives.book(td.BookTestDrive(source, await new_lead(leads, phone()), old_slot,
                                                              "city_short"), ctx("dc2"))
        assert freed.booking.starts_at == old_slot
        assert (await leads.test_drives.move(td.MoveTestDrive(booking_id, wanted, vehicle_id=target),
                                             ctx("dc1"))).booking.starts_at == wanted  # a retry changes nothing
    timers = await leads.pool.fetch("SELECT payload->>'vehicle_id' AS vehicle_id, due_at FROM timers "
                                    "WHERE timer_id = $1 AND status = 'pending'",
                                    f"{td.NO_SHOW}:{won[0].booking_id}")
    assert [(t["vehicle_id"], t["due_at"]) for t in timers] == [(target, wanted + timedelta(minutes=30))]


async def test_a_cancelled_booking_frees_its_slot_and_two_concurrent_bookings_of_it_get_one(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    car = await vehicle(leads, "cancel-car")
    slot = leads.clock.now + timedelta(days=3)
    drive = await leads.test_drives.book(td.BookTestDrive(car, await new_lead(leads, phone()), slot, "city_short"),
                                         ctx("dc1"))
    await leads.test_drives.cancel(td.CancelTestDrive(drive.booking_id, "postponed"), ctx("dc1"))
    row = await leads.queries.test_drive_row(drive.booking_id)
    assert row is not None
    assert row["status"] == "cancelled"
    racers = [await new_lead(leads, phone()) for _ in range(2)]
    results = await asyncio.gather(*(leads.test_drives.book(td.BookTestDrive(car, lead_id, slot, "city_short"),
                                                            ctx("dc1")) for lead_id in racers),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["TestDrive", "TestDriveSlotTakenError"], results
