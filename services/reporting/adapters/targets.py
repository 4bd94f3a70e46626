"""Targets in reporting's own event store (stream type ``target``) plus their lines table, in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.reporting.domain.targets import Target, TargetLine, TargetSet, target_events
from shared.db import Connection
from shared.eventstore.store import PostgresEventStore
from shared.unit_of_work.core import StreamCatalog
from shared.unit_of_work.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory

TARGET_STREAMS = StreamCatalog({Target: ("", target_events)})  # a target's id is its stream id


class PostgresTargetsUnitOfWork(PostgresUnitOfWork):
    def __init__(self, conn: Connection, store: PostgresEventStore) -> None:
        super().__init__(conn, store, TARGET_STREAMS)

    async def after_append(self, now: datetime) -> None:
        for target in self.added:
            for e in target.pending_events:
                assert isinstance(e, TargetSet)
                await self.conn.execute(
                    """INSERT INTO public.report_targets (scope, scope_id, month, metric, base, stretch,
                                                          parent_team, version, set_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                       ON CONFLICT (scope, scope_id, month, metric) DO UPDATE SET base = excluded.base,
                         stretch = excluded.stretch, parent_team = excluded.parent_team,
                         version = excluded.version, set_at = excluded.set_at""",
                    e.scope, e.scope_id, e.month, e.metric, e.base, e.stretch, e.parent_team,
                    target.version, e.set_at)


def postgres_targets_units_of_work(pool: asyncpg.Pool) -> PostgresUnitOfWorkFactory[PostgresTargetsUnitOfWork]:
    store = PostgresEventStore(pool)
    return PostgresUnitOfWorkFactory(pool, lambda conn: PostgresTargetsUnitOfWork(conn, store))


class PostgresTargetRepository:
    """The target lines, current (``report_targets``) or as of a past moment (from the streams)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def lines(self, *, month: str | None = None, as_of: datetime | None = None) -> list[TargetLine]:
        if as_of is not None:  # the targets as they stood then: the latest TargetSet per stream at that moment
            events: list[Any] = await self._pool.fetch(
                """SELECT DISTINCT ON (stream_id) data FROM events
                   WHERE stream_type = 'target' AND occurred_at <= $1 ORDER BY stream_id, version DESC""", as_of)
            return sorted((TargetLine(d["scope"], d["scope_id"], d["month"], d["metric"], float(d["base"]),
                                      None if d["stretch"] is None else float(d["stretch"]), d["parent_team"])
                           for d in (e["data"] for e in events) if month is None or d["month"] == month),
                          key=lambda t: (t.scope, t.scope_id, t.month, t.metric))
        rows: list[Any] = await self._pool.fetch(
            "SELECT * FROM public.report_targets WHERE $1::text IS NULL OR month = $1 "
            "ORDER BY scope, scope_id, month, metric", month)
        return [TargetLine(r["scope"], r["scope_id"], r["month"], r["metric"], float(r["base"]),
                           None if r["stretch"] is None else float(r["stretch"]), r["parent_team"]) for r in rows]
