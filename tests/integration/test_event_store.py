"""The PostgreSQL event store against a real server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from shared.db import connect
from shared.eventstore import AppendRequest, ConcurrencyError, FeedPosition, NewEvent, StreamOrderConflictError
from shared.eventstore.store import FEED_QUERY, PostgresEventStore, read_feed
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def event(kind: str = "Thing", **data: object) -> NewEvent:
    return NewEvent(event_id=uuid.uuid4(), event_type=kind, data=dict(data), occurred_at=NOW,
                    metadata={"correlation_id": "c-1"})


def request(stream: str, expected: int | None, *events: NewEvent) -> AppendRequest:
    return AppendRequest(stream, "thing", expected, events)


async def count_events(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM events"))


async def test_appended_events_load_back_in_order_with_their_versions(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    versions = await store.append([request("s-1", 0, event(n=1), event(n=2))])
    versions |= await store.append([request("s-1", 2, event(n=3))])
    loaded = await store.load("s-1")
    assert versions == {"s-1": 3}
    assert [(e.version, e.data["n"]) for e in loaded] == [(1, 1), (2, 2), (3, 3)]
    assert loaded[0].metadata == {"correlation_id": "c-1"}
    assert loaded[0].occurred_at == NOW


async def test_a_stale_expected_version_is_a_conflict_and_writes_nothing(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    await store.append([request("s-1", 0, event())])
    with pytest.raises(ConcurrencyError) as raised:
        await store.append([request("s-1", 0, event())])
    assert (raised.value.expected, raised.value.actual) == (0, 1)
    assert await count_events(pool) == 1


async def test_an_expected_version_ahead_of_the_stream_is_also_a_conflict(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    with pytest.raises(ConcurrencyError):
        await store.append([request("s-1", 5, event())])
    assert await count_events(pool) == 0


async def test_several_streams_append_atomically_or_not_at_all(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    await store.append([request("b", 0, event())])
    with pytest.raises(ConcurrencyError):
        await store.append([request("a", 0, event()), request("b", 0, event())])
    assert await count_events(pool) == 1
    assert await store.append([request("a", 0, event()), request("b", 1, event())]) == {"a": 1, "b": 2}


async def test_concurrent_writers_of_one_stream_get_exactly_one_winner(pool: asyncpg.Pool) -> None:
    import asyncio

    store = PostgresEventStore(pool)
    await store.append([request("s", 0, event())])
    results = await asyncio.gather(*(store.append([request("s", 1, event())]) for _ in range(8)),
                                   return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(isinstance(r, ConcurrencyError) for r in results) == 7
    assert [e.version for e in await store.load("s")] == [1, 2]


async def test_append_joins_the_callers_transaction(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.append([request("s", 0, event())], conn=conn)
        await tx.rollback()
    assert await count_events(pool) == 0


async def test_the_feed_holds_back_events_behind_a_transaction_still_running(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    async with pool.acquire() as slow:
        tx = slow.transaction()
        await tx.start()
        await store.append([request("slow", 0, event(n="slow"))], conn=slow)  # lower position, still open
        await store.append([request("fast", 0, event(n="fast"))])  # higher position, committed
        assert await store.read_feed(FeedPosition(), 100) == []
        await tx.commit()
    # Other databases of the cluster (parallel test runs) may briefly hold the snapshot's xmin back too.
    feed = await eventually(lambda: store.read_feed(FeedPosition(), 100), until=lambda f: len(f) == 2,
                            what="both events in the feed")
    assert [e.data["n"] for e in feed] == ["slow", "fast"]
    assert await store.read_feed(feed[-1].feed_position, 100) == []


async def test_a_transaction_older_than_the_streams_last_writer_must_retry(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    async with pool.acquire() as old:
        tx = old.transaction()
        await tx.start()
        await old.execute("CREATE TEMP TABLE scratch (x int); INSERT INTO scratch VALUES (1)")  # takes a txid now
        await store.append([request("s", 0, event(n="newer"))])  # a later transaction writes the stream
        with pytest.raises(StreamOrderConflictError):
            await store.append([request("s", None, event(n="older"))], conn=old)
        await tx.rollback()
    assert [e.data["n"] for e in await store.load("s")] == ["newer"]


async def test_several_streams_with_several_events_get_consecutive_versions_in_position_order(
    pool: asyncpg.Pool,
) -> None:
    store = PostgresEventStore(pool)
    await store.append([request("b", 0, event(n="b1"))])
    versions = await store.append([request("a", 0, event(n="a1"), event(n="a2"), event(n="a3")),
                                   request("b", 1, event(n="b2"), event(n="b3"))])
    assert versions == {"a": 3, "b": 3}
    rows = await pool.fetch("SELECT stream_id, version, data->>'n' AS n FROM events ORDER BY position")
    assert [(r["stream_id"], r["version"], r["n"]) for r in rows] == [
        ("b", 1, "b1"), ("a", 1, "a1"), ("a", 2, "a2"), ("a", 3, "a3"), ("b", 2, "b2"), ("b", 3, "b3")]


async def test_no_expected_version_appends_after_whatever_is_there(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    await store.append([request("log", 0, event(), event())])
    assert await store.append([request("log", None, event(n=3))]) == {"log": 3}
    assert await store.append([request("log", 3)]) == {"log": 3}  # no events: checks and reports, writes nothing
    assert [e.version for e in await store.load("log")] == [1, 2, 3]


async def test_an_event_time_without_a_time_zone_is_refused(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    naive = NewEvent(event_id=uuid.uuid4(), event_type="Thing", data={}, occurred_at=datetime(2026, 11, 27, 9, 30))
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.append([request("s", 0, naive)])
    assert await count_events(pool) == 0


async def test_event_fields_round_trip_exactly(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    shanghai = datetime(2026, 11, 27, 17, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    sent = NewEvent(event_id=uuid.uuid4(), event_type="Odd", schema_version=3, occurred_at=shanghai,
                    data={"name": "张三", "quote": 'say "hi"\n', "n": 1.5, "nested": {"list": [1, None, True]}},
                    metadata={})
    await store.append([request("s", 0, sent)])
    [got] = await store.load("s")
    assert (got.event_id, got.event_type, got.schema_version, got.data, got.metadata, got.occurred_at) == (
        sent.event_id, sent.event_type, sent.schema_version, sent.data, sent.metadata, sent.occurred_at)


async def test_writers_naming_the_same_streams_in_opposite_orders_do_not_deadlock(pool: asyncpg.Pool) -> None:
    import asyncio

    store = PostgresEventStore(pool)
    appends = [store.append([request("a", None, event()), request("b", None, event())]) if n % 2 else
               store.append([request("b", None, event()), request("a", None, event())]) for n in range(20)]
    await asyncio.gather(*appends)  # a deadlock would surface as asyncpg.DeadlockDetectedError
    assert [e.version for e in await store.load("a")] == list(range(1, 21))
    assert [e.version for e in await store.load("b")] == list(range(1, 21))


def plan_nodes(plan: dict[str, object]) -> list[str]:
    children = plan.get("Plans", [])
    assert isinstance(children, list)
    return [str(plan["Node Type"]), *(node for child in children for node in plan_nodes(child))]


async def test_the_feed_reads_a_backlog_down_the_commit_order_index_without_sorting_it(pool: asyncpg.Pool) -> None:
    # A read of the next 1000 must not sort the whole backlog (it did while ORDER BY named the bigint alias).
    await pool.execute(
        """INSERT INTO events (event_id, stream_id, stream_type, version, event_type, schema_version, data,
                               occurred_at)
           SELECT gen_random_uuid(), 's-' || g, 'thing', 1, 'Thing', 1, jsonb_build_object('n', g), now()
           FROM generate_series(1, 20000) AS g""")
    await pool.execute("ANALYZE events")
    explained = await pool.fetchval(f"EXPLAIN (FORMAT JSON) {FEED_QUERY}", 0, 0, 1000)
    nodes = plan_nodes(explained[0]["Plan"])  # the pool decodes json

    assert "Sort" not in nodes
    assert "Index Scan" in nodes
    assert len(await read_feed(pool, FeedPosition(), 1000)) == 1000


async def test_an_append_wakes_a_listener_only_while_the_wake_up_is_armed(pool: asyncpg.Pool, kernel_db: str) -> None:
    # sf_append itself sends the relay's NOTIFY (0009 dropped the trigger): one per appending transaction while
    # relay_wakeup is armed, none while it is not — a busy relay keeps it disarmed so commits stay group-committed.
    store = PostgresEventStore(pool)
    listener = await connect(kernel_db)
    received: list[str] = []
    try:
        await listener.add_listener("sf_events", lambda _conn, _pid, channel, _payload: received.append(channel))
        await store.append([request("quiet", 0, event())])  # disarmed: must send nothing
        await pool.execute("UPDATE relay_wakeup SET armed = true WHERE channel = 'sf_events'")
        await store.append([request("a", 0, event()), request("b", 0, event(), event())])  # two streams: one NOTIFY
        await eventually(lambda: asyncio.sleep(0, received), what="the NOTIFY of the armed append")
        # A round trip on the listener's connection: any NOTIFY queued before it (the disarmed append's, or a second
        # one of the armed append) has reached the listener by the time it returns.
        await listener.execute("SELECT 1")
        assert received == ["sf_events"]
    finally:
        await listener.close()
