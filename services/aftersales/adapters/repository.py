"""The after-sales aggregates over the service's PostgreSQL event store.

The unit of work is the kernel's (``shared.unit_of_work.postgres``): in one transaction it appends the pending
events of every changed aggregate (each expecting its loaded version), then this service's hook updates the
read/lookup tables, and the timer plans the events imply (``app.timers.timer_plans``, handed in by main) are
scheduled or cancelled. Either all of it commits or none of it — joining a caller's transaction (the idempotent
consumer's batch, the timer runner's firing), which then also covers the processed-message id or the timer's
"fired" mark.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from services.aftersales.adapters.projections import customer_of, project_event, project_state
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.events import aftersales_events
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.referral import Referral
from shared.db import Connection
from shared.domain import Aggregate
from shared.eventstore.store import PostgresEventStore
from shared.unit_of_work.core import StreamCatalog, TimerPlanner
from shared.unit_of_work.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory

A = TypeVar("A", bound=Aggregate)

AFTERSALES_STREAMS = StreamCatalog({
    CarePlan: ("care-plan-", aftersales_events), Complaint: ("complaint-", aftersales_events),
    LoyaltyAccount: ("loyalty-", aftersales_events), Referral: ("referral-", aftersales_events),
})


def stream_id(cls: type[Aggregate], aggregate_id: str) -> str:
    return AFTERSALES_STREAMS.stream_id(cls, aggregate_id)


class PostgresAftersalesUnitOfWork(PostgresUnitOfWork):
    def __init__(self, conn: Connection, store: PostgresEventStore, plan_timers: TimerPlanner) -> None:
        super().__init__(conn, store, AFTERSALES_STREAMS, plan_timers=plan_timers)

    async def after_append(self, now: datetime) -> None:
        for aggregate in self.added:
            if not aggregate.pending_events:
                continue
            sid = self.catalog.stream_of(aggregate)
            # The pending events were appended right after the version the aggregate was loaded at.
            for n, event in enumerate(aggregate.pending_events, start=aggregate.loaded_version + 1):
                await project_event(self.conn, event, stream_id=sid, stream_version=n,
                                    customer_id=customer_of(aggregate), occurred_at=now)
            await project_state(self.conn, aggregate, now=now)

    async def referral_for_lead(self, lead_id: str) -> str | None:
        value = await self.conn.fetchval("SELECT referral_id FROM referrals WHERE lead_id = $1", lead_id)
        return str(value) if value is not None else None

    async def delivered_order_for_lead(self, lead_id: str) -> str | None:
        value = await self.conn.fetchval(
            "SELECT order_id FROM care_plans WHERE lead_id = $1 ORDER BY delivered_at LIMIT 1", lead_id)
        return str(value) if value is not None else None


def postgres_aftersales_units_of_work(
    pool: asyncpg.Pool, store: PostgresEventStore, plan_timers: TimerPlanner
) -> PostgresUnitOfWorkFactory[PostgresAftersalesUnitOfWork]:
    """``factory()`` opens a transaction from the pool; ``factory(conn)`` joins the caller's transaction."""
    return PostgresUnitOfWorkFactory(pool, lambda conn: PostgresAftersalesUnitOfWork(conn, store, plan_timers))


class EventSourcedAftersales:
    """The read side over the event store: aggregates for the read endpoints (AftersalesStore) and History."""

    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore | None = None) -> None:
        self._pool = pool
        self._store = store or PostgresEventStore(pool)

    async def load(self, cls: type[A], aggregate_id: str) -> A | None:
        records = await self._store.load(stream_id(cls, aggregate_id))
        if not records:
            return None
        return cls.rehydrate(aggregate_id, AFTERSALES_STREAMS.decode(cls, records))

    async def history(self, stream: str) -> list[dict[str, Any]]:
        return [r.audit_entry() for r in await self._store.load(stream)]
