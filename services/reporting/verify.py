"""Verify the live read model: recompute it from the topics into a scratch schema and compare, table by table.

The topics are the event stores' published history (kept with unlimited retention), so a replay of them through
the same projection is the read model as it should be. The live generation (``public.reporting_active_schema``)
and the recomputation are compared row for row (``EXCEPT ALL`` both ways; ``projected_at``, the wall-clock time a
row was written, is left out; so is ``report_progress``, the projection's own bookkeeping). The scratch schema,
its processed ids and any dead letters of its consumer are removed afterwards: verifying changes nothing.

The comparison is of a moment: the recomputation is replayed to the topics' ends at the start, the live consumer
is waited for until its group has committed at least that far, and what was published in the meantime is applied
to the recomputation too. Events published while the comparison runs can still show as differences on a busy
system: run it again, or at a quiet time. The recomputation knows nothing of what ops decided about dead
letters: a key whose poison letter was skipped (or retried after a fix) in the live consumer is parked again in
the recomputation, and its rows show as differences; the result counts the records the recomputation
dead-lettered, so such differences can be told from a projection bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.reporting.adapters.catch_up import apply_since, end_offsets
from services.reporting.adapters.generations import create_generation, drop_generation, generation_pool
from services.reporting.rebuild import progress_bar
from services.reporting.wiring import MIGRATIONS, build_consumer
from shared.db import connect
from shared.messaging.connection import KafkaConnection
from shared.messaging.dead_letters import DeadLetters
from shared.messaging.relay import make_producer
from shared.messaging.replay import replay_topics

IGNORED_COLUMNS = frozenset({"projected_at"})
IGNORED_TABLES = frozenset({"report_progress"})


@dataclass(frozen=True)
class TableDifference:
    table: str
    only_live: int  # rows the live read model has and the recomputation does not
    only_recomputed: int  # rows the recomputation has and the live read model lacks
    samples: list[str] = field(default_factory=list)  # a few of them, as JSON, prefixed "live:" / "recomputed:"


@dataclass(frozen=True)
class VerifyResult:
    live_schema: str
    tables: list[str]
    rows_compared: int
    records_replayed: int
    dead_lettered: int  # records the recomputation dead-lettered (poison, or parked behind poison)
    differences: list[TableDifference]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.differences


async def _wait_for_group(kafka: KafkaConnection, group: str, snapshot: dict[TopicPartition, int],
                          timeout: float) -> None:
    """Until the live consumer group has committed at least ``snapshot`` (it has applied what we replayed)."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=list(snapshot))
            behind = {tp: end for tp, end in snapshot.items()
                      if end > 0 and (committed.get(tp) is None or committed[tp].offset < end)}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumer group {group!r} has not reached the topics' ends after {timeout}s: "
                                   + ", ".join(f"{tp.topic}[{tp.partition}]" for tp in behind))
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def verify(dsn: str, kafka: KafkaConnection, topics: list[str], *, group: str, show_progress: bool = True,
                 samples: int = 5, live_timeout: float = 60.0) -> VerifyResult:
    started = time.monotonic()
    schema = f"reporting_v{time.time_ns()}"
    name = f"verify-{schema}"
    await create_generation(dsn, schema, MIGRATIONS)
    pool = await generation_pool(dsn, schema)
    producer = make_producer(kafka, client_id="reporting-verify-dlq")
    await producer.start()
    try:
        consumer = build_consumer(name, pool, DeadLetters(consumer=name, producer=producer))
        snapshot = await end_offsets(kafka, topics)
        with progress_bar(f"recomputing into {schema}") if show_progress else contextlib.nullcontext() as bar:
            replayed = await replay_topics(kafka, topics, consumer, progress=bar)
        await _wait_for_group(kafka, group, snapshot, live_timeout)
        await apply_since(kafka, topics, snapshot, consumer)
        conn = await connect(dsn)
        try:
            live = str(await conn.fetchval("SELECT schema_name FROM public.reporting_active_schema WHERE id = 1"))
            tables, rows, differences = await _compare(conn, live, schema, samples)
        finally:
            await conn.close()
        return VerifyResult(live, tables, rows, replayed.records, replayed.dead_lettered, differences,
                            time.monotonic() - started)
    finally:
        await producer.stop()
        with contextlib.suppress(Exception):
            await pool.execute("DELETE FROM processed_messages WHERE consumer = $1", name)
            await pool.execute("DELETE FROM dead_letters WHERE consumer = $1", name)
        await pool.close()
        await drop_generation(dsn, schema)


async def _compare(db: asyncpg.Connection, live: str, fresh: str, samples: int
                   ) -> tuple[list[str], int, list[TableDifference]]:
    tables = [r["table_name"] for r in await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' "
        "ORDER BY 1", fresh) if r["table_name"] not in IGNORED_TABLES]
    differences = []
    rows = 0
    for table in tables:
        columns = [r["column_name"] for r in await db.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
            "ORDER BY ordinal_position", fresh, table) if r["column_name"] not in IGNORED_COLUMNS]
        cols = ", ".join(f'"{c}"' for c in columns)
        live_t, fresh_t = f'"{live}"."{table}"', f'"{fresh}"."{table}"'
        rows += await db.fetchval(f"SELECT count(*) FROM {fresh_t}")
        only_live = f"SELECT {cols} FROM {live_t} EXCEPT ALL SELECT {cols} FROM {fresh_t}"
        only_fresh = f"SELECT {cols} FROM {fresh_t} EXCEPT ALL SELECT {cols} FROM {live_t}"
        n_live = await db.fetchval(f"SELECT count(*) FROM ({only_live}) d")
        n_fresh = await db.fetchval(f"SELECT count(*) FROM ({only_fresh}) d")
        if n_live or n_fresh:
            shown = [f"live: {r[0]}" for r in await db.fetch(
                f"SELECT row_to_json(d)::text FROM ({only_live}) d LIMIT $1", samples)]
            shown += [f"recomputed: {r[0]}" for r in await db.fetch(
                f"SELECT row_to_json(d)::text FROM ({only_fresh}) d LIMIT $1", samples)]
            differences.append(TableDifference(table, n_live, n_fresh, shown))
    return tables, rows, differences
