"""Round-robin assignment within a team."""

from __future__ import annotations

from collections.abc import Sequence

from services.leads.app.ports import ActiveConsultant, UnitOfWork


def round_robin_lock(team_id: str) -> str:
    return f"leads.round-robin:{team_id}"


def pick_next(
    consultants: Sequence[ActiveConsultant], last_seq: int | None, *, exclude: str | None = None
) -> ActiveConsultant | None:
    """The next active consultant after the one who got the last lead (by registration order, wrapping)."""
    candidates = [c for c in consultants if c.consultant_id != exclude]
    if not candidates:
        return None
    return next((c for c in candidates if last_seq is None or c.seq > last_seq), candidates[0])


async def next_consultant(uow: UnitOfWork, team_id: str, *, exclude: str | None = None) -> str | None:
    """Pick the team's next consultant and move the cursor to them. Inactive consultants are skipped. The caller
    must hold ``round_robin_lock(team_id)`` for the whole transaction: without it two concurrent captures read
    the same cursor and pick the same consultant."""
    chosen = pick_next(await uow.active_consultants(team_id), await uow.assignment_cursor(team_id), exclude=exclude)
    if chosen is None:
        return None
    uow.move_assignment_cursor(team_id, chosen.seq)
    return chosen.consultant_id
