"""Targets in reporting's own event store (stream type ``target``) plus their lines table, in one transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from services.reporting.domain.targets import Target, TargetLine, TargetSet, target_events
from shared.eventstore import PostgresEventStore
from shared.eventstore.records import AppendRequest, NewEvent


class PostgresTargetRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._store = PostgresEventStore(pool)

    async def load(self, stream_id: str) -> Target:
        recorded = await self._store.load(stream_id)
        target = Target.rehydrate(stream_id, [target_events.decode(r.event_type, r.data) for r in recorded])
        return target

    async def save(self, target: Target) -> None:
        events = [e for e in target.pending_events if isinstance(e, TargetSet)]
        new = tuple(NewEvent(event_id=uuid.uuid4(), event_type=e.event_type, data=e.model_dump(mode="json"),
                             occurred_at=e.set_at) for e in events)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._store.append([AppendRequest(target.id, Target.stream_type, target.loaded_version, new)],
                                     conn=conn)
            for e in events:
                await conn.execute(
                    """INSERT INTO public.report_targets (scope, scope_id, month, metric, base, stretch,
                                                          parent_team, version, set_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                       ON CONFLICT (scope, scope_id, month, metric) DO UPDATE SET base = excluded.base,
                         stretch = excluded.stretch, parent_team = excluded.parent_team,
                         version = excluded.version, set_at = excluded.set_at""",
                    e.scope, e.scope_id, e.month, e.metric, e.base, e.stretch, e.parent_team,
                    target.version, e.set_at)

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
