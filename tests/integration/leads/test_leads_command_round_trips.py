"""What a command on a lead sends to PostgreSQL: its stream with its armed timers in one statement, then the append
with all of its bookkeeping in one more — and that the folded append keeps the plain append's errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import pytest

from services.leads.adapters.unit_of_work import _APPEND_RECORDING
from services.leads.app.commands import CaptureLead
from services.leads.app.lead_commands import LogFollowUp
from services.leads.app.reception import RegisterVisit
from shared.domain import InvalidFieldError
from shared.eventstore import AppendRequest, ConcurrencyError, NewEvent
from shared.eventstore.store import PostgresEventStore
from tests.integration.leads.conftest import team_with
from tests.support.leads import LeadsInProcess, ctx

pytestmark = pytest.mark.integration


async def log_statements(pool: asyncpg.Pool, sent: list[str]) -> None:
    """Every idle connection of the pool logs what it sends (the test runs one command at a time: it gets one)."""
    conns = [await pool.acquire() for _ in range(pool.get_idle_size())]
    for conn in conns:
        conn.add_query_logger(lambda record: sent.append(record.query))
        await pool.release(conn)


async def test_a_follow_up_is_one_statement_to_load_and_one_to_write(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("rt-team-")
    await team_with(leads, team, [f"{team}-c1"])
    lead = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                ctx())).lead
    sent: list[str] = []
    await log_statements(leads.pool, sent)

    await leads.commands.log_follow_up(LogFollowUp(lead_id=lead.id, kind="call", outcome="talked"), ctx())

    # BEGIN / SAVEPOINT / COMMIT are the group commit's; the stream with its timers, then the folded append.
    assert sent[0] == "BEGIN;"
    assert sent[1] == "SAVEPOINT member"
    assert sent[-1] == "COMMIT;"
    load, write = sent[2:-1]
    assert "FROM events" in load
    assert "leads_timers" in load
    assert "leads_append_recording" in write
    due = await leads.pool.fetch("SELECT kind FROM leads_timers WHERE lead_id = $1", lead.id)
    assert due, "the follow-up's timers were written in the same statement"
    row = await leads.queries.lead_row(lead.id)
    assert row is not None
    assert row["version"] == (await leads.queries.history(lead.id))[-1]["version"]


async def test_the_folded_append_is_a_version_conflict_like_the_plain_one(leads: LeadsInProcess) -> None:
    store = PostgresEventStore(leads.pool)
    stream = f"lead-rt-{uuid.uuid4()}"

    def request(expected: int) -> AppendRequest:
        return AppendRequest(stream, "lead", expected, (NewEvent(
            event_id=uuid.uuid4(), event_type="test.Noted", data={}, occurred_at=datetime.now(UTC)),))

    assert await store.append([request(0)], through=_APPEND_RECORDING, args=({},)) == {stream: 1}
    with pytest.raises(ConcurrencyError):
        await store.append([request(0)], through=_APPEND_RECORDING, args=({},))
    assert await leads.pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", stream) == 1


async def test_a_new_leads_capture_takes_the_phone_lock_and_its_ticket_in_one_statement(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("rt-team-")
    await team_with(leads, team, [f"{team}-c1", f"{team}-c2"])
    first_phone = phone()
    sent: list[str] = []
    await log_statements(leads.pool, sent)

    first = (await leads.capture(CaptureLead(name="客户", phone=first_phone, channel="website", team_id=team),
                                 ctx())).lead

    assert sent[0] == "BEGIN;"
    assert sent[-1] == "COMMIT;"
    own = [q for q in sent[1:-1] if not q.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(own) == 2, own
    assert "leads_lock_phone_and_take_ticket" in own[0]
    assert "leads_append_recording" in own[1]
    assert first.owner_id == f"{team}-c1"


async def test_a_capture_that_finds_the_phones_open_lead_costs_nobody_a_turn(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("rt-team-")
    await team_with(leads, team, [f"{team}-c1", f"{team}-c2"])
    known = phone()
    first = (await leads.capture(CaptureLead(name="客户", phone=known, channel="website", team_id=team), ctx())).lead
    again = await leads.capture(CaptureLead(name="客户", phone=known, channel="call_center", team_id=team), ctx())
    unknown_team = name("rt-none-")
    with pytest.raises(InvalidFieldError):
        await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=unknown_team), ctx())
    second = (await leads.capture(CaptureLead(name="客户", phone=phone(), channel="website", team_id=team),
                                  ctx())).lead

    assert again.lead.id == first.id  # a touchpoint on the open lead, no ticket taken for it
    assert (first.owner_id, second.owner_id) == (f"{team}-c1", f"{team}-c2")


async def test_a_walk_in_with_a_new_phone_takes_its_ticket_with_the_phone_lock_and_a_known_one_none(
    leads: LeadsInProcess, phone: Callable[[], str], name: Callable[[str], str],
) -> None:
    team = name("rt-floor-")
    await team_with(leads, team, [f"{team}-c1", f"{team}-c2"])
    sent: list[str] = []
    await log_statements(leads.pool, sent)
    number = phone()

    def walk_in(number: str) -> RegisterVisit:
        return RegisterVisit(party_size=1, purpose="first_look", name="王先生", phone=number, team_id=team)

    first = await leads.reception.register_visit(walk_in(number), ctx("r1"))
    again = await leads.reception.register_visit(walk_in(number), ctx("r1"))  # the phone's open lead: no ticket
    other = await leads.reception.register_visit(walk_in(phone()), ctx("r1"))

    assert not [q for q in sent if "leads_take_rotation_ticket" in q]  # every ticket came with a lock
    assert sum("leads_lock_phone_and_take_ticket" in q for q in sent) == 3
    assert again.lead.id == first.lead.id
    assert (first.lead.owner_id, other.lead.owner_id) == (f"{team}-c1", f"{team}-c2")
