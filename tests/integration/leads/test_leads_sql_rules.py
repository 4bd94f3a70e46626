"""The rules that live in SQL (services/leads/migrations/rules/), called directly: the dedupe target, the rotation
membership and its tickets, the one-call bookkeeping with its typed payload — and re-applying the rule files."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.leads.adapters.recorded_changes import (
    CustomerRow,
    DisarmedRow,
    ExternalIdRow,
    RecordedChanges,
    armed_timer,
    moved_timer,
)
from services.leads.main import MIGRATIONS
from shared.migrations import KERNEL_MIGRATIONS, migrate
from shared.runtime.bootstrap import prepare_database
from tests.conftest import CreateDatabase

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(create_database: CreateDatabase) -> AsyncIterator[asyncpg.Pool]:
    pool = await prepare_database(await create_database("leads_rules"), service="leads", migrations=MIGRATIONS,
                                  min_size=1, max_size=4)
    yield pool
    await pool.close()


async def view(pool: asyncpg.Pool, lead_id: str, phone: str, *, is_open: bool, captured_at: datetime) -> None:
    await pool.execute(
        """INSERT INTO leads_view (lead_id, customer_id, phone, name, channel, status, stage, grade, is_open,
                                   pooled, overdue, loss_pending, captured_at, version)
           VALUES ($1, 'cust', $2, 'n', 'website', 'open', 'new', 'N', $3, false, false, false, $4, 1)""",
        lead_id, phone, is_open, captured_at)


async def test_lock_phone_finds_the_request_the_newest_open_lead_and_the_customer(db: asyncpg.Pool) -> None:
    await view(db, "L-old", "+8613800000001", is_open=True, captured_at=NOW - timedelta(days=2))
    await view(db, "L-new", "+8613800000001", is_open=True, captured_at=NOW - timedelta(days=1))
    await view(db, "L-lost", "+8613800000001", is_open=False, captured_at=NOW)
    changes = RecordedChanges(customers=[CustomerRow(phone="+8613800000001", customer_id="C-1")],
                              external_ids=[ExternalIdRow(source_system="crm", external_id="X-1", lead_id="L-old")])
    await db.execute("SELECT leads_record_changes($1::jsonb)", changes.payload())

    async with db.acquire() as conn, conn.transaction():
        found = await conn.fetchrow("SELECT * FROM leads_lock_phone($1, $2, $3)", "+8613800000001", "crm", "X-1")
        other = await conn.fetchrow("SELECT * FROM leads_lock_phone($1, NULL, NULL)", "+8613900000009")
    assert found is not None
    assert other is not None
    assert dict(found) == {"external_id_lead": "L-old", "open_lead": "L-new", "known_customer": "C-1"}
    assert dict(other) == {"external_id_lead": None, "open_lead": None, "known_customer": None}


async def test_the_rotation_is_the_teams_active_consultants_in_order_with_consecutive_tickets(
    db: asyncpg.Pool,
) -> None:
    await db.execute("INSERT INTO leads_teams (team_id, name) VALUES ('t1', 'T1')")
    await db.execute("SELECT leads_create_rotation('t1')")
    for consultant, role, active in (("c2", "consultant", True), ("m1", "manager", True),
                                     ("c1", "consultant", True), ("c3", "consultant", False)):
        await db.execute("INSERT INTO leads_consultants (consultant_id, team_id, name, role, active) "
                         "VALUES ($1, 't1', $1, $2, $3)", consultant, role, active)

    picks = [await db.fetchrow("SELECT * FROM leads_take_rotation_ticket('t1')") for _ in range(3)]
    unknown = await db.fetchrow("SELECT * FROM leads_take_rotation_ticket('nope')")

    assert [list(p["consultant_ids"]) for p in picks if p] == [["c2", "c1"]] * 3  # registration order; no manager
    assert [p["ticket"] for p in picks if p] == [0, 1, 2]
    assert unknown is not None
    assert (unknown["team_known"], unknown["ticket"]) == (False, None)


async def test_record_changes_arms_moves_and_disarms_the_leads_timers(db: asyncpg.Pool) -> None:
    first = RecordedChanges(armed=[armed_timer("k:L-1:v1", "k", NOW, {"lead_id": "L-1"}, "L-1")])
    await db.execute("SELECT leads_record_changes($1::jsonb)", first.payload())
    moved = RecordedChanges(cancelled_timers=["k:L-1:v1"],
                            armed=[armed_timer("k:L-1:v2", "k", NOW + timedelta(days=1), {"lead_id": "L-1"}, "L-1")])
    await db.execute("SELECT leads_record_changes($1::jsonb)", moved.payload())
    timers = {r["timer_id"]: r["status"] for r in await db.fetch("SELECT timer_id, status FROM timers")}
    assert timers == {"k:L-1:v1": "cancelled", "k:L-1:v2": "pending"}
    assert await db.fetchval("SELECT timer_id FROM leads_timers WHERE lead_id = 'L-1'") == "k:L-1:v2"

    gone = RecordedChanges(cancelled_timers=["k:L-1:v2"], disarmed=[DisarmedRow(lead_id="L-1", kind="k")])
    await db.execute("SELECT leads_record_changes($1::jsonb)", gone.payload())
    assert await db.fetchval("SELECT count(*) FROM leads_timers") == 0


async def test_a_moved_timer_keeps_its_id_while_pending_and_a_fired_one_is_replaced_by_the_fresh_id(
    db: asyncpg.Pool,
) -> None:
    armed = RecordedChanges(armed=[armed_timer("k:L-1:v1", "k", NOW, {"n": 1}, "L-1"),
                                   armed_timer("k:L-2:v1", "k", NOW, {"n": 1}, "L-2")])
    await db.execute("SELECT leads_record_changes($1::jsonb)", armed.payload())
    await db.execute("UPDATE timers SET status = 'fired' WHERE timer_id = 'k:L-2:v1'")  # L-2's fired meanwhile
    later = NOW + timedelta(days=1)
    moved = RecordedChanges(moved=[moved_timer("k:L-1:v1", "k:L-1:v2", "k", later, {"n": 2}, "L-1"),
                                   moved_timer("k:L-2:v1", "k:L-2:v2", "k", later, {"n": 2}, "L-2")])
    await db.execute("SELECT leads_record_changes($1::jsonb)", moved.payload())

    timers = {r["timer_id"]: (r["status"], r["due_at"], r["payload"])
              for r in await db.fetch("SELECT timer_id, status, due_at, payload FROM timers")}
    assert timers == {"k:L-1:v1": ("pending", later, {"n": 2}),  # moved in place: no cancelled row left behind
                      "k:L-2:v1": ("fired", NOW, {"n": 1}),  # final
                      "k:L-2:v2": ("pending", later, {"n": 2})}
    mirrored = {r["lead_id"]: (r["timer_id"], r["due_at"])
                for r in await db.fetch("SELECT lead_id, timer_id, due_at FROM leads_timers")}
    assert mirrored == {"L-1": ("k:L-1:v1", later), "L-2": ("k:L-2:v2", later)}


async def test_record_changes_finds_a_leads_work_and_timers_by_index_not_by_scanning_the_tables(
    db: asyncpg.Pool,
) -> None:
    # Tables of a used database (3,000 other leads): with the planner's 100-row guess for a set-returning function,
    # a join against the payload's list was a sequential scan of the whole table in every command.
    await db.execute(
        """INSERT INTO leads_work_items (item_id, kind, lead_id, due_at, overdue_at)
               SELECT 'follow-up:L-' || g, 'follow_up', 'L-' || g, now(), now() FROM generate_series(1, 3000) g;
           INSERT INTO leads_timers (lead_id, kind, timer_id, due_at, payload)
               SELECT 'L-' || g, 'k', 'k:L-' || g, now(), '{}' FROM generate_series(1, 3000) g;
           INSERT INTO timers (timer_id, kind, due_at) SELECT 'k:L-' || g, 'k', now() FROM generate_series(1, 3000) g;
           ANALYZE leads_work_items; ANALYZE leads_timers; ANALYZE timers""")
    changes = RecordedChanges(work_leads=["L-7"], work_kinds=["follow_up"], finished_work=["follow-up:L-8"],
                              disarmed=[DisarmedRow(lead_id="L-9", kind="k")],
                              moved=[moved_timer("k:L-10", "k:L-10:v2", "k", NOW, {}, "L-10")])
    async with db.acquire() as conn, conn.transaction():
        for _ in range(6):  # past plpgsql's five custom plans, into its cached generic one
            await conn.execute("SELECT leads_record_changes($1::jsonb)", changes.payload())
        scans = {r["relname"]: r["seq_scan"] for r in await conn.fetch(
            "SELECT relname, seq_scan FROM pg_stat_xact_user_tables "
            "WHERE relname IN ('leads_work_items', 'leads_timers', 'timers')")}
        left = await conn.fetchval("SELECT count(*) FROM leads_work_items WHERE lead_id IN ('L-7', 'L-8')")
        timers_left = await conn.fetchval("SELECT count(*) FROM leads_timers WHERE lead_id = 'L-9'")
    assert scans == {"leads_work_items": 0, "leads_timers": 0, "timers": 0}
    assert left == 0
    assert timers_left == 0


async def test_a_commands_rewrite_of_a_leads_view_and_timer_rows_is_a_hot_update_on_full_tables(
    db: asyncpg.Pool,
) -> None:
    # Enough leads for several pages, written in one go, as captures leave them: at fillfactor 100 the lead's page
    # has no room for the new version, which then goes to another page and into every index of the table.
    await db.execute(
        """INSERT INTO leads_view (lead_id, customer_id, phone, name, channel, status, stage, grade, is_open, owner_id,
                                   team_id, pooled, overdue, loss_pending, captured_at, last_activity_at, version)
               SELECT 'L-' || g, 'C-' || g, '+86138' || lpad(g::text, 8, '0'), '客户 ' || g, 'website', 'open', 'new',
                      'N', true, 'c1', 't1', false, false, false, now(), now(), 1 FROM generate_series(1, 200) g;
           INSERT INTO leads_timers (lead_id, kind, timer_id, due_at, payload)
               SELECT 'L-' || g, 'k', 'k:L-' || g, now(), jsonb_build_object('lead_id', 'L-' || g, 'sequence', 1)
               FROM generate_series(1, 200) g;
           INSERT INTO timers (timer_id, kind, due_at) SELECT 'k:L-' || g, 'k', now() FROM generate_series(1, 200) g""")
    row = json.loads(await db.fetchval("SELECT to_jsonb(v)::text FROM leads_view v WHERE lead_id = 'L-1'"))
    # What a follow-up changes: none of it indexed.
    row |= {"version": 2, "status": "contacted", "last_activity_at": NOW.isoformat(),
            "follow_up_due_at": (NOW + timedelta(days=2)).isoformat()}
    changes = {"views": [row], **RecordedChanges(moved=[moved_timer("k:L-1", "k:L-1:v2", "k", NOW + timedelta(days=2),
                                                                    {"lead_id": "L-1", "sequence": 2}, "L-1")]
                                                ).payload()}
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT leads_record_changes($1::jsonb)", changes)
        updates = {r["relname"]: (r["n_tup_upd"], r["n_tup_hot_upd"]) for r in await conn.fetch(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname IN ('leads_view', 'leads_timers')")}
    assert updates == {"leads_view": (1, 1), "leads_timers": (1, 1)}
    assert await db.fetchval("SELECT version FROM leads_view WHERE lead_id = 'L-1'") == 2


async def test_a_lookup_key_written_twice_is_a_unique_violation_the_unit_of_work_retries_on(
    db: asyncpg.Pool,
) -> None:
    row = RecordedChanges(external_ids=[ExternalIdRow(source_system="crm", external_id="X-1", lead_id="L-1")])
    await db.execute("SELECT leads_record_changes($1::jsonb)", row.payload())
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute("SELECT leads_record_changes($1::jsonb)", row.payload())


def test_the_payload_has_only_the_keys_with_rows() -> None:
    assert RecordedChanges().payload() == {}
    assert list(RecordedChanges(cancelled_timers=["t"]).payload()) == ["cancelled_timers"]


async def test_rule_files_are_applied_once_and_again_when_they_change(
    create_database: CreateDatabase, tmp_path: Path,
) -> None:
    folder = tmp_path / "migrations"
    (folder / "rules").mkdir(parents=True)
    (folder / "0001_table.sql").write_text("CREATE TABLE t (x int);")
    rule = folder / "rules" / "answer.sql"
    rule.write_text("CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 41 $$;")
    conn = await asyncpg.connect(await create_database("rules"))
    try:
        sources = [("kernel", KERNEL_MIGRATIONS), ("svc", folder)]
        first = await migrate(conn, sources)
        again = await migrate(conn, sources)
        rule.write_text("CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;")
        changed = await migrate(conn, sources)
        answer = await conn.fetchval("SELECT answer()")
    finally:
        await conn.close()
    assert "svc/rules/answer" in first
    assert "kernel/rules/sf_append" in first
    assert again == []
    assert changed == ["svc/rules/answer"]
    assert answer == 42


async def test_replacing_and_finishing_a_leads_work_reads_the_work_table_by_index_not_by_a_whole_scan(
    db: asyncpg.Pool,
) -> None:
    # Many leads' work, analysed as autovacuum would: the deletes used to plan as a hash semi-join over a sequential
    # scan of leads_work_items on every command (IN over a set-returning function, estimated at 100 rows).
    await db.execute(
        "INSERT INTO leads_work_items (item_id, kind, lead_id, due_at, overdue_at) "
        "SELECT 'follow-up:L' || g, 'follow_up', 'L' || g, $1, $1 FROM generate_series(1, 5000) AS g", NOW)
    await db.execute("ANALYZE leads_work_items")
    due = NOW + timedelta(days=1)
    changes = RecordedChanges(finished_work=["follow-up:L2"])
    changes.replace_lead_work("L1", [])
    changes.work_items.append({"item_id": "follow-up:L1", "kind": "follow_up", "lead_id": "L1", "due_at": due,
                               "overdue_at": due, "detail": None, "assignee_id": None})

    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT leads_record_work($1::jsonb)", changes.payload())
        # This transaction's own scan counts (pg_stat_xact_*: no wait for the statistics to be flushed).
        seq_scans = await conn.fetchval(
            "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'leads_work_items'")
    rows = {r["item_id"]: r["due_at"] for r in await db.fetch(
        "SELECT item_id, due_at FROM leads_work_items WHERE lead_id IN ('L1', 'L2', 'L3')")}

    assert seq_scans == 0
    assert rows == {"follow-up:L1": due, "follow-up:L3": NOW}
