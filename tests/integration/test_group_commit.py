"""Group commit keeps every semantic of a transaction of one, against the real PostgreSQL: concurrent commands
share one transaction (same txid), a refused command is rolled back to its savepoint and leaves the others
committed, a version conflict inside a batch goes to its caller only, and an answer is never sent before the
COMMIT. (The crash half of "no answer precedes its commit" is tests/integration/test_group_commit_crash.py.)"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import asyncpg
import pytest

from shared.domain import DomainError
from shared.eventstore import AppendRequest, ConcurrencyError, NewEvent
from shared.eventstore.store import PostgresEventStore
from shared.unit_of_work.core import UnitOfWork
from shared.unit_of_work.group_commit import GroupCommit
from shared.unit_of_work.postgres import postgres_units_of_work
from shared.unit_of_work.retry import CommandRunner
from tests.support.unit_of_work_contract import CATALOG, CONTEXT, NOW, Counter

pytestmark = pytest.mark.integration


def count_on(counter_id: str, by: int, *, pinned: int | None = None):  # type: ignore[no-untyped-def]
    async def decide(uow: UnitOfWork, now: datetime) -> int:
        counter = await uow.load(Counter, counter_id, expected_version=pinned) or Counter(counter_id)
        counter.count(by)
        uow.add(counter)
        return counter.version

    return decide


async def txids(pool: asyncpg.Pool) -> dict[str, list[int]]:
    rows = await pool.fetch("SELECT stream_id, txid::text::bigint AS txid FROM events ORDER BY position")
    found: dict[str, list[int]] = {}
    for r in rows:
        found.setdefault(r["stream_id"], []).append(r["txid"])
    return found


async def test_a_refused_command_in_a_batch_leaves_the_others_committed(pool: asyncpg.Pool) -> None:
    runner: CommandRunner[UnitOfWork] = CommandRunner(postgres_units_of_work(pool, CATALOG), lambda: NOW)
    outcomes = await asyncio.gather(
        runner.run(count_on("a", 1), CONTEXT), runner.run(count_on("b", 1), CONTEXT),
        runner.run(count_on("refused", 0), CONTEXT),  # the domain refuses a count by 0
        runner.run(count_on("c", 1), CONTEXT), return_exceptions=True)
    assert isinstance(outcomes[2], DomainError)
    assert [outcomes[i] for i in (0, 1, 3)] == [1, 1, 1]
    written = await txids(pool)
    assert set(written) == {"counter-a", "counter-b", "counter-c"}
    assert len({t for ts in written.values() for t in ts}) == 1, "the three shared one transaction"


async def test_a_failing_members_writes_are_rolled_back_to_its_savepoint_only(pool: asyncpg.Pool) -> None:
    store, group = PostgresEventStore(pool), GroupCommit(pool)

    async def append(stream_id: str, conn: asyncpg.Connection, *, then_fail: bool = False) -> str:
        event = NewEvent(event_id=uuid.uuid4(), event_type="test.Counted", data={"by": 1}, occurred_at=NOW)
        await store.append([AppendRequest(stream_id, "counter", 0, (event,))], conn=conn)
        if then_fail:
            raise RuntimeError("failed after writing")
        return stream_id

    outcomes = await asyncio.gather(
        group.run(lambda conn: append("s-1", conn)), group.run(lambda conn: append("s-2", conn, then_fail=True)),
        group.run(lambda conn: append("s-3", conn)), return_exceptions=True)
    assert outcomes[0] == "s-1"
    assert outcomes[2] == "s-3"
    assert isinstance(outcomes[1], RuntimeError)
    written = await txids(pool)
    assert set(written) == {"s-1", "s-3"}
    assert len({t for ts in written.values() for t in ts}) == 1


async def test_members_after_a_rolled_back_one_are_rolled_back_to_their_own_savepoint(pool: asyncpg.Pool) -> None:
    # After a rollback the members go on on the same savepoint (no new one is taken): a later failure must still
    # undo only its own writes, also when two fail in a row and when the last member fails.
    store, group = PostgresEventStore(pool), GroupCommit(pool)

    async def append(stream_id: str, conn: asyncpg.Connection, *, then_fail: bool = False) -> str:
        event = NewEvent(event_id=uuid.uuid4(), event_type="test.Counted", data={"by": 1}, occurred_at=NOW)
        await store.append([AppendRequest(stream_id, "counter", 0, (event,))], conn=conn)
        if then_fail:
            raise RuntimeError("failed after writing")
        return stream_id

    fails = {"r-2", "r-3", "r-5", "r-6"}
    streams = [f"r-{i}" for i in range(1, 7)]
    outcomes = await asyncio.gather(*(
        group.run(lambda conn, s=s: append(s, conn, then_fail=s in fails)) for s in streams),
        return_exceptions=True)
    assert [isinstance(o, RuntimeError) for o in outcomes] == [s in fails for s in streams]
    written = await txids(pool)
    assert set(written) == {"r-1", "r-4"}
    assert len({t for ts in written.values() for t in ts}) == 1


async def test_a_batch_costs_one_round_trip_a_member_besides_its_own_statements(pool: asyncpg.Pool) -> None:
    group = GroupCommit(pool)
    sent: list[str] = []
    committed = asyncio.Event()

    def log(record: asyncpg.connection.LoggedQuery) -> None:
        sent.append(record.query)
        if record.query == "COMMIT;":
            committed.set()

    async with pool.acquire() as conn:  # the pool's one idle connection: the one the batch is going to take
        conn.add_query_logger(log)
    await asyncio.gather(*(group.run(lambda conn: conn.fetchval("SELECT 1")) for _ in range(4)))
    # asyncpg calls the logger soon after each statement, not in it: wait for the batch's last one to be logged.
    await asyncio.wait_for(committed.wait(), timeout=10)
    assert pool.get_size() == 1
    assert [q for q in sent if q != "SELECT 1"] == [
        "BEGIN;", "SAVEPOINT member", *["RELEASE SAVEPOINT member; SAVEPOINT member"] * 3, "COMMIT;"]


async def test_a_version_conflict_inside_a_batch_is_reported_to_its_caller_only(pool: asyncpg.Pool) -> None:
    runner: CommandRunner[UnitOfWork] = CommandRunner(postgres_units_of_work(pool, CATALOG), lambda: NOW)
    assert await runner.run(count_on("x", 1), CONTEXT) == 1
    # Both pinned at version 1: the first to run commits version 2; the second, in the same transaction, sees it.
    outcomes = await asyncio.gather(
        runner.run(count_on("x", 5, pinned=1), CONTEXT, expected_version=1),
        runner.run(count_on("x", 7, pinned=1), CONTEXT, expected_version=1),
        runner.run(count_on("y", 1), CONTEXT), return_exceptions=True)
    assert outcomes[0] == 2
    assert outcomes[2] == 1
    assert isinstance(outcomes[1], ConcurrencyError)
    assert (outcomes[1].expected, outcomes[1].actual) == (1, 2)
    rows = await pool.fetch("SELECT data FROM events WHERE stream_id = 'counter-x' ORDER BY version")
    assert [r["data"] for r in rows] == [{"by": 1}, {"by": 5}]
    written = await txids(pool)
    assert written["counter-x"][1] == written["counter-y"][0], "the conflict shared the winners' transaction"


async def test_commands_on_one_stream_in_one_batch_keep_their_order(pool: asyncpg.Pool) -> None:
    runner: CommandRunner[UnitOfWork] = CommandRunner(postgres_units_of_work(pool, CATALOG), lambda: NOW)
    versions = await asyncio.gather(*(runner.run(count_on("o", by), CONTEXT) for by in range(1, 11)))
    assert versions == list(range(1, 11))  # arrival order is execution order
    rows = await pool.fetch("SELECT version, data FROM events WHERE stream_id = 'counter-o' ORDER BY position")
    assert [(r["version"], r["data"]["by"]) for r in rows] == [(v, v) for v in range(1, 11)]


async def test_no_answer_is_given_before_its_commit(pool: asyncpg.Pool) -> None:
    store, group = PostgresEventStore(pool), GroupCommit(pool)
    seen_at_answer: dict[str, bool] = {}

    async def write(stream_id: str, conn: asyncpg.Connection) -> None:
        event = NewEvent(event_id=uuid.uuid4(), event_type="test.Counted", data={"by": 1}, occurred_at=NOW)
        await store.append([AppendRequest(stream_id, "counter", 0, (event,))], conn=conn)

    async def command(stream_id: str) -> None:
        await group.run(lambda conn: write(stream_id, conn))
        # The first thing after the answer: is it visible to another connection, i.e. committed?
        seen_at_answer[stream_id] = await pool.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = $1", stream_id) == 1

    await asyncio.gather(*(command(f"n-{i}") for i in range(8)))
    assert seen_at_answer == {f"n-{i}": True for i in range(8)}
