"""The relay at a fixed, low commit rate (issue 14 item 3): what one wake-up costs. A writer appends one event per
commit at ``--rate`` for ``--seconds`` while an :class:`OutboxRelay` runs (``run()``, NOTIFY wake-ups and all, as in
a service) against a fresh database and topic (``--burst N``: N commits back to back per tick, as a command and
the consumer and timer commits around it). Prints, per appended event: the relay's statements (asyncpg's query
logger on its connection), the CPU of the relay connection's PostgreSQL backend, the database's commits beyond the
writer's one per event, and the bench process's CPU (writer + relay Python together). Not part of ``make bench``.

    flock /work/coord/bench.lock .venv/bin/python -m bench.relay_cadence --rates 50,250 --seconds 20

Run from another worktree (``cd /work/wt/x && /work/wt/y/.venv/bin/python -m bench.relay_cadence``) to measure that
tree's relay: the current directory wins over the editable install.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import cpu_seconds
from bench.databases import fresh_database, migrate_kernel
from shared.eventstore import AppendRequest, NewEvent
from shared.eventstore.store import PostgresEventStore
from shared.messaging.relay import OutboxRelay, make_producer, outbound_message
from shared.messaging.topics import ensure_topics
from shared.settings import KafkaSettings, load_settings
from tests.support.kafka import delete_topics_starting_with
from tests.support.relaying import TestPayload


class _MeteredRelay(OutboxRelay):
    """Counts its connection's statements and remembers its backend's pid."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.statements: Counter[str] = Counter()
        self.backend_pid: int | None = None

    async def _connect(self) -> asyncpg.Connection:
        conn = await super()._connect()
        self.backend_pid = conn.get_server_pid()
        conn.add_query_logger(lambda record: self.statements.update([" ".join(record.query.split())[:60]]))
        return conn


def _translate(event: Any) -> Any:
    return outbound_message(event, TestPayload(stream_id=event.stream_id, data=event.data), source="salesflow/bench",
                            subject=event.stream_id)


async def step(admin_dsn: str, run_id: str, rate: float, seconds: float, burst: int = 1) -> dict[str, Any]:
    name = f"bench_relaycad_{run_id}_{int(rate)}"
    dsn = await fresh_database(admin_dsn, name)
    await migrate_kernel(dsn)
    kafka = load_settings(KafkaSettings).connection
    topic = f"{run_id}.{int(rate)}"
    await ensure_topics(kafka, [topic])
    producer = make_producer(kafka, client_id="bench-relay-cadence")
    await producer.start()
    relay = _MeteredRelay(dsn=dsn, producer=producer, topic=topic, translate=_translate, name="bench")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    store = PostgresEventStore(pool)
    writer = await pool.acquire()  # held: a pool's release sends a reset statement (a commit) per append
    admin = await asyncpg.connect(dsn)
    running = asyncio.create_task(relay.run())
    try:
        while not relay.is_leader:  # noqa: ASYNC110  (a test-only wait for the relay's start)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # idle: armed and waiting
        pid = relay.backend_pid
        assert pid is not None
        commits = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        relay.statements.clear()
        commits_before = await admin.fetchval(commits)
        backend_before = cpu_seconds(pid)
        process_before = cpu_seconds(os.getpid())
        started = time.monotonic()
        total = int(rate * seconds)
        for n in range(total):
            if n % burst == 0:  # a burst: ``burst`` commits back to back, then the wait to the next tick
                await asyncio.sleep(max(0.0, started + (n // burst) * burst / rate - time.monotonic()))
            event = NewEvent(event_id=uuid.uuid4(), event_type="Thing", data={"n": n}, occurred_at=datetime.now(UTC))
            await store.append([AppendRequest(f"s-{n}", "thing", 0, (event,))], conn=writer)
        deadline = time.monotonic() + 30
        while relay.published < total and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        backend = cpu_seconds(pid) - backend_before
        process = cpu_seconds(os.getpid()) - process_before
        # pg_stat_database counts a backend's commits when it reports (at most once a second, and at idle)
        await asyncio.sleep(1.5)
        extra_commits = await admin.fetchval(commits) - commits_before - total - 1  # the writer's; this query's
        statements = dict(relay.statements)
        return {"rate": rate, "burst": burst, "events": total, "published": relay.published,
                "elapsed_s": round(elapsed, 2),
                "relay_statements_per_event": round(sum(statements.values()) / total, 2),
                "relay_backend_cpu_us_per_event": round(1e6 * backend / total, 1),
                "other_commits_per_event": round(extra_commits / total, 2),
                "process_cpu_us_per_event": round(1e6 * process / total, 1),
                "statements": statements, "load_average": os.getloadavg()}
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await producer.stop()
        await admin.close()
        await pool.release(writer)
        await pool.close()
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        await delete_topics_starting_with(kafka, run_id)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,250")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--burst", type=int, default=1,
                        help="commits back to back per tick (the rate stays the commits per second)")
    args = parser.parse_args()
    run_id = f"relaycad{uuid.uuid4().hex[:6]}"
    results = [await step(os.environ["SALESFLOW_PG_ADMIN_DSN"], run_id, float(r), args.seconds, args.burst)
               for r in args.rates.split(",")]
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))  # noqa: ASYNC240  (once, at the end)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
