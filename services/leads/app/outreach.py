"""Outreach batches (issue 17, item 5): ``CreateOutreachBatch`` turns the dormant or lost customers a filter selects
in a team into one follow-up task each, dealt round robin over the given consultants in the given order, in one unit
of work (the kernel's command path, like every leads command):

- a **lost** customer (all leads closed, the newest lost) is reactivated exactly as a capture of a known customer
  is: ``CaptureLeadHandler.decide`` under the phone's lock makes a new lead of the same customer, owned by the
  consultant (source system ``outreach-batch``, external id = batch + customer, so it is one lead per batch);
- a **dormant** lead (open, no activity for ``idle_days``, default the pool's idle period) is handed to the
  consultant — claimed from the pool or reassigned — with its next follow-up due.

Every task's follow-up is due at ``due_at`` (default: a new lead's first-contact interval from now), so it shows in
the consultant's work queue. With an ``Idempotency-Key`` a repeat answers the first batch and creates nothing
(the batch's id is derived from the key: shared/idempotency.py); a second batch finds the same customers no longer
dormant or lost. The batch records ``OutreachBatchCreated`` with its counts and tasks.

Locks: every lost customer's phone lock in sorted order, then the team's rotation lock shared (the capture's order:
phone, then team), so the batch cannot deadlock with captures, merges or another batch; the team lock keeps an
organisation change from deactivating a consultant mid-batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from services.leads.app import access
from services.leads.app.commands import CaptureLead, CaptureLeadHandler
from services.leads.app.ports import Clock, CommandContext, IdFactory, OutreachCandidate, UnitOfWork, UnitOfWorkFactory
from services.leads.app.work_queue import LeadFilters
from services.leads.domain import errors
from services.leads.domain.lead import Lead
from services.leads.domain.outreach import (
    MAX_BATCH_CUSTOMERS,
    Audience,
    OutreachBatch,
    OutreachTask,
    TaskAction,
    check_consultant_ids,
)
from services.leads.domain.policy import LeadPolicy
from services.leads.domain.work_queue import round_robin
from shared.domain import InvalidFieldError, check_scheduled
from shared.idempotency import IdempotentRequest
from shared.unit_of_work.retry import CommandRunner

OUTREACH_SOURCE = "outreach-batch"


@dataclass(frozen=True, slots=True)
class OutreachFilters:
    """Which customers: ``audience`` lost or dormant, narrowed by the lead lists' filters."""

    audience: Annotated[str, Field(description="lost (reactivated) | dormant (handed over with a follow-up)")] = \
        Audience.DORMANT.value
    grade: str | None = None
    stage: str | None = None
    channel: str | None = None
    idle_days: Annotated[int | None, Field(
        ge=0, le=3650, description="no activity for at least this many days (dormant: default the pool's idle "
                                   "period)")] = None
    lost_reason: str | None = None

    def lead_filters(self) -> LeadFilters:
        return LeadFilters(grade=self.grade, stage=self.stage, channel=self.channel, idle_days=self.idle_days,
                           lost_reason=self.lost_reason)


@dataclass(frozen=True, slots=True)
class CreateOutreachBatch:
    filters: OutreachFilters
    consultant_ids: Annotated[list[str], Field(min_length=1, max_length=50,
                                               description="dealt round robin in this order")]
    note: Annotated[str | None, Field(max_length=1000)] = None
    due_at: Annotated[datetime | None, Field(description="every task's follow-up; default a new lead's first-"
                                                         "contact interval from now")] = None
    team_id: Annotated[str | None, Field(max_length=100, description="a director's choice; a manager's own team")] \
        = None
    # The caller's Idempotency-Key (from the header, not the body): a repeat answers the first batch.
    idempotency: IdempotentRequest | None = None


OUTREACH_INTERNAL = ("idempotency",)


@dataclass(frozen=True, slots=True)
class OutreachResult:
    batch: OutreachBatch
    created: bool = True  # False: an earlier attempt under the same Idempotency-Key made it


class OutreachHandlers:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory,
                 capture: CaptureLeadHandler, policy: LeadPolicy, loss_reasons: frozenset[str]) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._new_id = new_id
        self._capture = capture
        self._policy = policy
        self._loss_reasons = loss_reasons

    async def create_batch(self, command: CreateOutreachBatch, context: CommandContext) -> OutreachResult:
        team_id = access.outreach_team(context.caller, command.team_id) if context.caller else command.team_id
        if team_id is None:
            raise InvalidFieldError("team_id", "name the team whose customers the batch reaches")
        audience = _audience(command.filters)
        filters = command.filters.lead_filters().checked(channels=self._capture.channels,
                                                          loss_reasons=self._loss_reasons)
        consultant_ids = check_consultant_ids(list(command.consultant_ids))
        key = command.idempotency

        async def decide(uow: UnitOfWork, now: datetime) -> OutreachResult:
            if (earlier := await uow.load_repeat(OutreachBatch, key)) is not None:
                return OutreachResult(earlier, created=False)
            due_at = command.due_at or now + self._policy.interval("N")
            check_scheduled("due_at", due_at, now=now)
            if audience is Audience.DORMANT and filters.idle_days is None:  # dormant: idle for the pool's period
                selecting = replace(filters, idle_days=self._policy.pool_idle.days)
            else:
                selecting = filters
            candidates = await uow.outreach_candidates(team_id, audience.value, selecting, now=now,
                                                       limit=MAX_BATCH_CUSTOMERS + 1)
            if len(candidates) > MAX_BATCH_CUSTOMERS:
                raise InvalidFieldError("filters", f"more than {MAX_BATCH_CUSTOMERS} customers match; narrow the "
                                                   "filters")
            for phone in sorted({c.phone for c in candidates}) if audience is Audience.LOST else ():
                await uow.lock_phone(phone)
            rotation = await uow.take_rotation_ticket(team_id)
            if rotation is None:
                raise InvalidFieldError("team_id", f"unknown team {team_id!r}")
            for consultant_id in consultant_ids:
                if consultant_id not in rotation.consultants:
                    raise errors.ConsultantNotFoundError(
                        f"no active consultant {consultant_id} in team {team_id}", consultant_id=consultant_id)
            batch_id = key.aggregate_id if key else self._new_id()
            tasks = []
            for candidate, consultant_id in round_robin(candidates, consultant_ids):
                lead, action = await self._task(uow, batch_id, candidate, audience, consultant_id, team_id, due_at,
                                                context.actor, now)
                tasks.append(OutreachTask(customer_id=candidate.customer_id, source_lead_id=candidate.lead_id,
                                          lead_id=lead.id, consultant_id=consultant_id, action=action.value))
            batch = OutreachBatch.create(
                batch_id=batch_id, team_id=team_id, audience=audience, filters=_fields(filters),
                consultant_ids=consultant_ids, due_at=due_at, note=command.note, by=context.actor, now=now,
                tasks=tasks)
            uow.add(batch)
            return OutreachResult(batch)
        if key is None:
            return await self._commands.run(decide, context)
        # An attempt racing its own retry loses on the batch stream's version; its retry answers the winner's batch.
        return await self._commands.run(decide, key.context(context))

    async def _task(self, uow: UnitOfWork, batch_id: str, candidate: OutreachCandidate, audience: Audience,
                    consultant_id: str, team_id: str, due_at: datetime, actor: str | None, now: datetime
                    ) -> tuple[Lead, TaskAction]:
        action = TaskAction.SCHEDULED
        if audience is Audience.LOST:
            capture = CaptureLead(name=candidate.name, phone=candidate.phone, channel=candidate.channel,
                                  interest=candidate.interest, team_id=team_id, source_system=OUTREACH_SOURCE,
                                  external_id=f"{batch_id}:{candidate.customer_id}", owner_id=consultant_id)
            captured = await self._capture.decide(uow, capture, self._capture.validate(capture), now)
            lead = captured.lead
            # Under the phone's lock the customer may turn out to have an open lead after all (captured since the
            # selection): the capture recorded the contact there, and that lead is handed over instead.
            if captured.outcome == "created":
                action = TaskAction.REACTIVATED
        else:
            found = await uow.load(Lead, candidate.lead_id)
            assert found is not None, "leads_view points at a missing stream"
            lead = found
        lead.hand_over_for_outreach(consultant_id=consultant_id, team_id=team_id, due_at=due_at, by=actor, now=now)
        uow.add(lead)
        return lead, action


def _audience(filters: OutreachFilters) -> Audience:
    try:
        audience = Audience(filters.audience)
    except ValueError:
        raise InvalidFieldError("filters.audience", "lost or dormant") from None
    if filters.lost_reason is not None and audience is not Audience.LOST:
        raise InvalidFieldError("filters.lost_reason", "only lost customers have a lost reason (audience lost)")
    return audience


def _fields(filters: LeadFilters) -> dict[str, Any]:
    return {"grade": filters.grade, "stage": filters.stage, "channel": filters.channel,
            "idle_days": filters.idle_days, "lost_reason": filters.lost_reason}
