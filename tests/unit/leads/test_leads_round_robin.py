"""Round robin within a team: consecutive tickets go round the active consultants in registration order and wrap,
inactive (absent) consultants are skipped, and a hand-over never picks the one who leaves."""

from __future__ import annotations

from services.leads.app.assignment import next_consultant, pick
from services.leads.app.ports import TeamRotation


def picks(consultants: list[str], first_ticket: int, n: int, **kw: str) -> list[str | None]:
    return [pick(consultants, ticket, **kw) for ticket in range(first_ticket, first_ticket + n)]


def test_consecutive_tickets_take_turns_in_registration_order_and_wrap() -> None:
    assert picks(["a", "b", "c"], 0, 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_any_run_of_tickets_spreads_evenly() -> None:
    for first in range(0, 40, 7):
        counts = {c: 0 for c in "abcdef"}
        for chosen in picks(list("abcdef"), first, 50):
            assert chosen is not None
            counts[chosen] += 1
        assert max(counts.values()) - min(counts.values()) <= 1, (first, counts)


def test_an_inactive_consultant_is_not_in_the_rotation() -> None:
    assert picks(["a", "c"], 1, 3) == ["c", "a", "c"]  # b is inactive, so not among the active ones


def test_a_hand_over_never_picks_the_leaving_consultant_and_an_empty_team_picks_nobody() -> None:
    assert picks(["a", "b"], 0, 3, exclude="a") == ["b", "b", "b"]
    assert picks(["a"], 0, 1, exclude="a") == [None]
    assert picks([], 0, 1) == [None]


class Tickets:
    """The unit of work's ticket source, in memory: the team's sequence."""

    def __init__(self, consultants: list[str] | None) -> None:
        self.consultants = consultants
        self.next = 0

    async def take_rotation_ticket(self, team_id: str) -> TeamRotation | None:
        if self.consultants is None:
            return None
        ticket, self.next = self.next, self.next + 1
        return TeamRotation(list(self.consultants), ticket)


async def test_next_consultant_takes_a_ticket_per_pick() -> None:
    tickets = Tickets(["a", "b", "c"])
    assert [await next_consultant(tickets, "t", exclude="b") for _ in range(4)] == ["a", "c", "a", "c"]  # type: ignore[arg-type]
    assert await next_consultant(Tickets(None), "unknown") is None  # type: ignore[arg-type]
