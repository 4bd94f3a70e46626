"""Who is calling: what a validated token (or API key) says about its bearer. Pure data, no I/O, so app layers
and authorisation rules can take it as an argument."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from shared.auth.errors import ForbiddenError


class Role(StrEnum):
    """The people's roles (DESIGN §8). Systems have no role: they act only through their scopes."""

    CONSULTANT = "consultant"
    MANAGER = "manager"
    DIRECTOR = "director"
    OPS = "ops"


PERSON_ROLES = frozenset(r.value for r in Role)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller. ``subject`` is the token's subject and becomes the actor of every event the call
    records; ``team_id`` the person's team (from a configurable claim); ``scopes`` what a system client may do."""

    subject: str
    roles: frozenset[str] = frozenset()
    team_id: str | None = None
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None
    claims: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_person(self) -> bool:
        return bool(self.roles & PERSON_ROLES)

    @property
    def is_system(self) -> bool:
        return not self.is_person

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def managed_team(caller: Principal) -> str:
    """The team a manager's data scope is (their token's team). A manager's token without one is a misconfigured
    account: refused (403) rather than shown nothing or, worse, everything."""
    if caller.team_id is None:
        raise ForbiddenError("a manager's token carries no team, so it has no data scope")
    return caller.team_id
