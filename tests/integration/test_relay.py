"""The outbox relay against real PostgreSQL and a real Kafka broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from shared.eventstore import AppendRequest, NewEvent
from shared.eventstore.store import PostgresEventStore
from shared.messaging.relay import OutboxRelay, RelayBusyError
from shared.messaging.topics import ensure_topics
from tests.conftest import CreateDatabase
from tests.support.crashing_relay import CRASH_EXIT_CODE
from tests.support.infra import REPO, Infra
from tests.support.kafka import header, read_topic
from tests.support.relaying import started_relay, stop_relay
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def new_event(n: int) -> NewEvent:
    return NewEvent(event_id=uuid.uuid4(), event_type="Thing", data={"n": n},
                    occurred_at=datetime.now(UTC), metadata={"correlation_id": f"corr-{n}"})


async def append(store: PostgresEventStore, stream: str, expected: int, *ns: int,
                 conn: asyncpg.Connection | None = None) -> None:
    await store.append([AppendRequest(stream, "thing", expected, tuple(new_event(n) for n in ns))], conn=conn)


def by_key(records: list) -> dict[str, list[int]]:
    streams: dict[str, list[int]] = defaultdict(list)
    for r in records:
        streams[r.key.decode()].append(orjson.loads(r.value)["data"]["n"])
    return dict(streams)


async def checkpoint_position(pool: asyncpg.Pool, relay: str = "test") -> int:
    return int(await pool.fetchval("SELECT last_position FROM relay_checkpoints WHERE relay = $1", relay) or 0)


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay):
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stop_relay(relay)


async def test_relay_publishes_every_event_keyed_by_stream_in_stream_order(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    store = PostgresEventStore(pool)
    for stream in ("a", "b", "c"):
        await append(store, stream, 0, 1, 2)
        await append(store, stream, 2, 3, 4, 5)
    relay = await started_relay(kernel_db, infra.kafka, unique)
    async with running(relay):
        records = await read_topic(infra.kafka, unique, expect=15)
    assert by_key(records) == {s: [1, 2, 3, 4, 5] for s in ("a", "b", "c")}
    first = records[0]
    assert header(first, "ce_type") == "salesflow.test.Thing"
    assert header(first, "ce_source") == "salesflow/test"
    assert header(first, "ce_correlationid", ) is not None
    stored_ids = {str(r) for r in await pool.fetchval("SELECT array_agg(event_id) FROM events")}
    assert {header(r, "ce_id") for r in records} == stored_ids
    assert await checkpoint_position(pool) == await pool.fetchval("SELECT max(position) FROM events")


async def test_every_stream_lands_on_the_partition_send_gives_its_key_and_in_order_across_full_batches(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    # The relay fills record batches per partition itself (create_batch/send_batch). Small relay batches (7 events)
    # keep one in flight while the next is read; ~40 kB events overflow the 256 kB record batches.
    relay_topic, send_topic = f"{unique}.relay", f"{unique}.send"
    await ensure_topics(infra.kafka, [relay_topic, send_topic], partitions=5)
    store = PostgresEventStore(pool)
    streams = [f"stream-{n}" for n in range(40)]
    filler = "x" * 40_000
    for round_ in range(3):
        for stream in streams:
            await store.append([AppendRequest(stream, "thing", round_, (NewEvent(
                event_id=uuid.uuid4(), event_type="Thing", data={"n": round_ + 1, "filler": filler},
                occurred_at=datetime.now(UTC)),))])
    relay = await started_relay(kernel_db, infra.kafka, relay_topic, batch_size=7)
    try:
        assert await relay.publish_once() == 120
        for stream in streams:
            await relay._producer.send_and_wait(send_topic, value=b"", key=stream.encode())
    finally:
        await stop_relay(relay)

    published = await read_topic(infra.kafka, relay_topic, expect=120)
    by_send = {r.key: r.partition for r in await read_topic(infra.kafka, send_topic, expect=40)}
    assert {r.key: r.partition for r in published} == by_send
    assert len(set(by_send.values())) > 1
    assert by_key(published) == {stream: [1, 2, 3] for stream in streams}
    assert await checkpoint_position(pool) == await pool.fetchval("SELECT max(position) FROM events")


async def test_an_event_that_commits_late_is_still_published_and_in_stream_order(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    store = PostgresEventStore(pool)
    relay = await started_relay(kernel_db, infra.kafka, unique)
    async with running(relay), pool.acquire() as slow:
        await eventually(lambda: asyncio.sleep(0, relay.is_leader), what="relay leadership")
        tx = slow.transaction()
        await tx.start()
        await append(store, "late", 0, 1, conn=slow)  # takes the lower position, stays open
        await append(store, "early", 0, 1)  # higher position, commits first
        await tx.commit()
        await append(store, "late", 1, 2)  # the stream goes on after the late commit
        records = await read_topic(infra.kafka, unique, expect=3)
    assert by_key(records) == {"late": [1, 2], "early": [1]}
    assert await checkpoint_position(pool) == await pool.fetchval("SELECT max(position) FROM events")


async def test_a_relay_pass_publishes_nothing_while_an_older_transaction_is_open(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    store = PostgresEventStore(pool)
    relay = await started_relay(kernel_db, infra.kafka, unique)
    try:
        async with pool.acquire() as slow:
            tx = slow.transaction()
            await tx.start()
            await append(store, "late", 0, 1, conn=slow)
            await append(store, "early", 0, 1)
            assert await relay.publish_once() == 0
            await tx.commit()
        published = [0]

        async def publish() -> int:
            published[0] += await relay.publish_once()
            return published[0]

        # Other databases of the cluster (parallel test runs) may briefly hold the snapshot's xmin back too.
        assert await eventually(publish, until=lambda n: n >= 2, what="both events published") == 2
        assert await relay.publish_once() == 0
    finally:
        await stop_relay(relay)


async def test_a_transaction_open_in_another_database_does_not_hold_back_this_database_s_relay(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str, create_database: CreateDatabase
) -> None:
    store = PostgresEventStore(pool)
    elsewhere = await asyncpg.connect(await create_database("elsewhere"))
    relay = await started_relay(kernel_db, infra.kafka, unique)
    try:
        tx = elsewhere.transaction()
        await tx.start()
        await elsewhere.fetchval("SELECT pg_current_xact_id()")  # gets its id now: older than the append's
        await append(store, "here", 0, 1)
        # The cluster-wide xmin is the other database's transaction: by it, the event would wait.
        assert await pool.fetchval("SELECT bool_and(txid >= pg_snapshot_xmin(pg_current_snapshot())) FROM events")
        assert await relay.publish_once() == 1
        await tx.rollback()
    finally:
        await elsewhere.close()
        await stop_relay(relay)
    records = await read_topic(infra.kafka, unique, expect=1)
    assert by_key(records) == {"here": [1]}


async def test_only_one_relay_is_active_and_a_standby_takes_over(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    store = PostgresEventStore(pool)
    first = await started_relay(kernel_db, infra.kafka, unique)
    second = await started_relay(kernel_db, infra.kafka, unique)
    async with running(second):
        async with running(first):
            await eventually(lambda: asyncio.sleep(0, first.is_leader or second.is_leader), what="a leader")
            leader, standby = (first, second) if first.is_leader else (second, first)
            await append(store, "s", 0, 1)
            await read_topic(infra.kafka, unique, expect=1)
            assert not standby.is_leader
            third = await started_relay(kernel_db, infra.kafka, unique)
            with pytest.raises(RelayBusyError):
                await third.publish_once()
            await stop_relay(third)
        if leader is first:  # the leader stopped: the standby must take over and carry on
            await eventually(lambda: asyncio.sleep(0, second.is_leader), what="standby takes over")
        await append(store, "s", 1, 2)
        records = await read_topic(infra.kafka, unique, expect=2)
    assert by_key(records) == {"s": [1, 2]}


async def test_a_relay_killed_between_publish_and_checkpoint_republishes_and_loses_nothing(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    store = PostgresEventStore(pool)
    await append(store, "a", 0, 1, 2, 3)
    await append(store, "b", 0, 1, 2)
    crashed = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.crashing_relay", "--dsn", kernel_db,
        "--topic", unique, cwd=REPO, env={**os.environ, **infra.kafka_env()},
    )
    assert await asyncio.wait_for(crashed.wait(), 60) == CRASH_EXIT_CODE
    assert await checkpoint_position(pool) == 0  # it died before moving the checkpoint
    assert by_key(await read_topic(infra.kafka, unique, expect=5)) == {"a": [1, 2, 3], "b": [1, 2]}

    relay = await started_relay(kernel_db, infra.kafka, unique)
    try:
        assert await relay.publish_once() == 5  # the whole batch again: duplicates, not loss
    finally:
        await stop_relay(relay)
    records = await read_topic(infra.kafka, unique, expect=10)
    assert by_key(records) == {"a": [1, 2, 3, 1, 2, 3], "b": [1, 2, 1, 2]}
    assert await checkpoint_position(pool) == await pool.fetchval("SELECT max(position) FROM events")


async def test_a_commit_wakes_the_relay_without_waiting_for_the_poll(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    store = PostgresEventStore(pool)
    relay = await started_relay(kernel_db, infra.kafka, unique, poll_interval=600)
    async with running(relay):
        await eventually(lambda: asyncio.sleep(0, relay.is_leader), what="relay leadership")
        await append(store, "s", 0, 1)
        # With a 10-minute poll interval only the NOTIFY can bring this event out within the deadline.
        records = await read_topic(infra.kafka, unique, expect=1, timeout=30)
    assert by_key(records) == {"s": [1]}


async def test_the_relay_s_own_commits_do_not_wait_for_their_wal_flush_and_it_still_publishes_everything(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    # Its checkpoint and wake-up flag are the only things it writes; a checkpoint lost in a server crash only
    # republishes (see the killed-relay test above), so their flushes were CPU spent for nothing.
    store = PostgresEventStore(pool)
    await ensure_topics(infra.kafka, [unique])
    relay = await started_relay(kernel_db, infra.kafka, unique)
    try:
        conn = await relay._connect()
        try:
            setting = await conn.fetchval("SHOW synchronous_commit")
        finally:
            await conn.close()
        await append(store, "s", 0, 1, 2)
        published = await relay.publish_once()
    finally:
        await stop_relay(relay)
    records = await read_topic(infra.kafka, unique, expect=2, timeout=30)
    assert setting == "off"
    assert published == 2
    assert by_key(records) == {"s": [1, 2]}
    assert await checkpoint_position(pool) == await pool.fetchval("SELECT max(position) FROM events")


class StatementLog(OutboxRelay):
    """Records the kind of every statement its connection runs (asyncpg's query logger)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.statements: list[str] = []

    async def _connect(self) -> asyncpg.Connection:
        conn = await super()._connect()
        conn.add_query_logger(lambda record: self.statements.append(self.kind(record.query)))
        return conn

    @staticmethod
    def kind(query: str) -> str:
        query = " ".join(query.split())
        for prefix, kind in (("WITH horizon", "read"), ("WITH checkpoint", "arm"),
                             ("UPDATE relay_checkpoints", "checkpoint")):
            if query.startswith(prefix):
                return kind
        return query[:40]


async def test_a_wake_up_at_a_low_rate_is_one_read_and_the_checkpoint_follows_without_another_event(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    # At a low rate every commit wakes the relay on its own, so a pass's statements are the relay's cost: it was
    # five (read, checkpoint, read again after the linger, arm, look). Now the wake-up stays armed and the pass is
    # one read; the acknowledged checkpoint is written alone (CHECKPOINT_DELAY) because no next statement comes.
    store = PostgresEventStore(pool)
    relay = await started_relay(kernel_db, infra.kafka, unique, poll_interval=600, relay_class=StatementLog)
    async with running(relay):
        # Idle: it armed the wake-up and looked once more (a read) before waiting.
        await eventually(lambda: asyncio.sleep(0, relay.statements[-2:]), until=lambda s: s == ["arm", "read"],
                         what="the relay armed and waiting")
        assert await pool.fetchval("SELECT armed FROM relay_wakeup")
        relay.statements.clear()
        await append(store, "s", 0, 1)
        records = await read_topic(infra.kafka, unique, expect=1, timeout=30)
        position = await pool.fetchval("SELECT max(position) FROM events")
        await eventually(lambda: checkpoint_position(pool), until=lambda p: p == position, what="the checkpoint")
        assert relay.statements == ["read", "checkpoint"]
        assert await pool.fetchval("SELECT armed FROM relay_wakeup")  # still armed: the next commit notifies
    assert by_key(records) == {"s": [1]}


async def test_events_committed_by_concurrent_writers_while_the_relay_runs_are_all_published_in_stream_order(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    # Writers commit faster than a pass for a while (the relay disarms and keeps reading), then stop (it arms and
    # waits), then commit one at a time (each wakes it): every event once, each stream in order, checkpoint at the end.
    store = PostgresEventStore(pool)
    relay = await started_relay(kernel_db, infra.kafka, unique)

    async def writer(stream: str, count: int) -> None:
        for n in range(1, count + 1):
            await append(store, stream, n - 1, n)

    async with running(relay):
        await eventually(lambda: asyncio.sleep(0, relay.is_leader), what="relay leadership")
        await asyncio.gather(*(writer(f"w{w}", 40) for w in range(4)))
        await read_topic(infra.kafka, unique, expect=160, timeout=60)
        await writer("single", 3)
        records = await read_topic(infra.kafka, unique, expect=163, timeout=60)
        position = await pool.fetchval("SELECT max(position) FROM events")
        await eventually(lambda: checkpoint_position(pool), until=lambda p: p == position, what="the checkpoint")
    assert by_key(records) == {**{f"w{w}": list(range(1, 41)) for w in range(4)}, "single": [1, 2, 3]}


async def test_two_commits_in_a_row_cost_two_reads_and_leave_the_wake_up_armed(
    infra: Infra, pool: asyncpg.Pool, kernel_db: str, unique: str
) -> None:
    # A command's commit often has company (its consumer's and timers' commits a few ms apart): one more commit
    # during a pass only makes the relay read again; it disarms (and later re-arms and looks) only when commits
    # keep coming pass after pass.
    store = PostgresEventStore(pool)
    relay = await started_relay(kernel_db, infra.kafka, unique, poll_interval=600, relay_class=StatementLog)
    async with running(relay):
        await eventually(lambda: asyncio.sleep(0, relay.statements[-2:]), until=lambda s: s == ["arm", "read"],
                         what="the relay armed and waiting")
        relay.statements.clear()
        await append(store, "a", 0, 1)
        # The second commit while the relay is in its pass for the first (publishing, or lingering after it).
        await eventually(lambda: asyncio.sleep(0, relay.statements), until=lambda s: "read" in s, interval=0.001,
                         what="the first commit's read")
        await append(store, "b", 0, 1)
        records = await read_topic(infra.kafka, unique, expect=2, timeout=30)
        position = await pool.fetchval("SELECT max(position) FROM events")
        await eventually(lambda: checkpoint_position(pool), until=lambda p: p == position, what="the checkpoint")
        assert "arm" not in relay.statements
        assert relay.statements.count("read") <= 3  # one per commit, and at most one that finds nothing
        assert await pool.fetchval("SELECT armed FROM relay_wakeup")
    assert by_key(records) == {"a": [1], "b": [1]}
