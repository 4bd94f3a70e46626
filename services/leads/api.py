"""HTTP API of the leads service (thin: validate input, call a handler, shape the answer). Errors are the
shared format: ``{"error": {"code", "message", ...}}`` — 422 invalid input, 404 unknown ids, 409 rule or
version conflicts, 401 without a valid bearer token, 403 when the caller may not do it. The actor of every
event is the token's subject."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from services.leads.app import access
from services.leads.app import lead_commands as lc
from services.leads.app import lead_lists as lists
from services.leads.app import organisation as org
from services.leads.app.commands import CAPTURE_INTERNAL, CaptureLead, CaptureLeadHandler
from services.leads.app.ports import Clock, LeadHistory, LeadQueries
from services.leads.domain.errors import LeadNotFoundError
from services.leads.domain.lead import Lead
from services.leads.domain.organisation import Consultant
from shared.auth.http import AUTHENTICATED, CALLER, Caller
from shared.auth.principal import Principal
from shared.commands import CommandContext
from shared.domain.phone import mask_phone_for_display, normalise_phone
from shared.pagination import DEFAULT_PAGE_SIZE
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import Correlation
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import error_responses
from shared.runtime.params import PageCursor, PageLimit


class LeadView(BaseModel):
    lead_id: str
    customer_id: str
    name: str
    phone: str
    channel: str
    interest: str | None
    stage: str
    grade: str
    status: str
    owner_id: str | None
    team_id: str | None
    pooled: bool
    follow_up_due_at: datetime | None
    overdue: bool
    loss_pending: bool
    order_id: str | None
    touchpoints: int
    referral_ids: list[str]
    appointments: dict[str, dict[str, Any]]
    version: int
    campaign_id: str | None = None
    utm: dict[str, str] = Field(default_factory=dict, description="the UTM parameters captured (those sent)")
    outcome: str | None = Field(default=None, description="capture only: created | duplicate_request | "
                                                           "duplicate_contact")


def lead_view(lead: Lead, outcome: str | None = None) -> LeadView:
    return LeadView(
        lead_id=lead.id, customer_id=lead.customer_id, name=lead.name, phone=lead.phone, channel=lead.channel,
        interest=lead.interest, stage=lead.stage.value, grade=lead.grade.value, status=lead.status.value,
        owner_id=lead.owner_id, team_id=lead.team_id, pooled=lead.pooled, follow_up_due_at=lead.follow_up_due_at,
        overdue=lead.is_overdue, loss_pending=lead.pending_loss is not None, order_id=lead.order_id,
        touchpoints=lead.touchpoints, referral_ids=lead.referral_ids,
        appointments={k: {"kind": a.kind, "scheduled_for": a.scheduled_for.isoformat(), "outcome": a.outcome}
                      for k, a in lead.appointments.items()},
        version=lead.version, campaign_id=lead.attribution.campaign_id,
        utm={k: v for k, v in lead.attribution.as_fields().items() if v and k != "campaign_id"}, outcome=outcome,
    )



def shown(caller: Principal, view: LeadView) -> LeadView:
    """The view with the phone masked unless the caller needs it (services/leads/app/access.py)."""
    if access.sees_full_phone(caller, owner_id=view.owner_id, team_id=view.team_id):
        return view
    return view.model_copy(update={"phone": mask_phone_for_display(view.phone)})

# The request bodies are the commands (shared/runtime/command_body.py).
if TYPE_CHECKING:
    CaptureLeadBody = CommandBody[CaptureLead]
    RecordAppointmentOutcomeBody = CommandBody[lc.RecordAppointmentOutcome]
    RegisterTeamBody = CommandBody[org.RegisterTeam]
    RegisterConsultantBody = CommandBody[org.RegisterConsultant]
    MoveConsultantTeamBody = CommandBody[org.MoveConsultantTeam]
else:
    CaptureLeadBody = command_body(CaptureLead, internal=CAPTURE_INTERNAL)
    RecordAppointmentOutcomeBody = command_body(lc.RecordAppointmentOutcome, path=("lead_id", "appointment_id"))
    RegisterTeamBody = command_body(org.RegisterTeam)
    RegisterConsultantBody = command_body(org.RegisterConsultant)
    MoveConsultantTeamBody = command_body(org.MoveConsultantTeam, path=("consultant_id",))


def _consultant_view(consultant: Consultant) -> dict[str, Any]:
    return {"consultant_id": consultant.id, "name": consultant.name, "team_id": consultant.team_id,
            "role": consultant.role, "active": consultant.active, "version": consultant.version}


def leads_router(
    *, capture: CaptureLeadHandler, commands: lc.LeadCommandHandlers, organisation: org.OrganisationHandlers,
    history: LeadHistory, queries: LeadQueries, channels: list[dict[str, str]], loss_reasons: list[dict[str, str]],
    clock: Clock,
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["leads"], dependencies=AUTHENTICATED)

    @router.post("/leads", status_code=201, response_model=LeadView, responses={
        200: {"model": LeadView, "description": "the inquiry was seen before, or the phone belongs to an open lead: "
                                                "the existing lead (``outcome`` says which)"}})
    async def capture_lead(body: CaptureLeadBody, response: Response, x_correlation_id: Correlation = None,
                           caller: Principal = CALLER) -> LeadView:
        """Capture a lead from any channel. 201 with the new lead; 200 with the existing lead when the same
        inquiry was sent before (same source_system + external_id) or the phone belongs to an open lead (the
        contact is recorded there as a touchpoint). 422 names the field and the reason; nothing is stored."""
        result = await capture(body.to_command(), _context(x_correlation_id, caller))
        if result.outcome != "created":
            response.status_code = 200
        return shown(caller, lead_view(result.lead, result.outcome))

    @router.get("/leads/{lead_id}")
    async def get_lead(lead_id: str, caller: Caller) -> dict[str, Any]:
        """The lead's current state and its full history (who did what when, from its events). Outside the
        caller's scope: 404; the phone masked for those who do not need it."""
        row = await queries.lead_row(lead_id)
        if row is None:
            raise LeadNotFoundError(f"no lead {lead_id}", lead_id=lead_id)
        access.require_visible(caller, lead_id, owner_id=row["owner_id"], team_id=row["team_id"],
                               pooled=row["pooled"])
        return access.shown(caller, {**row, "history": await history.history(lead_id)})

    @router.get("/orders/{order_id}/lead")
    async def lead_of_order(order_id: str, caller: Caller) -> dict[str, Any]:
        """The lead an order (from the orders service) is linked to, with its history."""
        lead_id = await queries.lead_for_order(order_id)
        if lead_id is None:
            raise LeadNotFoundError(f"no lead linked to order {order_id}", order_id=order_id)
        return await get_lead(lead_id, caller)

    @router.get("/customers/leads")
    async def leads_of_customer(caller: Caller, phone: Annotated[str, Query(description="any common format")]
                                ) -> dict[str, Any]:
        """Every lead (open or closed) of the customer with this phone number that the caller may see."""
        return {"leads": access.visible(caller, await queries.leads_of_phone(normalise_phone(phone)))}

    @router.get("/follow-ups")
    async def due_follow_ups(caller: Caller, owner_id: str,
                             within_hours: Annotated[int, Query(ge=0, le=24 * 90)] = 24,
                             cursor: PageCursor = None, limit: PageLimit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """The consultant's follow-ups that are overdue or due within ``within_hours``, soonest due first (one
        without a due time at its capture), ``limit`` a page; ``next_cursor`` fetches the next (422 ``cursor``)."""
        page = await lists.follow_ups_page(queries, caller, owner_id=owner_id,
                                           due_before=clock() + timedelta(hours=within_hours), cursor=cursor,
                                           limit=limit)
        return {"leads": page.items, "next_cursor": page.next_cursor}

    @router.get("/pool")
    async def pool_contents(caller: Caller, team_id: str | None = None, cursor: PageCursor = None,
                            limit: PageLimit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """Leads in the shared pool (公海), optionally of one team (a consultant or manager sees their team's),
        longest in the pool first, ``limit`` a page; ``next_cursor`` fetches the next (422 ``cursor``)."""
        page = await lists.pool_page(queries, caller, team_id=team_id, cursor=cursor, limit=limit)
        return {"leads": page.items, "next_cursor": page.next_cursor}

    def lead_endpoint(path: str, command: type[Any], summary: str, handler: Callable[[Any, CommandContext],
                      Awaitable[Lead]], manager_only: bool = False) -> None:
        body_model = command_body(command, path=("lead_id",))

        async def endpoint(lead_id: str, body: Any, x_correlation_id: Correlation = None,
                           caller: Principal = CALLER) -> LeadView:
            lead = await handler(body.to_command(lead_id=lead_id), _context(x_correlation_id, caller))
            return shown(caller, lead_view(lead))
        endpoint.__annotations__["body"] = body_model
        endpoint.__annotations__["return"] = LeadView
        router.add_api_route(f"/leads/{{lead_id}}{path}", endpoint, methods=["POST"], response_model=LeadView,
                             summary=summary, name=summary,
                             responses=error_responses(403) if manager_only else None)

    lead_endpoint("/assignment", lc.AssignLead, "reassign (manager)", commands.assign_lead, manager_only=True)
    lead_endpoint("/grade", lc.GradeLead, "grade", commands.grade_lead)
    lead_endpoint("/follow-ups", lc.LogFollowUp, "log a follow-up", commands.log_follow_up)
    lead_endpoint("/appointments", lc.ScheduleAppointment, "schedule an appointment", commands.schedule_appointment)
    lead_endpoint("/stage", lc.MoveLeadStage, "move the stage", commands.move_lead_stage)
    lead_endpoint("/loss-request", lc.RequestLoss, "request loss", commands.request_loss)
    lead_endpoint("/loss-request/approve", lc.ApproveLoss, "approve loss (manager)", commands.approve_loss,
                  manager_only=True)
    lead_endpoint("/loss-request/reject", lc.RejectLoss, "reject loss (manager)", commands.reject_loss,
                  manager_only=True)
    lead_endpoint("/invalidate", lc.InvalidateLead, "invalidate", commands.invalidate_lead)
    lead_endpoint("/claim", lc.ClaimLead, "claim from the pool", commands.claim_lead)

    @router.post("/leads/{lead_id}/appointments/{appointment_id}/outcome", response_model=LeadView)
    async def appointment_outcome(lead_id: str, appointment_id: str, body: RecordAppointmentOutcomeBody,
                                  x_correlation_id: Correlation = None, caller: Principal = CALLER) -> LeadView:
        """Attended (moves the stage to visited / test driven) or no-show (a follow-up becomes due soon)."""
        return shown(caller, lead_view(await commands.record_appointment_outcome(
            body.to_command(lead_id=lead_id, appointment_id=appointment_id), _context(x_correlation_id, caller))))

    @router.post("/teams", status_code=201)
    async def register_team(body: RegisterTeamBody, x_correlation_id: Correlation = None,
                            caller: Principal = CALLER) -> dict[str, Any]:
        team = await organisation.register_team(body.to_command(), _context(x_correlation_id, caller))
        return {"team_id": team.id, "name": team.name}

    @router.post("/consultants", status_code=201)
    async def register_consultant(body: RegisterConsultantBody, x_correlation_id: Correlation = None,
                                  caller: Principal = CALLER) -> dict[str, Any]:
        return _consultant_view(await organisation.register_consultant(body.to_command(),
                                                                       _context(x_correlation_id, caller)))

    @router.get("/consultants")
    async def list_consultants(caller: Caller, team_id: str | None = None) -> dict[str, Any]:
        """The organisation's consultants (a director: all teams; others: their own team)."""
        return {"consultants": access.consultants_visible(caller, await queries.consultants(team_id))}

    @router.post("/consultants/{consultant_id}/deactivate")
    async def deactivate_consultant(consultant_id: str, x_correlation_id: Correlation = None,
                                    caller: Principal = CALLER) -> dict[str, Any]:
        """Deactivate; the consultant's open leads go round robin to the rest of the team (or to the pool)."""
        return _consultant_view(await organisation.deactivate_consultant(
            org.DeactivateConsultant(consultant_id), _context(x_correlation_id, caller)))

    @router.post("/consultants/{consultant_id}/team")
    async def move_consultant_team(consultant_id: str, body: MoveConsultantTeamBody,
                                   x_correlation_id: Correlation = None, caller: Principal = CALLER
                                   ) -> dict[str, Any]:
        """Move to another team; the open leads stay with the old team (handed over round robin)."""
        return _consultant_view(await organisation.move_consultant_team(
            body.to_command(consultant_id=consultant_id), _context(x_correlation_id, caller)))

    @router.get("/channels")
    async def list_channels() -> dict[str, Any]:
        return {"channels": channels}

    @router.get("/loss-reasons")
    async def list_loss_reasons() -> dict[str, Any]:
        return {"loss_reasons": loss_reasons}

    return router

