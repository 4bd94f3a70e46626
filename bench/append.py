"""Event store append throughput: salesflow's PostgresEventStore vs the `eventsourcing` library's PostgreSQL
application recorder vs a raw asyncpg INSERT (the ceiling), on the same database server in the same run.

Each writer appends to its own stream, ``events_per_tx`` events per transaction, for ``seconds`` (time-bounded, so a
slow peer cannot stretch the run). Same payload (~200 bytes of JSON) for all three.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from bench.common import CpuMeter, Stopwatch, is_local_postgres, summary_ms
from bench.databases import migrate_kernel
from shared.db import create_pool
from shared.eventstore import AppendRequest, NewEvent
from shared.eventstore.store import PostgresEventStore

PAYLOAD = {"lead_id": "", "customer_id": "c-0001", "name": "张三", "phone": "+8613812345678",
           "channel": "online_shop", "interest": "Model Y Long Range", "captured_at": "2026-11-27T09:30:00+00:00"}


def _event() -> NewEvent:
    return NewEvent(event_id=uuid.uuid4(), event_type="LeadCreated", data=PAYLOAD,
                    occurred_at=datetime.now(UTC), metadata={"correlation_id": "bench"})


def _result(events: int, elapsed: float, latencies: list[float], client_cpu: float,
            server_cpu: dict[str, float] | None = None) -> dict[str, Any]:
    """``client_cpu``: CPU seconds of this process during the run (all threads); ``server_cpu``: of the run's
    PostgreSQL backends, when the server is local. Per transaction they are far less disturbed by other load on
    the machine than events/s."""
    tx = max(len(latencies), 1)
    return {"events": events, "seconds": round(elapsed, 3), "events_per_s": round(events / elapsed),
            "append_latency": summary_ms(latencies),
            "client_cpu_us_per_tx": round(client_cpu / tx * 1e6),
            "server_cpu_us_per_tx": None if server_cpu is None else round(server_cpu["backends"] / tx * 1e6)}


async def _backend_meter(pool: asyncpg.Pool, size: int) -> CpuMeter | None:
    """A CPU meter over the pool's server processes, or None if PostgreSQL is not on this machine."""
    conns = [await pool.acquire() for _ in range(size)]
    try:
        pids = [await c.fetchval("SELECT pg_backend_pid()") for c in conns]
    finally:
        for c in conns:
            await pool.release(c)
    return CpuMeter({"backends": pids}) if all(is_local_postgres(p) for p in pids) else None


async def run_salesflow(dsn: str, writers: int, per_tx: int, seconds: float) -> dict[str, Any]:
    pool = await create_pool(dsn, min_size=writers, max_size=writers)
    store = PostgresEventStore(pool)
    server = await _backend_meter(pool, writers)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def writer(n: int) -> None:
        stream, version = f"bench-{uuid.uuid4()}", 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await store.append([AppendRequest(stream, "bench", version, tuple(_event() for _ in range(per_tx)))])
            latencies.append(time.perf_counter() - started)
            version += per_tx

    watch, cpu = Stopwatch(), time.process_time()
    if server:
        server.start()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    elapsed, cpu = watch.elapsed, time.process_time() - cpu
    server_cpu = server.stop() if server else None
    await pool.close()
    return _result(len(latencies) * per_tx, elapsed, latencies, cpu, server_cpu)


async def run_raw_asyncpg(dsn: str, writers: int, per_tx: int, seconds: float) -> dict[str, Any]:
    pool = await create_pool(dsn, min_size=writers, max_size=writers)
    await pool.execute(
        """CREATE TABLE IF NOT EXISTS raw_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
           event_id uuid NOT NULL, stream_id text NOT NULL, version int NOT NULL, data jsonb NOT NULL)"""
    )
    server = await _backend_meter(pool, writers)
    latencies: list[float] = []
    body = orjson.dumps(PAYLOAD).decode()
    deadline = time.perf_counter() + seconds

    async def writer(n: int) -> None:
        stream, version = f"raw-{uuid.uuid4()}", 0
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await conn.execute(
                    "INSERT INTO raw_events (event_id, stream_id, version, data) "
                    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::jsonb[])",
                    [uuid.uuid4() for _ in range(per_tx)], [stream] * per_tx,
                    list(range(version + 1, version + per_tx + 1)), [body] * per_tx,
                )
                latencies.append(time.perf_counter() - started)
                version += per_tx

    watch, cpu = Stopwatch(), time.process_time()
    if server:
        server.start()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    elapsed, cpu = watch.elapsed, time.process_time() - cpu
    server_cpu = server.stop() if server else None
    await pool.close()
    return _result(len(latencies) * per_tx, elapsed, latencies, cpu, server_cpu)


def run_eventsourcing(dsn_parts: dict[str, Any], writers: int, per_tx: int, seconds: float) -> dict[str, Any]:
    """The peer: eventsourcing's PostgresApplicationRecorder (psycopg 3, thread per writer), which also keeps a
    global notification sequence — the closest equivalent of our commit-ordered feed."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    # Same transport as ours: no TLS on loopback (psycopg would negotiate it, like asyncpg, by default).
    os.environ.setdefault("PGSSLMODE", "disable")

    datastore = PostgresDatastore(dbname=dsn_parts["database"], host=dsn_parts["host"], port=dsn_parts["port"],
                                  user=dsn_parts["user"], password=dsn_parts["password"], pool_size=writers,
                                  max_overflow=0)
    recorder = PostgresApplicationRecorder(datastore, events_table_name="es_stored_events")
    recorder.create_table()
    state = orjson.dumps(PAYLOAD)
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def writer() -> None:
        originator, version, mine = uuid.uuid4(), 0, []
        while time.perf_counter() < deadline:
            batch = [StoredEvent(originator_id=originator, originator_version=version + i + 1,
                                 topic="bench:LeadCreated", state=state) for i in range(per_tx)]
            started = time.perf_counter()
            recorder.insert_events(batch)
            mine.append(time.perf_counter() - started)
            version += per_tx
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    watch, cpu = Stopwatch(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = watch.elapsed, time.process_time() - cpu
    datastore.close()
    return _result(len(latencies) * per_tx, elapsed, latencies, cpu)


async def settings_of(dsn: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {name: await conn.fetchval(f"SHOW {name}") for name in
                ("server_version", "synchronous_commit", "fsync", "shared_buffers", "wal_level")}
    finally:
        await conn.close()


async def run(dsn: str, dsn_parts: dict[str, Any], *, smoke: bool) -> dict[str, Any]:
    await migrate_kernel(dsn)
    seconds = 1.5 if smoke else 8.0
    configs = [(1, 1), (1, 10), (8, 1), (8, 10), (32, 1), (32, 10)] if not smoke else [(8, 10)]
    rows = []
    for writers, per_tx in configs:
        row: dict[str, Any] = {"writers": writers, "events_per_tx": per_tx}
        row["salesflow"] = await run_salesflow(dsn, writers, per_tx, seconds)
        row["eventsourcing"] = await asyncio.to_thread(run_eventsourcing, dsn_parts, writers, per_tx, seconds)
        row["raw_asyncpg"] = await run_raw_asyncpg(dsn, writers, per_tx, seconds)
        row["salesflow_vs_eventsourcing"] = round(
            row["salesflow"]["events_per_s"] / max(row["eventsourcing"]["events_per_s"], 1), 2)
        rows.append(row)
    return {"postgres": await settings_of(dsn), "seconds_per_run": seconds, "results": rows}
