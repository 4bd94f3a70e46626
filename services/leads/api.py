"""HTTP API of the leads service (thin: validate input, call a handler, shape the answer). Errors are the
shared format: ``{"error": {"code", "message", ...}}`` — 422 invalid input, 404 unknown ids, 409 rule or
version conflicts, 401 without a valid bearer token, 403 when the caller may not do it. The actor of every
event is the token's subject."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from services.leads.app import access
from services.leads.app import lead_commands as lc
from services.leads.app import organisation as org
from services.leads.app.commands import CaptureLead, CaptureLeadHandler
from services.leads.app.ports import Clock, LeadHistory, LeadQueries
from services.leads.domain.errors import LeadNotFoundError
from services.leads.domain.lead import Lead
from services.leads.domain.organisation import Consultant
from shared.auth.http import AUTHENTICATED, CALLER, Caller
from shared.auth.principal import Principal
from shared.domain.phone import mask_phone_for_display, normalise_phone
from shared.runtime.http import Correlation
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import error_responses


class CaptureLeadRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="the prospect's name", examples=["张三"])
    phone: str = Field(min_length=1, max_length=40, description="any common format; stored as E.164",
                       examples=["138 1234 5678"])
    channel: str = Field(min_length=1, max_length=40, description="channel code, see GET /v1/channels",
                         examples=["online_shop"])
    interest: str | None = Field(default=None, max_length=200, description="model or product of interest")
    team_id: str | None = Field(default=None, max_length=100, description="team to assign in (default: configured)")
    source_system: str | None = Field(default=None, max_length=100,
                                      description="sending system; with external_id the idempotency key")
    external_id: str | None = Field(default=None, max_length=200, description="the inquiry's id in that system")


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
        version=lead.version, outcome=outcome,
    )



def shown(caller: Principal, view: LeadView) -> LeadView:
    """The view with the phone masked unless the caller needs it (services/leads/app/access.py)."""
    if access.sees_full_phone(caller, owner_id=view.owner_id, team_id=view.team_id):
        return view
    return view.model_copy(update={"phone": mask_phone_for_display(view.phone)})

class Versioned(BaseModel):
    expected_version: int | None = Field(default=None, ge=0,
                                         description="refuse with 409 if the lead is no longer at this version")


class AssignRequest(Versioned):
    owner_id: str = Field(min_length=1, description="consultant to own the lead")


class GradeRequest(Versioned):
    grade: str = Field(description="H, A, B or C")
    reason: str = Field(description="why this grade")


class FollowUpRequest(Versioned):
    kind: str = Field(description="call | visit | message")
    outcome: str = Field(description="what came of it")
    notes: str | None = None
    next_due_at: datetime | None = Field(default=None, description="default: now + the grade's interval")
    grade: str | None = Field(default=None, description="re-grade at this follow-up")
    grade_reason: str | None = None


class AppointmentRequest(Versioned):
    kind: str = Field(description="showroom_visit | test_drive")
    scheduled_for: datetime


class AppointmentOutcomeRequest(Versioned):
    attended: bool = Field(description="false = no-show")


class StageRequest(Versioned):
    stage: str = Field(description="new … negotiating; contract_signed/delivered come from orders")
    reason: str | None = Field(default=None, description="required when moving back")


class LossRequest(Versioned):
    reason: str = Field(description="a code from GET /v1/loss-reasons")
    competitor_model: str | None = None
    note: str | None = None


class DecisionRequest(Versioned):
    note: str | None = None


class InvalidateRequest(Versioned):
    reason: str


class ClaimRequest(Versioned):
    consultant_id: str


class TeamRequest(BaseModel):
    team_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)


class ConsultantRequest(BaseModel):
    consultant_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    team_id: str = Field(min_length=1, max_length=100)
    role: str = Field(default="consultant", description="consultant | manager")


class MoveTeamRequest(BaseModel):
    team_id: str = Field(min_length=1, max_length=100)


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
    async def capture_lead(body: CaptureLeadRequest, response: Response, x_correlation_id: Correlation = None,
                           caller: Principal = CALLER) -> LeadView:
        """Capture a lead from any channel. 201 with the new lead; 200 with the existing lead when the same
        inquiry was sent before (same source_system + external_id) or the phone belongs to an open lead (the
        contact is recorded there as a touchpoint). 422 names the field and the reason; nothing is stored."""
        result = await capture(CaptureLead(
            name=body.name, phone=body.phone, channel=body.channel, interest=body.interest, team_id=body.team_id,
            source_system=body.source_system, external_id=body.external_id,
        ), _context(x_correlation_id, caller))
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

    @router.get("/leads")
    async def my_open_leads(caller: Caller, owner_id: Annotated[str, Query(description="the consultant")],
                            grade: str | None = None) -> dict[str, Any]:
        """A consultant's open leads, by grade (only those in the caller's scope)."""
        return {"leads": access.visible(caller, await queries.open_leads(owner_id, grade))}

    @router.get("/follow-ups")
    async def due_follow_ups(caller: Caller, owner_id: str,
                             within_hours: Annotated[int, Query(ge=0, le=24 * 90)] = 24) -> dict[str, Any]:
        """The consultant's follow-ups that are overdue or due within ``within_hours``."""
        rows = await queries.follow_ups(owner_id, clock() + timedelta(hours=within_hours))
        return {"leads": access.visible(caller, rows)}

    @router.get("/pool")
    async def pool_contents(caller: Caller, team_id: str | None = None) -> dict[str, Any]:
        """Leads in the shared pool (公海), optionally of one team (a consultant or manager sees their team's)."""
        return {"leads": access.visible(caller, await queries.pool(team_id))}

    def lead_endpoint(path: str, request_model: type[Versioned], summary: str, handler: Any,
                      manager_only: bool = False) -> None:
        async def endpoint(lead_id: str, body: Any, x_correlation_id: Correlation = None,
                           caller: Principal = CALLER) -> LeadView:
            return shown(caller, lead_view(await handler(lead_id, body, _context(x_correlation_id, caller))))
        endpoint.__annotations__["body"] = request_model
        endpoint.__annotations__["return"] = LeadView
        router.add_api_route(f"/leads/{{lead_id}}{path}", endpoint, methods=["POST"], response_model=LeadView,
                             summary=summary, name=summary,
                             responses=error_responses(403) if manager_only else None)

    lead_endpoint("/assignment", AssignRequest, "reassign (manager)", lambda i, b, ctx: commands.assign_lead(
        lc.AssignLead(i, b.owner_id, b.expected_version), ctx), manager_only=True)
    lead_endpoint("/grade", GradeRequest, "grade", lambda i, b, ctx: commands.grade_lead(
        lc.GradeLead(i, b.grade, b.reason, b.expected_version), ctx))
    lead_endpoint("/follow-ups", FollowUpRequest, "log a follow-up", lambda i, b, ctx: commands.log_follow_up(
        lc.LogFollowUp(i, b.kind, b.outcome, b.notes, b.next_due_at, b.grade, b.grade_reason, b.expected_version),
        ctx))
    lead_endpoint("/appointments", AppointmentRequest, "schedule an appointment",
                  lambda i, b, ctx: commands.schedule_appointment(
                      lc.ScheduleAppointment(i, b.kind, b.scheduled_for, b.expected_version), ctx))
    lead_endpoint("/stage", StageRequest, "move the stage", lambda i, b, ctx: commands.move_lead_stage(
        lc.MoveLeadStage(i, b.stage, b.reason, b.expected_version), ctx))
    lead_endpoint("/loss-request", LossRequest, "request loss", lambda i, b, ctx: commands.request_loss(
        lc.RequestLoss(i, b.reason, b.competitor_model, b.note, b.expected_version), ctx))
    lead_endpoint("/loss-request/approve", DecisionRequest, "approve loss (manager)",
                  lambda i, b, ctx: commands.approve_loss(lc.ApproveLoss(i, b.expected_version), ctx),
                  manager_only=True)
    lead_endpoint("/loss-request/reject", DecisionRequest, "reject loss (manager)",
                  lambda i, b, ctx: commands.reject_loss(lc.RejectLoss(i, b.note, b.expected_version), ctx),
                  manager_only=True)
    lead_endpoint("/invalidate", InvalidateRequest, "invalidate", lambda i, b, ctx: commands.invalidate_lead(
        lc.InvalidateLead(i, b.reason, b.expected_version), ctx))
    lead_endpoint("/claim", ClaimRequest, "claim from the pool", lambda i, b, ctx: commands.claim_lead(
        lc.ClaimLead(i, b.consultant_id, b.expected_version), ctx))

    @router.post("/leads/{lead_id}/appointments/{appointment_id}/outcome", response_model=LeadView)
    async def appointment_outcome(lead_id: str, appointment_id: str, body: AppointmentOutcomeRequest,
                                  x_correlation_id: Correlation = None, caller: Principal = CALLER) -> LeadView:
        """Attended (moves the stage to visited / test driven) or no-show (a follow-up becomes due soon)."""
        return shown(caller, lead_view(await commands.record_appointment_outcome(lc.RecordAppointmentOutcome(
            lead_id, appointment_id, body.attended, body.expected_version), _context(x_correlation_id, caller))))

    @router.post("/teams", status_code=201)
    async def register_team(body: TeamRequest, x_correlation_id: Correlation = None,
                            caller: Principal = CALLER) -> dict[str, Any]:
        team = await organisation.register_team(org.RegisterTeam(body.team_id, body.name),
                                                _context(x_correlation_id, caller))
        return {"team_id": team.id, "name": team.name}

    @router.post("/consultants", status_code=201)
    async def register_consultant(body: ConsultantRequest, x_correlation_id: Correlation = None,
                                  caller: Principal = CALLER) -> dict[str, Any]:
        return _consultant_view(await organisation.register_consultant(
            org.RegisterConsultant(body.consultant_id, body.name, body.team_id, body.role),
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
    async def move_consultant_team(consultant_id: str, body: MoveTeamRequest, x_correlation_id: Correlation = None,
                                   caller: Principal = CALLER) -> dict[str, Any]:
        """Move to another team; the open leads stay with the old team (handed over round robin)."""
        return _consultant_view(await organisation.move_consultant_team(
            org.MoveConsultantTeam(consultant_id, body.team_id), _context(x_correlation_id, caller)))

    @router.get("/channels")
    async def list_channels() -> dict[str, Any]:
        return {"channels": channels}

    @router.get("/loss-reasons")
    async def list_loss_reasons() -> dict[str, Any]:
        return {"loss_reasons": loss_reasons}

    return router

