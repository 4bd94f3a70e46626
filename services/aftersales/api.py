"""HTTP API of the after-sales service (thin: validate input, call a handler or query, shape the answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from services.aftersales.app import access
from services.aftersales.app import commands as cmd
from services.aftersales.app.ports import A, AftersalesStore, CareQueries, Clock, History
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.errors import CarePlanNotFoundError, ComplaintNotFoundError
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.referral import Referral
from shared.auth.http import AUTHENTICATED, CALLER, Caller, allowed
from shared.auth.principal import Principal
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import Correlation, IdempotencyKey, idempotent_request
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import REPEATED_CREATE
from shared.runtime.params import IsoDateTime

# The request bodies are the commands (shared/runtime/command_body.py).
if TYPE_CHECKING:
    CompleteReturnVisitBody = CommandBody[cmd.CompleteReturnVisit]
    CloseSatisfactionFollowUpBody = CommandBody[cmd.CloseSatisfactionFollowUp]
    OpenComplaintBody = CommandBody[cmd.OpenComplaint]
    AcknowledgeComplaintBody = CommandBody[cmd.AcknowledgeComplaint]
    ResolveComplaintBody = CommandBody[cmd.ResolveComplaint]
    ReopenComplaintBody = CommandBody[cmd.ReopenComplaint]
    RegisterReferralBody = CommandBody[cmd.RegisterReferral]
    RedeemPointsBody = CommandBody[cmd.RedeemPoints]
else:
    CompleteReturnVisitBody = command_body(cmd.CompleteReturnVisit, path=("plan_id", "visit_no"))
    CloseSatisfactionFollowUpBody = command_body(cmd.CloseSatisfactionFollowUp, path=("plan_id", "visit_no"))
    OpenComplaintBody = command_body(cmd.OpenComplaint, internal=("idempotency",))
    AcknowledgeComplaintBody = command_body(cmd.AcknowledgeComplaint, path=("complaint_id",))
    ResolveComplaintBody = command_body(cmd.ResolveComplaint, path=("complaint_id",))
    ReopenComplaintBody = command_body(cmd.ReopenComplaint, path=("complaint_id",))
    RegisterReferralBody = command_body(cmd.RegisterReferral)
    RedeemPointsBody = command_body(cmd.RedeemPoints, path=("customer_id",))


def plan_view(plan: CarePlan) -> dict[str, Any]:
    return {
        "plan_id": plan.id, "order_id": plan.order_id, "customer_id": plan.customer_id, "lead_id": plan.lead_id,
        "delivered_at": plan.delivered_at, "version": plan.version,
        "visits": [{"visit_no": v.visit_no, "label": v.label, "due_at": v.due_at, "overdue_at": v.overdue_at,
                    "assignee_role": v.assignee_role, "status": v.status, "score": v.score,
                    "completed_at": v.completed_at, "follow_up_task_id": v.follow_up_task_id,
                    "follow_up_closed": v.follow_up_closed}
                   for v in plan.visits.values()],
    }


def complaint_view(c: Complaint) -> dict[str, Any]:
    return {
        "complaint_id": c.id, "customer_id": c.customer_id, "order_id": c.order_id, "category": c.category,
        "severity": c.severity, "status": c.status, "acknowledged": c.acknowledged, "sla_state": c.sla_state,
        "escalation_level": c.escalation_level, "cycle": c.cycle, "acknowledge_due_at": c.acknowledge_due_at,
        "resolve_due_at": c.resolve_due_at, "opened_at": c.opened_at, "version": c.version,
    }


def referral_view(r: Referral) -> dict[str, Any]:
    return {"referral_id": r.id, "referrer_customer_id": r.referrer_customer_id, "prospect_name": r.prospect_name,
            "prospect_phone": r.prospect_phone, "interest": r.interest, "lead_id": r.lead_id,
            "rewarded_order_id": r.rewarded_order_id, "registered_at": r.registered_at, "version": r.version}


@dataclass(frozen=True, slots=True)
class AftersalesHandlers:
    """The command handlers the API calls (wired in main.py)."""

    complete_visit: cmd.CompleteReturnVisitHandler
    close_follow_up: cmd.CloseSatisfactionFollowUpHandler
    open_complaint: cmd.OpenComplaintHandler
    acknowledge_complaint: cmd.AcknowledgeComplaintHandler
    resolve_complaint: cmd.ResolveComplaintHandler
    reopen_complaint: cmd.ReopenComplaintHandler
    register_referral: cmd.RegisterReferralHandler
    redeem_points: cmd.RedeemPointsHandler



def aftersales_router(
    *, handlers: AftersalesHandlers, store: AftersalesStore, history: History, queries: CareQueries, clock: Clock,
    config: dict[str, Any],
) -> APIRouter:
    # The after-sales desk: consultants, managers and directors (DESIGN §8); systems have no scope here yet. Each
    # record is narrowed to the caller's care plans (app/access.py); out of scope answers like an unknown id.
    router = APIRouter(prefix="/v1", tags=["aftersales"], dependencies=[*AUTHENTICATED, allowed(roles=access.DESK)])

    async def _load(cls: type[A], aggregate_id: str, what: str) -> A:
        found = await store.load(cls, aggregate_id)
        if found is None:
            raise HTTPException(404, f"no {what} {aggregate_id}")
        return found

    def visible(caller: Principal, plan: CarePlan | None) -> bool:
        return plan is None or access.sees_plan(caller, consultant_id=plan.consultant_id, team_id=plan.team_id)

    async def plan_in_scope(caller: Principal, plan_id: str) -> None:
        """Before a command on a plan: a plan outside the caller's scope answers as an unknown one (a missing plan
        is the handler's to refuse)."""
        if not visible(caller, await store.load(CarePlan, plan_id)):
            raise CarePlanNotFoundError(f"no care plan {plan_id}")

    async def complaint_in_scope(caller: Principal, complaint_id: str, complaint: Complaint | None = None) -> None:
        """A complaint follows the care plan of its order (one without an order, or whose order has no plan, is the
        desk's shared queue)."""
        complaint = complaint or await store.load(Complaint, complaint_id)
        if complaint is not None and complaint.order_id and not visible(
                caller, await store.load(CarePlan, complaint.order_id)):
            raise ComplaintNotFoundError(f"no complaint {complaint_id}")

    async def customer_in_scope(caller: Principal, customer_id: str) -> None:
        if not await queries.customer_in_scope(customer_id, access.care_scope(caller)):
            raise access.CustomerNotFoundError(f"no customer {customer_id}")

    @router.get("/care-plans/{plan_id}")
    async def get_care_plan(plan_id: str, caller: Caller) -> dict[str, Any]:
        """A delivered order's care plan (plan id = order id), its visits and its history."""
        plan = await _load(CarePlan, plan_id, "care plan")
        if not visible(caller, plan):
            raise HTTPException(404, f"no care plan {plan_id}")
        return {**plan_view(plan), "history": await history.history(f"care-plan-{plan_id}")}

    @router.post("/care-plans/{plan_id}/visits/{visit_no}/complete")
    async def complete_visit(plan_id: str, visit_no: int, body: CompleteReturnVisitBody,
                             x_correlation_id: Correlation = None, caller: Principal = CALLER) -> dict[str, Any]:
        """Record a return visit's score, answers and notes. 409 visit_already_completed; 422 score_out_of_range."""
        await plan_in_scope(caller, plan_id)
        plan = await handlers.complete_visit(
            body.to_command(plan_id=plan_id, visit_no=visit_no),
            _context(x_correlation_id, caller))
        return plan_view(plan)

    @router.post("/care-plans/{plan_id}/visits/{visit_no}/follow-up/close")
    async def close_follow_up(plan_id: str, visit_no: int, body: CloseSatisfactionFollowUpBody,
                              x_correlation_id: Correlation = None, caller: Principal = CALLER) -> dict[str, Any]:
        """Close the manager's follow-up of a low score. 404 follow_up_not_found; 409 follow_up_already_closed."""
        await plan_in_scope(caller, plan_id)
        plan = await handlers.close_follow_up(
            body.to_command(plan_id=plan_id, visit_no=visit_no),
            _context(x_correlation_id, caller))
        return plan_view(plan)

    @router.get("/follow-ups")
    async def follow_ups(
        status: Annotated[str | None, Query(pattern="^(open|closed)$")] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 200, caller: Principal = CALLER,
    ) -> dict[str, Any]:
        """The manager's follow-up tasks opened by low satisfaction scores (open ones by default)."""
        return {"follow_ups": await queries.follow_ups(status=status, limit=limit,
                                                       scope=access.care_scope(caller))}

    @router.post("/complaints", status_code=201, responses=REPEATED_CREATE)
    async def open_complaint(body: OpenComplaintBody, response: Response, x_correlation_id: Correlation = None,
                             idempotency_key: IdempotencyKey = None, caller: Principal = CALLER) -> dict[str, Any]:
        """Open a complaint; its acknowledge and resolve SLA timers start now. With an ``Idempotency-Key``, sending
        the same request again answers 200 with that complaint (as it is now) and opens none (409
        idempotency_key_reused if the request differs)."""
        command = body.to_command(
            idempotency=idempotent_request(idempotency_key, "aftersales.open_complaint", caller, body))
        await customer_in_scope(caller, command.customer_id)
        if command.order_id:
            await plan_in_scope(caller, command.order_id)
        outcome = await handlers.open_complaint(command, _context(x_correlation_id, caller))
        if not outcome.created:
            response.status_code = 200
        return complaint_view(outcome.aggregate)

    @router.get("/complaints/{complaint_id}")
    async def get_complaint(complaint_id: str, caller: Caller) -> dict[str, Any]:
        complaint = await _load(Complaint, complaint_id, "complaint")
        await complaint_in_scope(caller, complaint_id, complaint)
        return {**complaint_view(complaint), "history": await history.history(f"complaint-{complaint_id}")}

    @router.post("/complaints/{complaint_id}/acknowledge")
    async def acknowledge(complaint_id: str, body: AcknowledgeComplaintBody | None = None,
                          x_correlation_id: Correlation = None, caller: Principal = CALLER) -> dict[str, Any]:
        await complaint_in_scope(caller, complaint_id)
        complaint = await handlers.acknowledge_complaint(
            (body or AcknowledgeComplaintBody()).to_command(complaint_id=complaint_id),
            _context(x_correlation_id, caller))
        return complaint_view(complaint)

    @router.post("/complaints/{complaint_id}/resolve")
    async def resolve(complaint_id: str, body: ResolveComplaintBody, x_correlation_id: Correlation = None,
                      caller: Principal = CALLER) -> dict[str, Any]:
        await complaint_in_scope(caller, complaint_id)
        complaint = await handlers.resolve_complaint(
            body.to_command(complaint_id=complaint_id), _context(x_correlation_id, caller))
        return complaint_view(complaint)

    @router.post("/complaints/{complaint_id}/reopen")
    async def reopen(complaint_id: str, body: ReopenComplaintBody, x_correlation_id: Correlation = None,
                     caller: Principal = CALLER) -> dict[str, Any]:
        await complaint_in_scope(caller, complaint_id)
        complaint = await handlers.reopen_complaint(
            body.to_command(complaint_id=complaint_id), _context(x_correlation_id, caller))
        return complaint_view(complaint)

    @router.get("/complaints")
    async def list_complaints(
        sla_state: Annotated[str | None, Query(description="on_track, acknowledge_breached, resolve_breached, "
                                                           "resolved")] = None,
        status: Annotated[str | None, Query(description="open or resolved (default open)")] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 200, caller: Principal = CALLER,
    ) -> dict[str, Any]:
        """Complaints by SLA state (open ones by default)."""
        return {"complaints": await queries.complaints(sla_state=sla_state, status=status, limit=limit,
                                                       scope=access.care_scope(caller))}

    @router.post("/referrals", status_code=201)
    async def register_referral(body: RegisterReferralBody, response: Response,
                                x_correlation_id: Correlation = None, caller: Principal = CALLER) -> dict[str, Any]:
        """A customer refers a prospect; the leads service turns it into a referral lead. Sending the same
        referral_id again answers 200 with the stored referral (409 referral_conflict if it differs)."""
        command = body.to_command()
        await customer_in_scope(caller, command.referrer_customer_id)
        outcome = await handlers.register_referral(command, _context(x_correlation_id, caller))
        if not outcome.created:
            response.status_code = 200
        return referral_view(outcome.aggregate)

    @router.get("/referrals/{referral_id}")
    async def get_referral(referral_id: str, caller: Caller) -> dict[str, Any]:
        referral = await _load(Referral, referral_id, "referral")
        await customer_in_scope(caller, referral.referrer_customer_id)
        return {**referral_view(referral), "history": await history.history(f"referral-{referral_id}")}

    @router.get("/customers/{customer_id}/loyalty")
    async def loyalty(customer_id: str, caller: Caller) -> dict[str, Any]:
        """Balance and the history of every change."""
        await customer_in_scope(caller, customer_id)
        account = await store.load(LoyaltyAccount, customer_id) or LoyaltyAccount(customer_id)
        return {"customer_id": customer_id, "balance": account.balance, "version": account.version,
                "history": await history.history(f"loyalty-{customer_id}")}

    @router.post("/customers/{customer_id}/loyalty/redemptions", status_code=201)
    async def redeem(customer_id: str, body: RedeemPointsBody, response: Response,
                     x_correlation_id: Correlation = None, caller: Principal = CALLER) -> dict[str, Any]:
        """Spend points. 409 insufficient_points if more than the balance; nothing is stored then. The same
        ``reference`` and points again (a retry) answers 200 and spends nothing more."""
        await customer_in_scope(caller, customer_id)
        outcome = await handlers.redeem_points(
            body.to_command(customer_id=customer_id), _context(x_correlation_id, caller))
        if not outcome.created:
            response.status_code = 200
        account = outcome.aggregate
        return {"customer_id": customer_id, "balance": account.balance, "version": account.version}

    @router.get("/customers/{customer_id}/timeline")
    async def timeline(customer_id: str, caller: Caller,
                       limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
        """The customer's care timeline: plans, visits, complaints, referrals, points — oldest first."""
        await customer_in_scope(caller, customer_id)
        return {"customer_id": customer_id, "timeline": await queries.timeline(customer_id, limit=limit)}

    @router.get("/visits")
    async def visits(
        state: Annotated[str, Query(pattern="^(due|overdue|upcoming|completed)$")] = "due",
        assignee_role: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        caller: Principal = CALLER,
    ) -> dict[str, Any]:
        """Return visits by state: due (due now, not yet overdue), overdue, upcoming, completed."""
        return {"state": state,
                "visits": await queries.visits(state=state, now=clock(), limit=limit, assignee_role=assignee_role,
                                               scope=access.care_scope(caller))}

    @router.get("/satisfaction")
    async def satisfaction(caller: Caller, since: IsoDateTime | None = None,
                           until: IsoDateTime | None = None) -> dict[str, Any]:
        """Satisfaction summary of completed visits (mean on 0–100 so scales compare), low scores, overdue — of
        the caller's care plans."""
        return {"since": since, "until": until,
                **await queries.satisfaction(since=since, until=until, scope=access.care_scope(caller))}

    @router.get("/config")
    async def get_config() -> dict[str, Any]:
        """The configuration in force: care template, score scale, SLA hours, points rules."""
        return config

    return router
