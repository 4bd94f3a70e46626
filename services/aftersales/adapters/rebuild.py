"""Rebuilding the read and lookup tables from the event store (they are disposable: DESIGN §3.7).

Runs in one transaction, so readers see the old tables until the new ones are complete; the relay and the
consumer may keep running (their writes to these tables wait on the TRUNCATE lock and then apply on top).
"""

from __future__ import annotations

from typing import Any

from services.aftersales.adapters.projections import customer_of, project_event, project_state
from services.aftersales.adapters.repository import AFTERSALES_STREAMS
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.events import aftersales_events
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.referral import Referral
from shared.domain import Aggregate
from shared.eventstore.store import PostgresEventStore

READ_TABLES = ("care_plans", "care_visits", "follow_ups", "complaints", "referrals", "loyalty_balances",
               "customer_timeline")
AGGREGATES: dict[str, type[Aggregate]] = {
    cls.stream_type: cls for cls in (CarePlan, Complaint, LoyaltyAccount, Referral)
}


async def rebuild_read_tables(pool: Any) -> int:
    """Truncate and refill every read table from the events; returns how many streams were replayed."""
    store = PostgresEventStore(pool)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"TRUNCATE {', '.join(READ_TABLES)}")
        streams = await conn.fetch(
            "SELECT stream_id, stream_type, min(position) AS first FROM events GROUP BY stream_id, stream_type "
            "ORDER BY first")
        for row in streams:
            cls = AGGREGATES[row["stream_type"]]
            records = await store.load(row["stream_id"], conn=conn)
            events = [aftersales_events.decode(r.event_type, r.data) for r in records]
            aggregate_id = row["stream_id"].removeprefix(AFTERSALES_STREAMS.stream_id(cls, ""))
            aggregate = cls.rehydrate(aggregate_id, events)
            # A stream's customer never changes, so the final state names it for every event.
            for record, event in zip(records, events, strict=True):
                await project_event(conn, event, stream_id=row["stream_id"], stream_version=record.version,
                                    customer_id=customer_of(aggregate), occurred_at=record.occurred_at)
            await project_state(conn, aggregate, now=records[-1].occurred_at)
    return len(streams)
