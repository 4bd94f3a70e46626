"""HTTP API of the test-drive fleet (leads service): vehicles, their booking calendar and the drives. Thin, like
``api.py``; errors in the shared format (409 ``test_drive_slot_taken`` for a double booking, ``licence_not_checked``
before the licence check and the waiver; 404 for a drive whose lead is outside the caller's scope)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.leads.app import access
from services.leads.app import test_drives as td
from services.leads.app.ports import Clock, LeadQueries, ShowroomQueries
from services.leads.domain.errors import TestDriveNotFoundError, TestDriveVehicleNotFoundError
from shared.auth.http import AUTHENTICATED, CALLER, Caller
from shared.auth.principal import Principal
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import Correlation
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import error_responses
from shared.runtime.params import IsoDateTime

# The request bodies are the commands (shared/runtime/command_body.py).
if TYPE_CHECKING:
    RegisterVehicleBody = CommandBody[td.RegisterTestDriveVehicle]
    BookTestDriveBody = CommandBody[td.BookTestDrive]
    StartTestDriveBody = CommandBody[td.StartTestDrive]
    CompleteTestDriveBody = CommandBody[td.CompleteTestDrive]
    CancelTestDriveBody = CommandBody[td.CancelTestDrive]
    MoveTestDriveBody = CommandBody[td.MoveTestDrive]
else:
    RegisterVehicleBody = command_body(td.RegisterTestDriveVehicle)
    BookTestDriveBody = command_body(td.BookTestDrive)
    StartTestDriveBody = command_body(td.StartTestDrive, path=("booking_id",))
    CompleteTestDriveBody = command_body(td.CompleteTestDrive, path=("booking_id",))
    CancelTestDriveBody = command_body(td.CancelTestDrive, path=("booking_id",))
    MoveTestDriveBody = command_body(td.MoveTestDrive, path=("booking_id",))


class TestDriveView(BaseModel):
    booking_id: str
    vehicle_id: str
    lead_id: str
    starts_at: datetime
    ends_at: datetime
    route: str
    status: str = Field(description="booked | started | completed | missed | cancelled")
    started_at: datetime | None
    ended_at: datetime | None
    feedback_score: int | None
    feedback_note: str | None
    vehicle_version: int


def drive_view(drive: td.TestDrive) -> TestDriveView:
    b = drive.booking
    return TestDriveView(booking_id=drive.booking_id, vehicle_id=drive.vehicle.id, lead_id=b.lead_id,
                         starts_at=b.starts_at, ends_at=b.ends_at, route=b.route, status=b.status,
                         started_at=b.started_at, ended_at=b.ended_at, feedback_score=b.feedback_score,
                         feedback_note=b.feedback_note, vehicle_version=drive.vehicle.version)


def test_drive_router(*, drives: td.TestDriveHandlers, queries: ShowroomQueries, leads: LeadQueries,
                      routes: list[dict[str, Any]], clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["test drives"], dependencies=AUTHENTICATED)

    @router.post("/test-drive-vehicles", status_code=201, responses=error_responses(403))
    async def register_vehicle(body: RegisterVehicleBody, x_correlation_id: Correlation = None,
                               caller: Principal = CALLER) -> dict[str, Any]:
        """Add a vehicle to the test-drive fleet (a manager or a director). 409 if the id is taken."""
        vehicle = await drives.register_vehicle(body.to_command(), _context(x_correlation_id, caller))
        return {"vehicle_id": vehicle.id, "model": vehicle.model, "trim": vehicle.trim, "colour": vehicle.colour,
                "plate": vehicle.plate, "vin": vehicle.vin, "version": vehicle.version}

    @router.get("/test-drive-vehicles", responses=error_responses(403))
    async def list_vehicles(caller: Caller) -> dict[str, Any]:
        access.require_floor(caller)
        return {"vehicles": await queries.fleet()}

    @router.get("/test-drive-vehicles/{vehicle_id}/calendar", responses=error_responses(403))
    async def vehicle_calendar(vehicle_id: str, caller: Caller, starts_from: IsoDateTime | None = None,
                               starts_to: IsoDateTime | None = None) -> dict[str, Any]:
        """The vehicle's slots between ``starts_from`` (default now) and ``starts_to`` (default 7 days later):
        when it is booked and for what route — not for whom (the lead is the consultant's)."""
        access.require_floor(caller)
        if vehicle_id not in {v["vehicle_id"] for v in await queries.fleet()}:
            raise TestDriveVehicleNotFoundError(f"no test-drive vehicle {vehicle_id}", vehicle_id=vehicle_id)
        since = starts_from or clock()
        until = starts_to or since + timedelta(days=7)
        rows = await queries.calendar(vehicle_id, starts_from=since, starts_to=until)
        return {"vehicle_id": vehicle_id, "slots": [
            {k: row[k] for k in ("booking_id", "starts_at", "ends_at", "route", "status")} for row in rows]}

    @router.get("/test-drive-routes")
    async def list_routes() -> dict[str, Any]:
        return {"routes": routes}

    # 403: a lead the caller sees but may not work (a pooled one); 404: a lead or vehicle the caller cannot see.
    @router.post("/test-drives", status_code=201, response_model=TestDriveView, responses=error_responses(403, 404))
    async def book_test_drive(body: BookTestDriveBody, x_correlation_id: Correlation = None,
                              caller: Principal = CALLER) -> TestDriveView:
        """Book a slot of a fleet vehicle for a lead (the lead's owner, the team's manager, a director). 409
        ``test_drive_slot_taken`` if an active booking overlaps; a no-show timer is armed at start + grace."""
        return drive_view(await drives.book(body.to_command(), _context(x_correlation_id, caller)))

    @router.get("/test-drives/{booking_id}", response_model=TestDriveView)
    async def get_test_drive(booking_id: str, caller: Caller) -> TestDriveView:
        """A booking, under its lead's rule (outside the caller's scope: 404)."""
        row = await queries.test_drive_row(booking_id)
        lead = await leads.lead_row(row["lead_id"]) if row else None
        if row is None or lead is None or not access.can_see(caller, owner_id=lead["owner_id"],
                                                              team_id=lead["team_id"], pooled=lead["pooled"]):
            raise TestDriveNotFoundError(f"no test drive {booking_id}", booking_id=booking_id)
        vehicle = {v["vehicle_id"]: v for v in await queries.fleet()}[row["vehicle_id"]]
        return TestDriveView.model_validate({**row, "vehicle_version": vehicle["version"]})

    @router.post("/test-drives/{booking_id}/start", response_model=TestDriveView, responses=error_responses(403))
    async def start_test_drive(booking_id: str, body: StartTestDriveBody, x_correlation_id: Correlation = None,
                               caller: Principal = CALLER) -> TestDriveView:
        """Start the drive: 409 ``licence_not_checked`` unless the licence was checked and the waiver signed. The
        lead's appointment is attended (stage test_driven); the no-show timer is cancelled."""
        return drive_view(await drives.start(body.to_command(booking_id=booking_id),
                                             _context(x_correlation_id, caller)))

    @router.post("/test-drives/{booking_id}/completion", response_model=TestDriveView,
                 responses=error_responses(403))
    async def complete_test_drive(booking_id: str, body: CompleteTestDriveBody,
                                  x_correlation_id: Correlation = None,
                                  caller: Principal = CALLER) -> TestDriveView:
        """End the drive with the prospect's feedback (409 ``test_drive_not_started`` before the start)."""
        return drive_view(await drives.complete(body.to_command(booking_id=booking_id),
                                                _context(x_correlation_id, caller)))

    @router.post("/test-drives/{booking_id}/no-show", response_model=TestDriveView, responses=error_responses(403))
    async def record_no_show(booking_id: str, x_correlation_id: Correlation = None,
                             caller: Principal = CALLER) -> TestDriveView:
        """The prospect did not come: the slot is free again and the lead's follow-up is due soon. (The no-show
        timer does the same by itself at the slot's start plus the grace period.)"""
        return drive_view(await drives.record_no_show(td.RecordTestDriveNoShow(booking_id),
                                                      _context(x_correlation_id, caller)))

    @router.post("/test-drives/{booking_id}/cancellation", response_model=TestDriveView,
                 responses=error_responses(403))
    async def cancel_test_drive(booking_id: str, body: CancelTestDriveBody, x_correlation_id: Correlation = None,
                                caller: Principal = CALLER) -> TestDriveView:
        """Call the booking off before the drive (409 ``test_drive_already_started`` / ``test_drive_closed``): the
        slot is free again, the lead's appointment is cancelled (no no-show follow-up), the timer cancelled."""
        return drive_view(await drives.cancel(body.to_command(booking_id=booking_id),
                                              _context(x_correlation_id, caller)))

    @router.post("/test-drives/{booking_id}/move", response_model=TestDriveView, responses=error_responses(403, 404))
    async def move_test_drive(booking_id: str, body: MoveTestDriveBody, x_correlation_id: Correlation = None,
                              caller: Principal = CALLER) -> TestDriveView:
        """Move the booking to ``starts_at`` on the same or another fleet vehicle (``vehicle_id``; ``route``
        optional): 409 ``test_drive_slot_taken`` if another active booking overlaps the new slot; the old slot is
        free in the same transaction; the no-show timer moves with it. The same slot again changes nothing."""
        return drive_view(await drives.move(body.to_command(booking_id=booking_id),
                                            _context(x_correlation_id, caller)))

    return router
