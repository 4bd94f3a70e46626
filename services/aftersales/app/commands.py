"""Commands (imperative) sent over HTTP, and their handlers. Each handler loads, asks the aggregate, and commits
in one transaction (events + read tables + timers); a concurrent writer makes it fail with a conflict (409)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from services.aftersales.app.ports import AftersalesStore, Clock, CommandContext, IdFactory
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.errors import (
    CarePlanNotFoundError,
    ComplaintNotFoundError,
    check_version,
)
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.policy import AftersalesPolicy
from services.aftersales.domain.referral import Referral


@dataclass(frozen=True, slots=True)
class CompleteReturnVisit:
    plan_id: str
    visit_no: int
    score: int
    answers: Mapping[str, str] = field(default_factory=dict)
    notes: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class CloseSatisfactionFollowUp:
    plan_id: str
    visit_no: int
    outcome: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class OpenComplaint:
    customer_id: str
    category: str
    severity: str
    description: str
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class AcknowledgeComplaint:
    complaint_id: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ResolveComplaint:
    complaint_id: str
    resolution: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ReopenComplaint:
    complaint_id: str
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class RegisterReferral:
    referrer_customer_id: str
    prospect_name: str
    prospect_phone: str
    interest: str | None = None
    referrer_order_id: str | None = None
    referral_id: str | None = None  # the caller's idempotency key; generated when absent


@dataclass(frozen=True, slots=True)
class RedeemPoints:
    customer_id: str
    points: int
    reason: str
    reference: str | None = None  # idempotency key of the redemption; generated when absent
    expected_version: int | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What an idempotent command answered: the aggregate after the change and whether anything new was stored
    (False for a repeated request, which the API answers 200 instead of 201)."""

    aggregate: T
    created: bool = True


class _Handler:
    """Shared construction of the command handlers: the store, the clock, the id factory and the policy."""

    def __init__(self, *, store: AftersalesStore, clock: Clock, new_id: IdFactory, policy: AftersalesPolicy) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id
        self._policy = policy

    async def _plan(self, plan_id: str, expected_version: int | None) -> CarePlan:
        plan = await self._store.load(CarePlan, plan_id)
        if plan is None:
            raise CarePlanNotFoundError(f"no care plan {plan_id}")
        check_version(f"care plan {plan_id}", expected_version, plan.version)
        return plan

    async def _complaint(self, complaint_id: str, expected_version: int | None) -> Complaint:
        complaint = await self._store.load(Complaint, complaint_id)
        if complaint is None:
            raise ComplaintNotFoundError(f"no complaint {complaint_id}")
        check_version(f"complaint {complaint_id}", expected_version, complaint.version)
        return complaint


class CompleteReturnVisitHandler(_Handler):
    async def __call__(self, command: CompleteReturnVisit, context: CommandContext) -> CarePlan:
        plan = await self._plan(command.plan_id, command.expected_version)
        now = self._clock()
        plan.complete_visit(command.visit_no, score=command.score, scale=self._policy.scale, answers=command.answers,
                            notes=command.notes, completed_by=context.actor, completed_at=now,
                            follow_up_task_id=self._new_id())
        await self._store.commit([plan], context=context, now=now)
        return plan


class CloseSatisfactionFollowUpHandler(_Handler):
    async def __call__(self, command: CloseSatisfactionFollowUp, context: CommandContext) -> CarePlan:
        plan = await self._plan(command.plan_id, command.expected_version)
        now = self._clock()
        plan.close_follow_up(command.visit_no, outcome=command.outcome, closed_by=context.actor, closed_at=now)
        await self._store.commit([plan], context=context, now=now)
        return plan


class OpenComplaintHandler(_Handler):
    async def __call__(self, command: OpenComplaint, context: CommandContext) -> Complaint:
        now = self._clock()
        complaint = Complaint.open_complaint(
            complaint_id=self._new_id(), customer_id=command.customer_id, order_id=command.order_id,
            category=command.category, severity=command.severity, description=command.description,
            opened_by=context.actor, opened_at=now, sla=self._policy.sla, categories=self._policy.categories,
            severities=self._policy.severities,
        )
        await self._store.commit([complaint], context=context, now=now)
        return complaint


class AcknowledgeComplaintHandler(_Handler):
    async def __call__(self, command: AcknowledgeComplaint, context: CommandContext) -> Complaint:
        complaint = await self._complaint(command.complaint_id, command.expected_version)
        now = self._clock()
        complaint.acknowledge(by=context.actor, at=now)
        await self._store.commit([complaint], context=context, now=now)
        return complaint


class ResolveComplaintHandler(_Handler):
    async def __call__(self, command: ResolveComplaint, context: CommandContext) -> Complaint:
        complaint = await self._complaint(command.complaint_id, command.expected_version)
        now = self._clock()
        complaint.resolve(resolution=command.resolution, by=context.actor, at=now)
        await self._store.commit([complaint], context=context, now=now)
        return complaint


class ReopenComplaintHandler(_Handler):
    async def __call__(self, command: ReopenComplaint, context: CommandContext) -> Complaint:
        complaint = await self._complaint(command.complaint_id, command.expected_version)
        now = self._clock()
        complaint.reopen(reason=command.reason, by=context.actor, at=now, sla=self._policy.sla)
        await self._store.commit([complaint], context=context, now=now)
        return complaint


class RegisterReferralHandler(_Handler):
    async def __call__(self, command: RegisterReferral, context: CommandContext) -> Outcome[Referral]:
        """Idempotent on ``referral_id``: the same referral again answers the stored one and stores nothing."""
        if command.referral_id:
            existing = await self._store.load(Referral, command.referral_id)
            if existing is not None:
                existing.same_request(referrer_customer_id=command.referrer_customer_id,
                                      prospect_phone=command.prospect_phone)
                return Outcome(existing, created=False)
        now = self._clock()
        referral = Referral.register(
            referral_id=command.referral_id or self._new_id(), referrer_customer_id=command.referrer_customer_id,
            referrer_order_id=command.referrer_order_id, prospect_name=command.prospect_name,
            prospect_phone=command.prospect_phone, interest=command.interest, registered_by=context.actor,
            registered_at=now,
        )
        await self._store.commit([referral], context=context, now=now)
        return Outcome(referral)


class RedeemPointsHandler(_Handler):
    async def __call__(self, command: RedeemPoints, context: CommandContext) -> Outcome[LoyaltyAccount]:
        """Idempotent on ``reference``: a retried redemption answers the account and stores nothing."""
        account = await self._store.load(LoyaltyAccount, command.customer_id) or LoyaltyAccount(command.customer_id)
        now = self._clock()
        reference = command.reference or self._new_id()
        if command.reference is None or account.redemptions.get(reference) != command.points:
            check_version(f"loyalty account {command.customer_id}", command.expected_version, account.version)
        created = account.redeem(command.points, reason=command.reason, reference=reference, at=now)
        await self._store.commit([account], context=context, now=now)
        return Outcome(account, created=created)


HandlerT = TypeVar("HandlerT", bound=_Handler)
