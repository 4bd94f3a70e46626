"""Round-robin assignment within a team: each pick takes the team's next ticket, and the ticket modulo the number
of candidates says who is next (migrations/rules/rotation.sql explains why tickets instead of a cursor under a
lock)."""

from __future__ import annotations

from collections.abc import Sequence

from services.leads.app.ports import UnitOfWork


def round_robin_lock(team_id: str) -> str:
    """The team's lock: organisation changes take it exclusively, captures shared (in the database function)."""
    return f"leads.round-robin:{team_id}"


def pick(consultants: Sequence[str], ticket: int, *, exclude: str | None = None) -> str | None:
    """The consultant whose turn ``ticket`` is: consecutive tickets go round the candidates in order."""
    candidates = [c for c in consultants if c != exclude]
    return candidates[ticket % len(candidates)] if candidates else None


async def next_consultant(uow: UnitOfWork, team_id: str, *, exclude: str | None = None) -> str | None:
    """The team's next active consultant (never ``exclude``, the one handing over), or None if there is none."""
    rotation = await uow.take_rotation_ticket(team_id)
    return pick(rotation.consultants, rotation.ticket, exclude=exclude) if rotation is not None else None
