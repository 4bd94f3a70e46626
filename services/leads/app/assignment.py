"""Round-robin assignment within a team."""

from __future__ import annotations

from services.leads.app.ports import UnitOfWork


def round_robin_lock(team_id: str) -> str:
    return f"leads.round-robin:{team_id}"


async def next_consultant(uow: UnitOfWork, team_id: str, *, exclude: str | None = None) -> str | None:
    """The next active consultant of the team after the one who got the last lead (by registration order,
    wrapping), and move the cursor to them. Inactive consultants are skipped. The caller must hold
    ``round_robin_lock(team_id)`` for the whole transaction: without it two concurrent captures read the same
    cursor and pick the same consultant."""
    candidates = [c for c in await uow.active_consultants(team_id) if c.consultant_id != exclude]
    if not candidates:
        return None
    last = await uow.assignment_cursor(team_id)
    chosen = next((c for c in candidates if last is None or c.seq > last), candidates[0])
    uow.move_assignment_cursor(team_id, chosen.seq)
    return chosen.consultant_id
