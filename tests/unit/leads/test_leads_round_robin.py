"""Round robin within a team, against an in-memory stand-in for the unit of work: the cursor wraps, skips
inactive (absent) consultants, and a hand-over never picks the one who leaves."""

from __future__ import annotations

from typing import Any

from services.leads.app.assignment import next_consultant
from services.leads.app.ports import ActiveConsultant


class Rotation:
    def __init__(self, consultants: list[tuple[str, int]], cursor: int | None = None) -> None:
        self.consultants = [ActiveConsultant(c, s) for c, s in consultants]
        self.cursor = cursor

    async def active_consultants(self, team_id: str) -> list[ActiveConsultant]:
        return list(self.consultants)

    async def assignment_cursor(self, team_id: str) -> int | None:
        return self.cursor

    def move_assignment_cursor(self, team_id: str, seq: int) -> None:
        self.cursor = seq


async def picks(rotation: Any, n: int, **kw: Any) -> list[str | None]:
    return [await next_consultant(rotation, "t", **kw) for _ in range(n)]


async def test_round_robin_takes_turns_in_registration_order_and_wraps() -> None:
    assert await picks(Rotation([("a", 1), ("b", 2), ("c", 5)]), 7) == ["a", "b", "c", "a", "b", "c", "a"]


async def test_the_cursor_survives_the_last_consultant_leaving() -> None:
    rotation = Rotation([("a", 1), ("b", 2)], cursor=7)  # the consultant with seq 7 was deactivated
    assert await picks(rotation, 2) == ["a", "b"]


async def test_an_inactive_consultant_in_the_middle_is_skipped() -> None:
    rotation = Rotation([("a", 1), ("c", 3)], cursor=1)  # b (seq 2) is inactive, so not in the active list
    assert await picks(rotation, 3) == ["c", "a", "c"]


async def test_a_hand_over_never_picks_the_leaving_consultant_and_an_empty_team_picks_nobody() -> None:
    assert await picks(Rotation([("a", 1), ("b", 2)]), 3, exclude="a") == ["b", "b", "b"]
    assert await picks(Rotation([("a", 1)]), 1, exclude="a") == [None]
    assert await picks(Rotation([]), 1) == [None]
