"""HTTP API of the showroom floor (leads service): the reception register. Thin, like ``api.py``: validate the
body, call a handler, shape the answer; errors in the shared format (422 field + reason, 404 outside the caller's
scope, 409 rule conflicts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.leads.app import access
from services.leads.app import reception as rc
from services.leads.app.lead_lists import visits_page
from services.leads.app.ports import Clock, ShowroomQueries
from services.leads.domain.errors import VisitNotFoundError
from services.leads.domain.visit import Visit
from shared.auth.http import AUTHENTICATED, CALLER, Caller
from shared.auth.principal import Principal
from shared.pagination import DEFAULT_PAGE_SIZE
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import Correlation
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import error_responses
from shared.runtime.params import IsoDateTime, PageCursor, PageLimit

# The request bodies are the commands (shared/runtime/command_body.py).
if TYPE_CHECKING:
    RegisterVisitBody = CommandBody[rc.RegisterVisit]
    RecordDepartureBody = CommandBody[rc.RecordDeparture]
else:
    RegisterVisitBody = command_body(rc.RegisterVisit)
    RecordDepartureBody = command_body(rc.RecordDeparture, path=("visit_id",))


class VisitView(BaseModel):
    visit_id: str
    lead_id: str
    customer_id: str
    visit_number: int
    first_visit: bool
    party_size: int
    purpose: str
    receptionist_id: str | None
    consultant_id: str | None
    team_id: str | None
    walk_in_lead: bool
    arrived_at: datetime | None
    departed_at: datetime | None
    duration_minutes: int | None
    version: int
    lead_outcome: str | None = Field(default=None, description="registration only: existing | created (a walk-in "
                                                                "captured a showroom lead) | reactivated")


def visit_view(visit: Visit, lead_outcome: str | None = None) -> VisitView:
    return VisitView(
        visit_id=visit.id, lead_id=visit.lead_id, customer_id=visit.customer_id, visit_number=visit.visit_number,
        first_visit=visit.first_visit, party_size=visit.party_size, purpose=visit.purpose,
        receptionist_id=visit.receptionist_id, consultant_id=visit.consultant_id, team_id=visit.team_id,
        walk_in_lead=visit.walk_in_lead, arrived_at=visit.arrived_at, departed_at=visit.departed_at,
        duration_minutes=visit.duration_minutes, version=visit.version, lead_outcome=lead_outcome,
    )


def showroom_router(*, reception: rc.ReceptionHandlers, queries: ShowroomQueries,
                    purposes: list[dict[str, str]], clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["showroom"], dependencies=AUTHENTICATED)

    @router.post("/showroom-visits", status_code=201, response_model=VisitView,
                 responses=error_responses(403, 404))  # 404: a lead_id that names no lead the caller may see
    async def register_visit(body: RegisterVisitBody, x_correlation_id: Correlation = None,
                             caller: Principal = CALLER) -> VisitView:
        """Register a visitor's arrival (到店登记): for a known lead, or a walk-in by name and phone (the phone's
        open lead, else a new lead with channel showroom). First or repeat visit is computed from the register.
        The lead moves to stage visited if it was not that far yet."""
        registered = await reception.register_visit(body.to_command(), _context(x_correlation_id, caller))
        return visit_view(registered.visit, registered.lead_outcome)

    @router.post("/showroom-visits/{visit_id}/departure", response_model=VisitView)
    async def record_departure(visit_id: str, body: RecordDepartureBody, x_correlation_id: Correlation = None,
                               caller: Principal = CALLER) -> VisitView:
        """The visitor left; the visit's duration is recorded. 409 ``visit_already_departed`` the second time."""
        return visit_view(await reception.record_departure(body.to_command(visit_id=visit_id),
                                                           _context(x_correlation_id, caller)))

    @router.get("/showroom-visits/{visit_id}")
    async def get_visit(visit_id: str, caller: Caller) -> dict[str, Any]:
        """One register entry (who registered or received the visitor, the team's manager, a director)."""
        row = await queries.visit_row(visit_id)
        if row is None:
            raise VisitNotFoundError(f"no visit {visit_id}", visit_id=visit_id)
        access.require_visit(caller, visit_id, receptionist_id=row["receptionist_id"],
                             consultant_id=row["consultant_id"], team_id=row["team_id"])
        return row

    @router.get("/showroom-visits", responses=error_responses(403))
    async def list_visits(caller: Caller, arrived_from: IsoDateTime | None = None,
                          arrived_to: IsoDateTime | None = None, team_id: str | None = None,
                          consultant_id: str | None = None, cursor: PageCursor = None,
                          limit: PageLimit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """The register between ``arrived_from`` (default: 24 hours ago) and ``arrived_to`` (default: now), the
        entries the caller may see, in arrival order, ``limit`` a page; ``next_cursor`` fetches the next (422
        ``cursor``). The default window moves with the clock from page to page: give both ends to page a fixed one."""
        until = arrived_to or clock()
        since = arrived_from or until - timedelta(hours=24)
        page = await visits_page(queries, caller, arrived_from=since, arrived_to=until, team_id=team_id,
                                 consultant_id=consultant_id, cursor=cursor, limit=limit)
        return {"visits": page.items, "next_cursor": page.next_cursor}

    @router.get("/visit-purposes")
    async def list_visit_purposes() -> dict[str, Any]:
        return {"visit_purposes": purposes}

    return router
