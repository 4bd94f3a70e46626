"""Commands on an existing lead. Each loads the lead, lets the aggregate check its rules, and appends what it
recorded with the loaded version (a concurrent writer makes it a 409). A client may pin ``expected_version``:
if the lead moved on since the client read it, the command is refused with 409 instead of acting on stale
state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.leads.app import access
from services.leads.app.assignment import round_robin_lock
from services.leads.app.ports import Clock, CommandContext, IdFactory, UnitOfWork, UnitOfWorkFactory
from services.leads.domain import errors
from services.leads.domain.lead import Lead
from services.leads.domain.organisation import Consultant
from services.leads.domain.policy import LeadPolicy
from shared.auth.principal import Role
from shared.commands import ExpectedVersion
from shared.unit_of_work.retry import CommandRunner


@dataclass(frozen=True, slots=True)
class AssignLead:
    """Reassign the lead to a consultant (a manager's decision)."""

    lead_id: str
    owner_id: Annotated[str, Field(min_length=1, description="consultant to own the lead")]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class GradeLead:
    lead_id: str
    grade: Annotated[str, Field(description="H, A, B or C")]
    reason: Annotated[str, Field(description="why this grade")]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class LogFollowUp:
    lead_id: str
    kind: Annotated[str, Field(description="call | visit | message")]
    outcome: Annotated[str, Field(description="what came of it")]
    notes: str | None = None
    next_due_at: Annotated[datetime | None, Field(description="default: now + the grade's interval")] = None
    grade: Annotated[str | None, Field(description="re-grade at this follow-up")] = None
    grade_reason: str | None = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ScheduleAppointment:
    lead_id: str
    kind: Annotated[str, Field(description="showroom_visit | test_drive")]
    scheduled_for: datetime
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class RecordAppointmentOutcome:
    lead_id: str
    appointment_id: str
    attended: Annotated[bool, Field(description="false = no-show")]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class MoveLeadStage:
    lead_id: str
    stage: Annotated[str, Field(description="new … negotiating; contract_signed/delivered come from orders")]
    reason: Annotated[str | None, Field(description="required when moving back")] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class RequestLoss:
    lead_id: str
    reason: Annotated[str, Field(description="a code from GET /v1/loss-reasons")]
    competitor_model: str | None = None
    note: str | None = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ApproveLoss:
    lead_id: str
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class RejectLoss:
    lead_id: str
    note: str | None = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class InvalidateLead:
    lead_id: str
    reason: str
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ClaimLead:
    lead_id: str
    consultant_id: str
    expected_version: ExpectedVersion = None


Change = Callable[[Lead, UnitOfWork, datetime], Awaitable[None]]


class LeadCommandHandlers:
    """One method per command, named after it."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory,
                 policy: LeadPolicy) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._new_id = new_id
        self._policy = policy

    async def _run(self, lead_id: str, expected_version: int | None, context: CommandContext,
                   change: Change, rule: access.LeadRule = access.require_work) -> Lead:
        async def decide(uow: UnitOfWork, now: datetime) -> Lead:
            lead = await uow.get(Lead, lead_id, expected_version=expected_version,
                                 missing=lambda: errors.LeadNotFoundError(f"no lead {lead_id}", lead_id=lead_id))
            if context.caller is not None:  # None: a reaction or timer acting on the service's own account
                rule(context.caller, lead.id, owner_id=lead.owner_id, team_id=lead.team_id, pooled=lead.pooled)
            await change(lead, uow, now)
            return lead
        return await self._commands.run(decide, context, expected_version=expected_version)

    async def _approver(self, uow: UnitOfWork, context: CommandContext) -> str:
        """Who decides (approvals, reassignment): the caller's own id. A director decides by role; a manager must
        also be registered as an active manager in the organisation."""
        actor = context.actor
        if context.caller is not None and context.caller.has_role(Role.DIRECTOR) and actor:
            return actor
        manager = await uow.load(Consultant, actor) if actor else None
        if manager is None or not manager.is_manager:
            raise errors.NotAManagerError("this needs an active manager as the caller (the token's subject)",
                                          actor=actor)
        return manager.id

    async def _active(self, uow: UnitOfWork, consultant_id: str) -> Consultant:
        """The consultant, checked active while holding their team's round-robin lock: a deactivation (which
        hands the leaving consultant's leads over under that lock) cannot slip between check and append."""
        consultant = await uow.load(Consultant, consultant_id)
        if consultant is None:
            raise errors.ConsultantNotFoundError(f"no consultant {consultant_id}")
        await uow.lock(round_robin_lock(consultant.team_id))
        consultant = await uow.load(Consultant, consultant_id) or consultant  # re-read under the lock
        if not consultant.active:
            raise errors.ConsultantInactiveError(f"consultant {consultant_id} is inactive")
        return consultant

    async def assign_lead(self, command: AssignLead, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            approver = await self._approver(uow, context)
            owner = await self._active(uow, command.owner_id)
            if context.caller is not None:
                access.require_in_scope_consultant(context.caller, owner.id, owner.team_id)
            lead.assign(owner_id=owner.id, team_id=owner.team_id, reason="manual", by=approver, now=now)
        return await self._run(command.lead_id, command.expected_version, context, change, access.require_manage)

    async def grade_lead(self, command: GradeLead, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.regrade(grade=command.grade, reason=command.reason, by=context.actor, now=now, policy=self._policy)
        return await self._run(command.lead_id, command.expected_version, context, change)

    async def log_follow_up(self, command: LogFollowUp, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.log_follow_up(kind=command.kind, outcome=command.outcome, notes=command.notes, by=context.actor,
                               now=now, policy=self._policy, next_due_at=command.next_due_at, grade=command.grade,
                               grade_reason=command.grade_reason)
        return await self._run(command.lead_id, command.expected_version, context, change)

    async def schedule_appointment(self, command: ScheduleAppointment, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.schedule_appointment(appointment_id=self._new_id(), kind=command.kind,
                                      scheduled_for=command.scheduled_for, by=context.actor, now=now)
        return await self._run(command.lead_id, command.expected_version, context, change)

    async def record_appointment_outcome(self, command: RecordAppointmentOutcome, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.record_appointment_outcome(appointment_id=command.appointment_id, attended=command.attended,
                                            by=context.actor, now=now, policy=self._policy)
        return await self._run(command.lead_id, command.expected_version, context, change)

    async def move_lead_stage(self, command: MoveLeadStage, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.move_stage(to_stage=command.stage, reason=command.reason, by=context.actor, now=now)
        return await self._run(command.lead_id, command.expected_version, context, change)

    async def request_loss(self, command: RequestLoss, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.request_loss(reason=command.reason, competitor_model=command.competitor_model, note=command.note,
                              by=context.actor, now=now, policy=self._policy)
        return await self._run(command.lead_id, command.expected_version, context, change)

    async def approve_loss(self, command: ApproveLoss, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.approve_loss(manager_id=await self._approver(uow, context), now=now)
        return await self._run(command.lead_id, command.expected_version, context, change, access.require_manage)

    async def reject_loss(self, command: RejectLoss, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.reject_loss(manager_id=await self._approver(uow, context), note=command.note, now=now)
        return await self._run(command.lead_id, command.expected_version, context, change, access.require_manage)

    async def invalidate_lead(self, command: InvalidateLead, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            lead.invalidate(reason=command.reason, by=context.actor, now=now)
        return await self._run(command.lead_id, command.expected_version, context, change)

    async def claim_lead(self, command: ClaimLead, context: CommandContext) -> Lead:
        async def change(lead: Lead, uow: UnitOfWork, now: datetime) -> None:
            if context.caller is not None:
                access.require_claim_for(context.caller, command.consultant_id)
            consultant = await self._active(uow, command.consultant_id)
            lead.claim(consultant_id=consultant.id, consultant_team_id=consultant.team_id, now=now,
                       policy=self._policy)
        return await self._run(command.lead_id, command.expected_version, context, change, access.require_visible)
