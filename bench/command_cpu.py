"""CPU per command through the command runner, with and without group commit (issue 14, item 1).

A closed-loop driver: ``--clients`` concurrent callers each run one-event commands on their own streams through
``CommandRunner`` on a fresh database, for ``--seconds``; reported per command: this process's CPU (the service's
side) and the CPU of its PostgreSQL backends (from /proc). ``--single`` gives every command its own transaction
(the path before group commit). Not part of ``make bench``; run with ``python -m bench.command_cpu``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import asyncpg

from bench.append import _backend_meter
from bench.databases import fresh_database
from shared.commands import CommandContext
from shared.db import create_pool
from shared.domain import Aggregate, DomainEvent, EventTypeRegistry
from shared.eventstore.store import PostgresEventStore
from shared.migrations import KERNEL_MIGRATIONS, migrate
from shared.unit_of_work.core import StreamCatalog
from shared.unit_of_work.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory
from shared.unit_of_work.retry import CommandRunner

T = TypeVar("T")
events = EventTypeRegistry()


@events.register
class Noted(DomainEvent):
    event_type: ClassVar[str] = "bench.Noted"
    n: int


class Note(Aggregate):
    stream_type = "note"

    def note(self, n: int) -> None:
        self._record(Noted(n=n))

    def _apply(self, event: DomainEvent) -> None:
        pass


CATALOG = StreamCatalog({Note: ("note-", events)})
CONTEXT = CommandContext(correlation_id="bench", causation_id="bench", actor="bench")


class OneTransactionEach(PostgresUnitOfWorkFactory[PostgresUnitOfWork]):
    """The path before group commit: every command its own BEGIN/COMMIT."""

    async def transact(self, body: Callable[[PostgresUnitOfWork], Awaitable[T]]) -> T:
        async with self() as uow:
            return await body(uow)


async def measure(dsn: str, clients: int, seconds: float, single: bool) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, [("kernel", KERNEL_MIGRATIONS)])
    finally:
        await conn.close()
    pool = await create_pool(dsn, min_size=8, max_size=8)
    store = PostgresEventStore(pool)
    kind = OneTransactionEach if single else PostgresUnitOfWorkFactory
    factory = kind(pool, lambda conn: PostgresUnitOfWork(conn, store, CATALOG))
    runner: CommandRunner[PostgresUnitOfWork] = CommandRunner(factory, lambda: datetime.now(UTC))
    server = await _backend_meter(pool, 8)
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        note_id = str(uuid.uuid4())

        async def decide(uow: PostgresUnitOfWork, now: datetime) -> None:
            note = await uow.load(Note, note_id) or Note(note_id)
            note.note(done)
            uow.add(note)

        while time.perf_counter() < deadline:
            await runner.run(decide, CONTEXT)
            done += 1

    cpu, started = time.process_time(), time.perf_counter()
    if server:
        server.start()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    pg = server.stop()["backends"] if server else None
    transactions = await pool.fetchval("SELECT count(DISTINCT txid) FROM events")
    await pool.close()
    return {"mode": "single" if single else "grouped", "clients": clients, "commands": done,
            "commands_per_s": round(done / elapsed), "driver_cpu_us_per_command": round(cpu / done * 1e6),
            "pg_cpu_us_per_command": None if pg is None else round(pg / done * 1e6),
            "commands_per_transaction": round(done / max(transactions, 1), 1),
            "loadavg_1m": round(os.getloadavg()[0], 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--single", action="store_true")
    args = parser.parse_args()
    dsn = await fresh_database(os.environ["SALESFLOW_PG_ADMIN_DSN"], "bench_perf_command_cpu")
    print(json.dumps(await measure(dsn, args.clients, args.seconds, args.single)))


if __name__ == "__main__":
    asyncio.run(main())
