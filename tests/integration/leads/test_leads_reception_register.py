"""The reception register against real PostgreSQL: a walk-in becomes one showroom lead even when two
receptionists register the same phone at once, first and repeat visits are numbered from the register under the
customer's lock, departures update the register row, and a refused registration writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from services.leads.app.reception import RecordDeparture, RegisterVisit
from services.leads.domain.errors import VisitAlreadyDepartedError
from shared.domain import InvalidFieldError
from tests.integration.leads.conftest import team_with
from tests.support.leads import LeadsInProcess, ctx

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
async def floor_team(leads: LeadsInProcess) -> None:
    await team_with(leads, "floor", ["fc1", "fc2"], manager="fm1")


def walk_in(phone: str, **changes: object) -> RegisterVisit:
    return RegisterVisit(**{"party_size": 2, "purpose": "first_look", "name": "王先生", "phone": phone,
                            "team_id": "floor", **changes})


async def test_a_walk_in_is_registered_with_a_new_showroom_lead_and_its_register_row(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    registered = await leads.reception.register_visit(walk_in(phone()), ctx("r1"))
    row = await leads.queries.visit_row(registered.visit.id)
    lead_row = await leads.queries.lead_row(registered.lead.id)
    assert registered.lead_outcome == "created"
    assert row is not None
    assert lead_row is not None
    assert (row["lead_id"], row["visit_number"], row["first_visit"], row["receptionist_id"], row["team_id"]) == (
        registered.lead.id, 1, True, "r1", "floor")
    assert (lead_row["channel"], lead_row["stage"]) == ("showroom", "visited")
    assert (await leads.history_types(registered.lead.id))[-2:] == ["ShowroomVisitRecorded", "StageAdvanced"]


async def test_two_receptionists_registering_one_walk_in_at_once_make_one_lead_and_visits_one_and_two(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    number = phone()
    both = await asyncio.gather(*(leads.reception.register_visit(walk_in(number), ctx(f"r{n}"))
                                  for n in range(2)))
    assert len({r.lead.id for r in both}) == 1
    assert sorted(r.lead_outcome for r in both) == ["created", "existing"]
    assert sorted((r.visit.visit_number, r.visit.first_visit) for r in both) == [(1, True), (2, False)]


async def test_concurrent_visits_of_one_known_lead_are_numbered_without_gaps_or_repeats(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    lead = (await leads.reception.register_visit(walk_in(phone()), ctx("r1"))).lead
    many = await asyncio.gather(*(leads.reception.register_visit(
        RegisterVisit(party_size=1, purpose="negotiation", lead_id=lead.id), ctx("r1")) for _ in range(8)))
    assert sorted(r.visit.visit_number for r in many) == list(range(2, 10))
    assert not any(r.visit.first_visit for r in many)
    assert (await leads.history_types(lead.id)).count("ShowroomVisitRecorded") == 9


async def test_a_departure_updates_the_register_and_a_second_one_is_refused(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    visit = (await leads.reception.register_visit(walk_in(phone()), ctx("r1"))).visit
    leads.clock.advance(timedelta(minutes=42))
    await leads.reception.record_departure(RecordDeparture(visit.id), ctx("r1"))
    with pytest.raises(VisitAlreadyDepartedError):
        await leads.reception.record_departure(RecordDeparture(visit.id), ctx("r1"))
    row = await leads.queries.visit_row(visit.id)
    assert row is not None
    assert (row["duration_minutes"], row["departed_at"]) == (42, leads.clock.now.isoformat())
    listed = await leads.queries.visits(arrived_from=leads.clock.now - timedelta(hours=1),
                                        arrived_to=leads.clock.now, team_id="floor", consultant_id=None)
    assert visit.id in {r["visit_id"] for r in listed}


async def test_a_refused_walk_in_writes_no_lead_and_no_register_row(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    number = phone()
    before = await leads.pool.fetchval("SELECT count(*) FROM events")
    with pytest.raises(InvalidFieldError) as refused:
        await leads.reception.register_visit(walk_in(number, purpose="sightseeing"), ctx("r1"))
    assert refused.value.field == "purpose"
    assert await leads.pool.fetchval("SELECT count(*) FROM events") == before
    assert await leads.pool.fetchval("SELECT count(*) FROM leads_view WHERE phone = $1",
                                     "+86" + number.replace(" ", "")) == 0


async def test_after_a_merge_visits_are_numbered_over_the_merged_history_and_the_register_stays_unique(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    from services.leads.app.customer_card import MergeCustomers

    survivor = (await leads.reception.register_visit(walk_in(phone()), ctx("r1"))).lead
    duplicate = (await leads.reception.register_visit(walk_in(phone()), ctx("r1"))).lead
    await leads.reception.register_visit(RegisterVisit(party_size=1, purpose="negotiation", lead_id=duplicate.id),
                                         ctx("r1"))
    await leads.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx("fm1"))
    # Both customers had a visit number 1 (and the duplicate a 2): the next ones continue over all three, whichever
    # of the person's leads they are registered for — at once, so the register lock and the unique key both work.
    after = await asyncio.gather(
        leads.reception.register_visit(RegisterVisit(party_size=1, purpose="negotiation", lead_id=survivor.id),
                                       ctx("r1")),
        leads.reception.register_visit(RegisterVisit(party_size=1, purpose="negotiation", lead_id=duplicate.id),
                                       ctx("r2")))
    assert sorted((r.visit.visit_number, r.visit.first_visit, r.visit.customer_id) for r in after) == [
        (4, False, survivor.customer_id), (5, False, survivor.customer_id)]
    numbers = await leads.pool.fetch(
        "SELECT v.visit_number FROM leads_visits v JOIN leads_view l USING (lead_id) WHERE l.customer_id = $1 "
        "ORDER BY 1", survivor.customer_id)
    assert [r["visit_number"] for r in numbers] == [1, 1, 2, 4, 5]
