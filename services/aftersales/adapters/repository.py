"""The after-sales aggregates over the service's PostgreSQL event store.

``commit`` is the unit of work: in one transaction it appends the pending events of every changed aggregate
(each expecting its loaded version), updates the read/lookup tables and schedules or cancels the durable timers
the events imply. Either all of it commits or none of it — with ``tx`` it is part of the caller's transaction
(the idempotent consumer's batch, the timer runner's firing), which then also covers the processed-message id
or the timer's "fired" mark.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from services.aftersales.adapters.projections import customer_of, project_event, project_state
from services.aftersales.app.ports import CommandContext, Tx
from services.aftersales.app.timers import CancelTimer, ScheduleTimer, timer_changes
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.events import aftersales_events
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.referral import Referral
from shared.domain import Aggregate
from shared.eventstore import AppendRequest, NewEvent, PostgresEventStore
from shared.timers import cancel_timer, schedule_timer

A = TypeVar("A", bound=Aggregate)

STREAM_PREFIX: dict[type[Aggregate], str] = {
    CarePlan: "care-plan-", Complaint: "complaint-", LoyaltyAccount: "loyalty-", Referral: "referral-",
}


def stream_id(cls: type[Aggregate], aggregate_id: str) -> str:
    return f"{STREAM_PREFIX[cls]}{aggregate_id}"


class EventSourcedAftersales:
    """AftersalesStore, Lookups and History over the event store."""

    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore | None = None) -> None:
        self._pool = pool
        self._store = store or PostgresEventStore(pool)

    @asynccontextmanager
    async def _transaction(self, tx: Tx | None) -> AsyncIterator[Any]:
        if tx is not None:
            yield tx
            return
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def load(self, cls: type[A], aggregate_id: str, *, tx: Tx | None = None) -> A | None:
        records = await self._store.load(stream_id(cls, aggregate_id), conn=tx)
        if not records:
            return None
        return cls.rehydrate(aggregate_id, (aftersales_events.decode(r.event_type, r.data) for r in records))

    async def commit(
        self, changed: Sequence[Aggregate], *, context: CommandContext, now: datetime, tx: Tx | None = None
    ) -> dict[str, int]:
        changed = [a for a in changed if a.pending_events]
        if not changed:
            return {}
        metadata = context.metadata()
        requests = [
            AppendRequest(
                stream_id(type(a), a.id), a.stream_type, a.loaded_version,
                tuple(NewEvent(event_id=uuid.uuid4(), event_type=e.event_type, schema_version=e.schema_version,
                               data=e.model_dump(mode="json"), occurred_at=now, metadata=metadata)
                      for e in a.pending_events),
            )
            for a in changed
        ]
        async with self._transaction(tx) as conn:
            versions = await self._store.append(requests, conn=conn)
            for aggregate in changed:
                sid = stream_id(type(aggregate), aggregate.id)
                for event in aggregate.pending_events:
                    await project_event(conn, event, stream_id=sid, customer_id=customer_of(aggregate),
                                        occurred_at=now)
                    cycle = aggregate.cycle if isinstance(aggregate, Complaint) else 1
                    for change in timer_changes(event, cycle=cycle):
                        if isinstance(change, ScheduleTimer):
                            await schedule_timer(conn, change.timer_id, change.kind, change.due_at, change.payload)
                        elif isinstance(change, CancelTimer):
                            await cancel_timer(conn, change.timer_id)
                await project_state(conn, aggregate, now=now)
        return {a.id: versions[stream_id(type(a), a.id)] for a in changed}

    # --- Lookups ---

    async def referral_for_lead(self, lead_id: str, *, tx: Tx | None = None) -> str | None:
        value = await (tx or self._pool).fetchval("SELECT referral_id FROM referrals WHERE lead_id = $1", lead_id)
        return str(value) if value is not None else None

    async def delivered_order_for_lead(self, lead_id: str, *, tx: Tx | None = None) -> str | None:
        value = await (tx or self._pool).fetchval(
            "SELECT order_id FROM care_plans WHERE lead_id = $1 ORDER BY delivered_at LIMIT 1", lead_id)
        return str(value) if value is not None else None

    # --- History ---

    async def history(self, stream: str) -> list[dict[str, Any]]:
        return [r.audit_entry() for r in await self._store.load(stream)]
