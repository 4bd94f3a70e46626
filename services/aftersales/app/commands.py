"""Commands (imperative) sent over HTTP, and their handlers. Each handler loads, asks the aggregate, and commits
in one transaction (events + read tables + timers) through the kernel's command runner: a concurrent writer is a
conflict (409) when the client pinned ``expected_version``, otherwise the command is decided again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import Field

from services.aftersales.app.ports import AftersalesUnitOfWork, Clock, CommandContext, IdFactory, UnitOfWorkFactory
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.errors import CarePlanNotFoundError, ComplaintNotFoundError
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.policy import AftersalesPolicy
from services.aftersales.domain.referral import Referral
from shared.commands import ExpectedVersion
from shared.idempotency import IdempotentRequest
from shared.unit_of_work.core import check_expected_version
from shared.unit_of_work.retry import CommandRunner


@dataclass(frozen=True, slots=True)
class CompleteReturnVisit:
    plan_id: str
    visit_no: int
    score: Annotated[int, Field(description="satisfaction score on the configured scale (GET /v1/config)")]
    answers: Annotated[Mapping[str, str], Field(description="questionnaire answers by question")] = field(
        default_factory=dict)
    notes: Annotated[str | None, Field(max_length=2000)] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class CloseSatisfactionFollowUp:
    plan_id: str
    visit_no: int
    outcome: Annotated[str, Field(min_length=1, max_length=2000,
                                  description="what the manager agreed with the customer")]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class OpenComplaint:
    customer_id: Annotated[str, Field(min_length=1, max_length=100)]
    category: Annotated[str, Field(description="purchase, delivery, product, service or other (GET /v1/config)")]
    description: Annotated[str, Field(min_length=1, max_length=4000)]
    severity: Annotated[str, Field(description="low, medium, high or critical")] = "medium"
    order_id: Annotated[str | None, Field(max_length=100)] = None
    # The caller's Idempotency-Key (from the header, not the body): a repeat answers the first one.
    idempotency: IdempotentRequest | None = None


@dataclass(frozen=True, slots=True)
class AcknowledgeComplaint:
    complaint_id: str
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ResolveComplaint:
    complaint_id: str
    resolution: Annotated[str, Field(min_length=1, max_length=4000)]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ReopenComplaint:
    complaint_id: str
    reason: Annotated[str, Field(min_length=1, max_length=4000)]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class RegisterReferral:
    referrer_customer_id: Annotated[str, Field(min_length=1, max_length=100)]
    prospect_name: Annotated[str, Field(min_length=1, max_length=100)]
    prospect_phone: Annotated[str, Field(min_length=1, max_length=40)]
    interest: Annotated[str | None, Field(max_length=200)] = None
    referrer_order_id: Annotated[str | None, Field(max_length=100)] = None
    referral_id: Annotated[str | None, Field(  # generated when absent
        max_length=100, description="idempotency key; sending it again returns the same referral")] = None


@dataclass(frozen=True, slots=True)
class RedeemPoints:
    customer_id: str
    points: Annotated[int, Field(gt=0)]
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    reference: Annotated[str | None, Field(  # generated when absent
        max_length=100, description="idempotency key of the redemption")] = None
    expected_version: ExpectedVersion = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What an idempotent command answered: the aggregate after the change and whether anything new was stored
    (False for a repeated request, which the API answers 200 instead of 201)."""

    aggregate: T
    created: bool = True


class _Handler:
    """Shared construction of the command handlers: the command runner over the unit of work, the id factory and
    the policy."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory,
                 policy: AftersalesPolicy) -> None:
        self._commands: CommandRunner[AftersalesUnitOfWork] = CommandRunner(unit_of_work, clock)
        self._new_id = new_id
        self._policy = policy


def _no_plan(plan_id: str) -> Callable[[], Exception]:
    return lambda: CarePlanNotFoundError(f"no care plan {plan_id}")


def _no_complaint(complaint_id: str) -> Callable[[], Exception]:
    return lambda: ComplaintNotFoundError(f"no complaint {complaint_id}")


class CompleteReturnVisitHandler(_Handler):
    async def __call__(self, command: CompleteReturnVisit, context: CommandContext) -> CarePlan:
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> CarePlan:
            plan = await uow.get(CarePlan, command.plan_id, missing=_no_plan(command.plan_id),
                                 expected_version=command.expected_version)
            plan.complete_visit(command.visit_no, score=command.score, scale=self._policy.scale,
                                answers=command.answers, notes=command.notes, completed_by=context.actor,
                                completed_at=now, follow_up_task_id=self._new_id())
            return plan
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class CloseSatisfactionFollowUpHandler(_Handler):
    async def __call__(self, command: CloseSatisfactionFollowUp, context: CommandContext) -> CarePlan:
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> CarePlan:
            plan = await uow.get(CarePlan, command.plan_id, missing=_no_plan(command.plan_id),
                                 expected_version=command.expected_version)
            plan.close_follow_up(command.visit_no, outcome=command.outcome, closed_by=context.actor, closed_at=now)
            return plan
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class OpenComplaintHandler(_Handler):
    async def __call__(self, command: OpenComplaint, context: CommandContext) -> Outcome[Complaint]:
        """Idempotent with a key (``command.idempotency``): the complaint an earlier attempt opened is answered and
        nothing is stored; without one, every call opens a new complaint."""
        key = command.idempotency

        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> Outcome[Complaint]:
            if (earlier := await uow.load_repeat(Complaint, key)) is not None:
                return Outcome(earlier, created=False)
            complaint = Complaint.open_complaint(
                complaint_id=key.aggregate_id if key else self._new_id(), customer_id=command.customer_id,
                order_id=command.order_id,
                category=command.category, severity=command.severity, description=command.description,
                opened_by=context.actor, opened_at=now, sla=self._policy.sla, categories=self._policy.categories,
                severities=self._policy.severities,
            )
            uow.add(complaint)
            return Outcome(complaint)
        if key is None:
            return await self._commands.run(decide, context, expected_version=0)
        # Not pinned: an attempt racing its own retry loses on the stream's version, and its retry answers the
        # winner's complaint.
        return await self._commands.run(decide, key.context(context))


class AcknowledgeComplaintHandler(_Handler):
    async def __call__(self, command: AcknowledgeComplaint, context: CommandContext) -> Complaint:
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> Complaint:
            complaint = await uow.get(Complaint, command.complaint_id, missing=_no_complaint(command.complaint_id),
                                      expected_version=command.expected_version)
            complaint.acknowledge(by=context.actor, at=now)
            return complaint
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class ResolveComplaintHandler(_Handler):
    async def __call__(self, command: ResolveComplaint, context: CommandContext) -> Complaint:
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> Complaint:
            complaint = await uow.get(Complaint, command.complaint_id, missing=_no_complaint(command.complaint_id),
                                      expected_version=command.expected_version)
            complaint.resolve(resolution=command.resolution, by=context.actor, at=now)
            return complaint
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class ReopenComplaintHandler(_Handler):
    async def __call__(self, command: ReopenComplaint, context: CommandContext) -> Complaint:
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> Complaint:
            complaint = await uow.get(Complaint, command.complaint_id, missing=_no_complaint(command.complaint_id),
                                      expected_version=command.expected_version)
            complaint.reopen(reason=command.reason, by=context.actor, at=now, sla=self._policy.sla)
            return complaint
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class RegisterReferralHandler(_Handler):
    async def __call__(self, command: RegisterReferral, context: CommandContext) -> Outcome[Referral]:
        """Idempotent on ``referral_id``: the same referral again answers the stored one and stores nothing."""
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> Outcome[Referral]:
            if command.referral_id:
                existing = await uow.load(Referral, command.referral_id)
                if existing is not None:
                    existing.same_request(referrer_customer_id=command.referrer_customer_id,
                                          prospect_phone=command.prospect_phone)
                    return Outcome(existing, created=False)
            referral = Referral.register(
                referral_id=command.referral_id or self._new_id(), referrer_customer_id=command.referrer_customer_id,
                referrer_order_id=command.referrer_order_id, prospect_name=command.prospect_name,
                prospect_phone=command.prospect_phone, interest=command.interest, registered_by=context.actor,
                registered_at=now,
            )
            uow.add(referral)
            return Outcome(referral)
        # A concurrent first registration of the same id: the retry finds it and answers it.
        return await self._commands.run(decide, context)


class RedeemPointsHandler(_Handler):
    async def __call__(self, command: RedeemPoints, context: CommandContext) -> Outcome[LoyaltyAccount]:
        """Idempotent on ``reference``: a retried redemption answers the account and stores nothing."""
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> Outcome[LoyaltyAccount]:
            account = await uow.load(LoyaltyAccount, command.customer_id) or LoyaltyAccount(command.customer_id)
            reference = command.reference or self._new_id()
            if command.reference is None or account.redemptions.get(reference) != command.points:
                check_expected_version(f"loyalty-{command.customer_id}", command.expected_version, account.version)
            created = account.redeem(command.points, reason=command.reason, reference=reference, at=now)
            uow.add(account)
            return Outcome(account, created=created)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


HandlerT = TypeVar("HandlerT", bound=_Handler)
