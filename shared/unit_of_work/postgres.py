"""The unit of work over PostgreSQL: the event store's append and load on one connection, in one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import asyncpg

from shared.db import Connection
from shared.eventstore import AppendRequest, RecordedEvent
from shared.eventstore.store import PostgresEventStore
from shared.timer_model import timer_row
from shared.unit_of_work.core import StreamCatalog, TimerPlan, TimerPlanner, UnitOfWork
from shared.unit_of_work.group_commit import GroupCommit

U = TypeVar("U", bound="PostgresUnitOfWork")
T = TypeVar("T")


class _ConnectionLog:
    def __init__(self, store: PostgresEventStore, conn: Connection) -> None:
        self._store, self._conn = store, conn

    async def load(self, stream_id: str) -> list[RecordedEvent]:
        return await self._store.load(stream_id, conn=self._conn)

    async def append(self, requests: Sequence[AppendRequest]) -> dict[str, int]:
        return await self._store.append(requests, conn=self._conn)


class PostgresUnitOfWork(UnitOfWork):
    """A unit of work on ``conn`` (an open transaction). Services subclass it for their lookups (``self.conn``)
    and projection hook."""

    def __init__(self, conn: Connection, store: PostgresEventStore, catalog: StreamCatalog, *,
                 plan_timers: TimerPlanner | None = None) -> None:
        super().__init__(_ConnectionLog(store, conn), catalog, plan_timers=plan_timers)
        self.conn = conn

    async def write_timers(self, timers: Sequence[TimerPlan]) -> None:
        """All schedules in one statement, all cancellations in another (shared/sql/0008_timer_functions.sql)."""
        scheduled = [timer_row(t.timer_id, t.kind, t.due_at, t.payload) for t in timers if t.due_at is not None]
        cancelled = [t.timer_id for t in timers if t.due_at is None]
        if cancelled:
            await self.conn.execute("SELECT sf_cancel_timers($1::text[])", cancelled)
        if scheduled:
            await self.conn.execute("SELECT sf_schedule_timers($1::jsonb)", scheduled)


class PostgresUnitOfWorkFactory(Generic[U]):
    """``factory()`` opens a transaction from the pool; ``factory(conn)`` joins the caller's open transaction;
    ``transact(body)`` runs a command's unit of work in a group commit (shared/unit_of_work/group_commit.py)."""

    def __init__(self, pool: asyncpg.Pool, build: Callable[[Connection], U]) -> None:
        self._pool = pool
        self._build = build
        self._group = GroupCommit(pool)

    async def transact(self, body: Callable[[U], Awaitable[T]]) -> T:
        return await self._group.run(lambda conn: body(self._build(conn)))

    @asynccontextmanager
    async def __call__(self, conn: Any = None) -> AsyncIterator[U]:
        if conn is not None:
            yield self._build(conn)
            return
        async with self._pool.acquire() as own, own.transaction():
            yield self._build(own)


def postgres_units_of_work(pool: asyncpg.Pool, catalog: StreamCatalog) -> PostgresUnitOfWorkFactory[PostgresUnitOfWork]:
    """The plain factory, for a service with no lookups or projections of its own."""
    store = PostgresEventStore(pool)
    return PostgresUnitOfWorkFactory(pool, lambda conn: PostgresUnitOfWork(conn, store, catalog))
