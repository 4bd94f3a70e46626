"""Sales organisation commands: teams and consultants. A consultant who leaves (deactivated, or moved to
another team) hands their open leads on, round robin within the team they leave, in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.leads.app import access
from services.leads.app.assignment import next_consultant, round_robin_lock
from services.leads.app.ports import Clock, CommandContext, UnitOfWork, UnitOfWorkFactory
from services.leads.domain import errors
from services.leads.domain.lead import Lead
from services.leads.domain.organisation import Consultant, Team
from shared.domain import InvalidFieldError
from shared.unit_of_work.retry import CommandRunner

Identifier = Annotated[str, Field(min_length=1, max_length=100)]


@dataclass(frozen=True, slots=True)
class RegisterTeam:
    team_id: Identifier
    name: Identifier


@dataclass(frozen=True, slots=True)
class RegisterConsultant:
    consultant_id: Identifier
    name: Identifier
    team_id: Identifier
    role: Annotated[str, Field(description="consultant | manager")] = "consultant"


@dataclass(frozen=True, slots=True)
class DeactivateConsultant:
    consultant_id: str


@dataclass(frozen=True, slots=True)
class MoveConsultantTeam:
    consultant_id: str
    team_id: Identifier


class OrganisationHandlers:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)

    async def register_team(self, command: RegisterTeam, context: CommandContext) -> Team:
        if context.caller is not None:
            access.require_organisation(context.caller, None)  # new teams: a director

        async def decide(uow: UnitOfWork, now: datetime) -> Team:
            if await uow.load(Team, command.team_id) is not None:
                raise errors.TeamAlreadyExistsError(f"team {command.team_id} exists")
            team = Team.register(team_id=command.team_id, name=command.name, now=now)
            uow.add(team)
            return team
        # A concurrent registration of the same id is retried: the retry finds the team and says it exists.
        return await self._commands.run(decide, context)

    async def register_consultant(self, command: RegisterConsultant, context: CommandContext) -> Consultant:
        if context.caller is not None:
            access.require_organisation(context.caller, command.team_id)

        async def decide(uow: UnitOfWork, now: datetime) -> Consultant:
            if await uow.load(Team, command.team_id) is None:
                raise InvalidFieldError("team_id", f"unknown team {command.team_id!r}")
            if await uow.load(Consultant, command.consultant_id) is not None:
                raise errors.ConsultantAlreadyExistsError(f"consultant {command.consultant_id} exists")
            # Joining changes the team's rotation: take the team's round-robin lock like a capture does.
            await uow.lock(round_robin_lock(command.team_id))
            consultant = Consultant.register(consultant_id=command.consultant_id, name=command.name,
                                             team_id=command.team_id, role=command.role, now=now)
            uow.add(consultant)
            return consultant
        return await self._commands.run(decide, context)

    async def deactivate_consultant(self, command: DeactivateConsultant, context: CommandContext) -> Consultant:
        async def decide(uow: UnitOfWork, now: datetime) -> Consultant:
            consultant = await self._consultant(uow, command.consultant_id, context)
            team_id = consultant.team_id
            consultant.deactivate(now=now)
            await self._hand_over_leads(uow, consultant.id, team_id, context, now)
            uow.add(consultant)
            return consultant
        return await self._commands.run(decide, context)

    async def move_consultant_team(self, command: MoveConsultantTeam, context: CommandContext) -> Consultant:
        async def decide(uow: UnitOfWork, now: datetime) -> Consultant:
            consultant = await self._consultant(uow, command.consultant_id, context)
            if context.caller is not None:
                access.require_organisation(context.caller, command.team_id)
            if await uow.load(Team, command.team_id) is None:
                raise InvalidFieldError("team_id", f"unknown team {command.team_id!r}")
            old_team = consultant.team_id
            consultant.move_team(team_id=command.team_id, now=now)
            await self._hand_over_leads(uow, consultant.id, old_team, context, now)
            uow.add(consultant)
            return consultant
        return await self._commands.run(decide, context)

    async def _consultant(self, uow: UnitOfWork, consultant_id: str, context: CommandContext) -> Consultant:
        consultant = await uow.load(Consultant, consultant_id)
        if consultant is not None and context.caller is not None:
            access.require_in_scope_consultant(context.caller, consultant.id, consultant.team_id)
            access.require_organisation(context.caller, consultant.team_id)
        if consultant is None:
            raise errors.ConsultantNotFoundError(f"no consultant {consultant_id}")
        return consultant

    async def _hand_over_leads(self, uow: UnitOfWork, leaving: str, team_id: str, context: CommandContext,
                               now: datetime) -> None:
        """Reassign the leaving consultant's open leads within the team; with nobody left, to the pool."""
        await uow.lock(round_robin_lock(team_id))
        for lead_id in await uow.open_leads_owned_by(leaving):
            lead = await uow.load(Lead, lead_id)
            if lead is None or not lead.is_open or lead.pooled:
                continue
            successor = await next_consultant(uow, team_id, exclude=leaving)
            if successor is None:
                lead.release_for_departed_owner(now=now)
            else:
                lead.assign(owner_id=successor, team_id=team_id, reason="owner_left", by=context.actor, now=now)
            uow.add(lead)
