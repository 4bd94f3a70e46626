"""The sales organisation: teams and consultants (a manager is a consultant with the role ``manager``)."""

from __future__ import annotations

from datetime import datetime

from services.leads.domain import errors
from services.leads.domain.events import (
    ConsultantDeactivated,
    ConsultantMovedTeam,
    ConsultantRegistered,
    TeamRegistered,
)
from shared.domain import Aggregate, DomainEvent, InvalidFieldError

ROLES = frozenset({"consultant", "manager"})


def _name(value: str) -> str:
    clean = value.strip()
    if not clean or len(clean) > 100:
        raise InvalidFieldError("name", "must be 1 to 100 characters")
    return clean


class Team(Aggregate):
    stream_type = "team"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.name = ""

    @classmethod
    def register(cls, *, team_id: str, name: str, now: datetime) -> Team:
        if not team_id.strip():
            raise InvalidFieldError("team_id", "must not be empty")
        team = cls(team_id)
        team._record(TeamRegistered(team_id=team_id, name=_name(name), registered_at=now))
        return team

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case TeamRegistered():
                self.name = event.name
            case _:
                raise TypeError(f"Team cannot apply {type(event).__name__}")


class Consultant(Aggregate):
    stream_type = "consultant"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.name = ""
        self.team_id = ""
        self.role = "consultant"
        self.active = False

    @property
    def is_manager(self) -> bool:
        return self.active and self.role == "manager"

    @classmethod
    def register(cls, *, consultant_id: str, name: str, team_id: str, role: str, now: datetime) -> Consultant:
        if not consultant_id.strip():
            raise InvalidFieldError("consultant_id", "must not be empty")
        if role not in ROLES:
            raise InvalidFieldError("role", f"unknown role {role!r}; known: consultant, manager")
        consultant = cls(consultant_id)
        consultant._record(ConsultantRegistered(consultant_id=consultant_id, name=_name(name), team_id=team_id,
                                                role=role, registered_at=now))
        return consultant

    def deactivate(self, *, now: datetime) -> None:
        if not self.active:
            raise errors.ConsultantInactiveError(f"consultant {self.id} is already inactive")
        self._record(ConsultantDeactivated(consultant_id=self.id, team_id=self.team_id, deactivated_at=now))

    def move_team(self, *, team_id: str, now: datetime) -> None:
        if not self.active:
            raise errors.ConsultantInactiveError(f"consultant {self.id} is inactive")
        if team_id == self.team_id:
            raise errors.SameTeamError(f"consultant {self.id} is already in team {team_id}")
        self._record(ConsultantMovedTeam(consultant_id=self.id, from_team_id=self.team_id, to_team_id=team_id,
                                         moved_at=now))

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case ConsultantRegistered():
                self.name, self.team_id, self.role, self.active = event.name, event.team_id, event.role, True
            case ConsultantDeactivated():
                self.active = False
            case ConsultantMovedTeam():
                self.team_id = event.to_team_id
            case _:
                raise TypeError(f"Consultant cannot apply {type(event).__name__}")
