"""CPU per command through the command runner, with and without group commit (issue 14, item 1).

A closed-loop driver: ``--clients`` concurrent callers each run one-event commands on their own streams through
``CommandRunner`` on a fresh database, for ``--seconds``; reported per command: this process's CPU (the service's
side) and the CPU of its PostgreSQL backends (from /proc). ``--single`` gives every command its own transaction
(the path before group commit). ``--leads`` runs the leads service's own command path instead: each client
captures its leads, then logs follow-ups on them (``LeadCommandHandlers.log_follow_up``: its stream, lookups, view
row, work items and timers), or with ``--command grade`` re-grades them, or with ``--command capture`` captures a
new lead each time; reported besides: the rows each command inserted / updated (HOT) / deleted per table.
``--statements`` also counts the statements each command sends (asyncpg's query logger: one per round trip,
BEGIN/SAVEPOINT/COMMIT included); the logger costs the driver CPU, not PostgreSQL's. Not part of ``make bench``;
run with ``python -m bench.command_cpu``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import asyncpg

from bench.append import _backend_meter
from bench.databases import fresh_database, migrate_kernel
from shared.commands import CommandContext
from shared.db import create_pool
from shared.domain import Aggregate, DomainEvent, EventTypeRegistry
from shared.eventstore.store import PostgresEventStore
from shared.unit_of_work.core import StreamCatalog
from shared.unit_of_work.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory
from shared.unit_of_work.retry import CommandRunner

T = TypeVar("T")
U = TypeVar("U", bound=PostgresUnitOfWork)
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


class OneTransactionEach(PostgresUnitOfWorkFactory[U]):
    """The path before group commit: every command its own BEGIN/COMMIT."""

    async def transact(self, body: Callable[[U], Awaitable[T]]) -> T:
        async with self() as uow:
            return await body(uow)


class StatementCount:
    """Statements sent on the pool's connections, by their first words (asyncpg's query logger)."""

    def __init__(self) -> None:
        self.by_kind: dict[str, int] = {}
        self.elapsed: dict[str, float] = {}

    def __call__(self, record: Any) -> None:
        words = record.query.split()
        kind = " ".join(words[:3] if words[0].upper() == "SELECT" else words[:1])
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        self.elapsed[kind] = self.elapsed.get(kind, 0.0) + record.elapsed

    async def attach(self, pool: asyncpg.Pool, size: int) -> None:
        conns = [await pool.acquire() for _ in range(size)]
        for c in conns:
            c.add_query_logger(self)
            await pool.release(c)

    def total(self) -> int:
        return sum(self.by_kind.values())


_COUNTED_TABLES = ("events", "timers", "leads_view", "leads_timers", "leads_work_items")


async def _table_counters(pool: asyncpg.Pool) -> dict[str, tuple[int, ...]]:
    """seq_scan, idx_scan, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del of the tables a leads command writes.
    An idle backend reports its counters at most once a second, or up to 10 s later (PostgreSQL 15): every pooled
    connection is asked to report them now (pg_stat_force_next_flush) and the report waited for."""
    conns = [await pool.acquire() for _ in range(pool.get_max_size())]
    for conn in conns:
        await conn.execute("SELECT pg_stat_force_next_flush()")
    for conn in conns:
        await pool.release(conn)
    await asyncio.sleep(0.3)
    rows = await pool.fetch(
        "SELECT relname, seq_scan, idx_scan, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables "
        "WHERE relname = ANY ($1::text[])", list(_COUNTED_TABLES))
    return {r["relname"]: tuple(r[k] or 0 for k in list(r.keys())[1:]) for r in rows}


async def measure_leads(dsn: str, clients: int, seconds: float, single: bool,
                        statements: bool, rows: int, leads_per_client: int, command: str = "follow_up",
                        setup_sql: str | None = None) -> dict[str, Any]:
    """The leads service's command path: each client captures its leads, then runs ``command`` on them in turn
    (``follow_up``: log a follow-up, ``grade``: re-grade H/A/B/C in turn; ``capture``: capture a new lead each
    time instead). ``rows``
    other leads' work items and timers are in the tables first (filler rows), so plans are those of a used
    database, not of near-empty tables."""
    from functools import partial

    from services.leads.adapters.unit_of_work import PostgresLeadsUnitOfWork
    from services.leads.app.commands import CaptureLead, CaptureLeadHandler
    from services.leads.app.lead_commands import GradeLead, LeadCommandHandlers, LogFollowUp
    from services.leads.app.organisation import OrganisationHandlers, RegisterConsultant, RegisterTeam
    from services.leads.app.timers import timers_for
    from services.leads.domain.policy import LeadPolicy
    from services.leads.main import MIGRATIONS
    from shared.runtime.bootstrap import prepare_database

    pool = await prepare_database(dsn, service="leads", migrations=MIGRATIONS, min_size=8, max_size=8)
    if setup_sql:  # an experiment: e.g. a rule function replaced by a variant
        await pool.execute(setup_sql)
    store = PostgresEventStore(pool)
    policy = LeadPolicy()
    plan = partial(timers_for, policy=policy)

    def build(conn: Any) -> PostgresLeadsUnitOfWork:
        return PostgresLeadsUnitOfWork(conn, store, plan)

    # --single: the same units of work, each in its own transaction.
    uow: PostgresUnitOfWorkFactory[PostgresLeadsUnitOfWork] = (
        OneTransactionEach(pool, build) if single else PostgresUnitOfWorkFactory(pool, build))

    def clock() -> datetime:
        return datetime.now(UTC)

    ids = iter(range(10**9))
    capture = CaptureLeadHandler(unit_of_work=uow, clock=clock, new_id=lambda: f"bench-{next(ids)}",
                                 channels={"online_shop"}, policy=policy)
    commands = LeadCommandHandlers(unit_of_work=uow, clock=clock, new_id=lambda: f"bench-{next(ids)}",
                                   policy=policy)
    organisation = OrganisationHandlers(unit_of_work=uow, clock=clock)
    await organisation.register_team(RegisterTeam("bench-team", "Bench"), CONTEXT)
    for n in range(4):
        await organisation.register_consultant(RegisterConsultant(f"bench-c{n}", f"c{n}", "bench-team"), CONTEXT)
    # Several leads a client, taken in turn: a lead's stream stays as long as a real one (tens of events), not
    # one stream growing by every command of the run.
    leads = [[(await capture(CaptureLead(name=f"p{n}", phone=f"139 {20_000_000 + n:08d}", channel="online_shop",
                                           team_id="bench-team"), CONTEXT)).lead.id
              for n in range(c * leads_per_client, (c + 1) * leads_per_client)] for c in range(clients)]
    if rows:
        await pool.execute(
            """INSERT INTO leads_work_items (item_id, kind, lead_id, due_at, overdue_at)
                   SELECT 'filler:' || g, 'follow_up', 'filler-' || g, now(), now() FROM generate_series(1, $1) g;
               INSERT INTO leads_timers (lead_id, kind, timer_id, due_at, payload)
                   SELECT 'filler-' || g, 'follow_up', 'filler:' || g, now(), '{}' FROM generate_series(1, $1) g;
               INSERT INTO timers (timer_id, kind, due_at, payload)
                   SELECT 'filler:' || g, 'follow_up', now() + interval '30 days', '{}' FROM generate_series(1, $1) g;
               ANALYZE leads_work_items; ANALYZE leads_timers; ANALYZE timers""".replace("$1", str(int(rows))))
    counter = StatementCount()
    if statements:
        await counter.attach(pool, 8)
    before = await _table_counters(pool)
    server = await _backend_meter(pool, 8)
    done = 0
    deadline = time.perf_counter() + seconds

    phones = itertools.count(30_000_000)
    grades = itertools.cycle("HABC")

    async def one(lead_id: str) -> None:
        if command == "follow_up":
            await commands.log_follow_up(LogFollowUp(lead_id=lead_id, kind="call", outcome="talked"), CONTEXT)
        elif command == "grade":
            await commands.grade_lead(GradeLead(lead_id=lead_id, grade=next(grades), reason="bench"), CONTEXT)
        else:  # a fresh phone each: a new lead (phone lock, rotation ticket, its view row, work item and timers)
            await capture(CaptureLead(name="p", phone=f"139 {next(phones):08d}", channel="online_shop",
                                      team_id="bench-team"), CONTEXT)

    async def client(own: list[str]) -> None:
        nonlocal done
        for n in itertools.count():
            if time.perf_counter() >= deadline:
                break
            await one(own[n % len(own)])
            done += 1

    cpu, started = time.process_time(), time.perf_counter()
    if server:
        server.start()
    await asyncio.gather(*(client(own) for own in leads))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    pg = server.stop()["backends"] if server else None
    await asyncio.sleep(0)  # the query logger's last callbacks
    after = await _table_counters(pool)
    scans = {t: (c[0], c[1]) for t, c in after.items()}
    # Rows the timed commands wrote, per command and table: inserted / updated (of which HOT) / deleted.
    writes = {t: [round((c - b) / done, 2) for c, b in zip(after[t][2:], before[t][2:], strict=True)]
              for t in after}
    await pool.close()
    return {"mode": "leads-" + ("single" if single else "grouped"), "command": command, "clients": clients,
            "filler_rows": rows,
            "leads": clients * leads_per_client,
            "commands": done,
            "commands_per_s": round(done / elapsed), "driver_cpu_us_per_command": round(cpu / done * 1e6),
            "pg_cpu_us_per_command": None if pg is None else round(pg / done * 1e6),
            **({"statements_per_command": round(counter.total() / done, 2),
                "statements": {k: round(v / done, 2) for k, v in sorted(counter.by_kind.items())},
                # Wall time the driver waited per command, by statement: where PostgreSQL's time goes, roughly.
                "statement_wait_us": {k: round(v / done * 1e6) for k, v in sorted(counter.elapsed.items())}}
               if statements else {}),
            "seq_idx_scans": scans, "rows_ins_upd_hot_del_per_command": writes,
            "loadavg_1m": round(os.getloadavg()[0], 1)}


async def measure(dsn: str, clients: int, seconds: float, single: bool) -> dict[str, Any]:
    await migrate_kernel(dsn)
    pool = await create_pool(dsn, min_size=8, max_size=8)
    store = PostgresEventStore(pool)
    kind = OneTransactionEach if single else PostgresUnitOfWorkFactory
    factory: PostgresUnitOfWorkFactory[PostgresUnitOfWork] = kind(
        pool, lambda conn: PostgresUnitOfWork(conn, store, CATALOG))
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
    parser.add_argument("--leads", action="store_true", help="the leads service's follow-up command")
    parser.add_argument("--command", choices=("follow_up", "grade", "capture"), default="follow_up",
                        help="the leads command measured (--leads)")
    parser.add_argument("--setup-sql", type=Path, help="SQL run after the migrations (--leads; experiments)")
    parser.add_argument("--statements", action="store_true", help="count statements per command (--leads)")
    parser.add_argument("--leads-per-client", type=int, default=25, help="leads each client takes in turn")
    parser.add_argument("--rows", type=int, default=5000, help="filler work items and timers (--leads)")
    parser.add_argument("--database", default="bench_perf_command_cpu", help="the (re-created) database's name")
    args = parser.parse_args()
    dsn = await fresh_database(os.environ["SALESFLOW_PG_ADMIN_DSN"], args.database)
    if args.leads:
        result = await measure_leads(dsn, args.clients, args.seconds, args.single, args.statements, args.rows,
                                      args.leads_per_client, args.command,
                                      args.setup_sql.read_text() if args.setup_sql else None)
    else:
        result = await measure(dsn, args.clients, args.seconds, args.single)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
