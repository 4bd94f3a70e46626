"""The consultants' lists filtered by the caller's access rule — due follow-ups, the pool, the reception register —
paged against real PostgreSQL (app/lead_lists.py, what the endpoints call): a page is full while more rows the
caller may see exist even when rows they may not see lie between, every row shows once across the pages (ties in
one instant broken by the id), rows added after the first page neither repeat nor skip one, and a foreign cursor is
refused naming ``cursor``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from services.leads.app import lead_lists as lists
from services.leads.app.commands import CaptureLead
from services.leads.app.reception import RegisterVisit
from shared.auth.principal import Principal
from shared.domain import InvalidFieldError
from shared.pagination import Page, encode_cursor
from tests.integration.leads.conftest import team_with
from tests.support.infra import Infra
from tests.support.leads import LeadsInProcess, ctx, leads_in_process, scratch_database

pytestmark = pytest.mark.integration

_phones = itertools.count(20_000_001)
DIRECTOR = Principal(subject="d1", roles=frozenset({"director"}))


def consultant(subject: str, team: str) -> Principal:
    return Principal(subject=subject, roles=frozenset({"consultant"}), team_id=team)


@pytest.fixture(scope="module")
async def leads(infra: Infra) -> AsyncIterator[LeadsInProcess]:  # its own clock: the pool test moves it by weeks
    async with scratch_database(infra, "leads_lists") as dsn, leads_in_process(dsn) as app:
        await team_with(app, "north", ["n1", "n2"])
        await team_with(app, "south", ["s1"])
        yield app


async def capture(leads: LeadsInProcess, team: str) -> Any:
    return (await leads.capture(CaptureLead(name="客户", phone=f"139 {next(_phones):08d}", channel="website",
                                            team_id=team), ctx())).lead


async def every_page(read: Any, limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        page: Page[dict[str, Any]] = await read(cursor, limit)
        pages.append(page.items)
        if (cursor := page.next_cursor) is None:
            return pages


def full_pages(pages: list[list[dict[str, Any]]], limit: int) -> bool:
    return all(len(page) == limit for page in pages[:-1]) and 1 <= len(pages[-1]) <= limit


async def test_the_reception_register_pages_what_the_consultant_may_see_with_others_rows_between(
        leads: LeadsInProcess) -> None:
    registered = [await leads.reception.register_visit(RegisterVisit(
        party_size=1, purpose="first_look", name="访客", phone=f"139 {next(_phones):08d}", team_id="north"),
        ctx("reception-1")) for _ in range(7)]  # one instant (the clock stands): the visit id orders them
    mine = [r.visit.id for r in registered if r.visit.consultant_id == "n1"]
    assert 2 <= len(mine) < 7  # round robin: n2's visits lie between

    def read(caller: Principal) -> Any:
        return lambda cursor, limit: lists.visits_page(
            leads.queries, caller, arrived_from=leads.clock.now - timedelta(hours=1),
            arrived_to=leads.clock.now + timedelta(seconds=1), team_id=None, consultant_id=None, cursor=cursor,
            limit=limit)

    n1_pages = await every_page(read(consultant("n1", "north")), limit=1)
    director_pages = await every_page(read(DIRECTOR), limit=3)
    assert [v["visit_id"] for page in n1_pages for v in page] == sorted(mine)
    assert full_pages(n1_pages, 1)
    assert [v["visit_id"] for page in director_pages for v in page] == sorted(r.visit.id for r in registered)
    assert full_pages(director_pages, 3)


async def test_due_follow_ups_page_soonest_first_and_a_new_one_does_not_shift_the_pages(
        leads: LeadsInProcess) -> None:
    owned = []
    for _ in range(5):
        lead = await capture(leads, "south")  # s1 is south's one consultant: every lead is theirs
        owned.append(lead.id)
        leads.clock.advance(timedelta(minutes=1))
    due_before = leads.clock.now + timedelta(days=2)

    def read(cursor: str | None, limit: int) -> Any:
        return lists.follow_ups_page(leads.queries, consultant("s1", "south"), owner_id="s1", due_before=due_before,
                                     cursor=cursor, limit=limit)

    first = await read(None, 2)
    late = await capture(leads, "south")  # due after all the others: it comes last, never twice
    rest = await every_page(read_after(read, first.next_cursor), limit=2)
    shown = [r["lead_id"] for r in first.items] + [r["lead_id"] for page in rest for r in page]
    assert shown == [*owned, late.id]
    others = await every_page(lambda cursor, limit: lists.follow_ups_page(
        leads.queries, consultant("n1", "north"), owner_id="s1", due_before=due_before, cursor=cursor,
        limit=limit), limit=2)
    assert others == [[]]  # another team's consultant sees none of s1's leads


def read_after(read: Any, start: str | None) -> Any:
    """Pages from ``start`` on (the first call gets ``start``; later ones the cursor they were given)."""
    async def reader(cursor: str | None, limit: int) -> Any:
        return await read(cursor or start, limit)
    return reader


async def test_the_pool_pages_the_callers_team_and_refuses_a_foreign_cursor(leads: LeadsInProcess) -> None:
    north = [(await capture(leads, "north")).id for _ in range(4)]
    south = [(await capture(leads, "south")).id for _ in range(2)]
    leads.clock.advance(leads.policy.pool_idle + timedelta(days=1))
    await leads.timers.fire_due()

    def read(caller: Principal) -> Any:
        return lambda cursor, limit: lists.pool_page(leads.queries, caller, team_id=None, cursor=cursor,
                                                     limit=limit)

    n2_pages = await every_page(read(consultant("n2", "north")), limit=3)
    director_pages = await every_page(read(DIRECTOR), limit=2)
    n2_seen = [r["lead_id"] for page in n2_pages for r in page]
    director_seen = [r["lead_id"] for page in director_pages for r in page]
    assert set(north) <= set(n2_seen)
    assert not set(south) & set(n2_seen)  # the other team's pool is not theirs
    assert set(north + south) <= set(director_seen)
    assert len(director_seen) == len(set(director_seen))
    assert full_pages(n2_pages, 3)
    assert full_pages(director_pages, 2)
    for cursor in ("not-a-cursor", encode_cursor(lists.VISITS, [leads.clock.now, "x"])):
        with pytest.raises(InvalidFieldError) as refused:
            await lists.pool_page(leads.queries, DIRECTOR, team_id=None, cursor=cursor, limit=2)
        assert refused.value.field == "cursor"
