"""Quotes and orders stored as event streams in the service's PostgreSQL event store.

A commit is one transaction: the multi-stream append (expected versions checked, ConcurrencyError otherwise),
the shop-checkout key, the expiry timers and the order summaries. Either all of it is visible or none.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from services.orders.app.ports import (
    QUOTE_EXPIRY_TIMER,
    Changes,
    CheckoutAlreadyRecordedError,
    CommandContext,
    quote_expiry_timer_id,
)
from services.orders.domain.events import order_events
from services.orders.domain.order import Order
from services.orders.domain.quote import Quote
from shared.db import Connection
from shared.domain import Aggregate
from shared.eventstore import AppendRequest, NewEvent, PostgresEventStore, RecordedEvent
from shared.timers import cancel_timer, schedule_timer


def stream_id(aggregate: Aggregate) -> str:
    return f"{aggregate.stream_type}-{aggregate.id}"


class EventSourcedOrders:
    """OrdersStore and History over the event store. ``bound(conn)`` gives a copy that works inside a caller's
    open transaction (the timer runner's), so the timer's "fired" mark commits with the expiry event."""

    def __init__(self, store: PostgresEventStore, pool: asyncpg.Pool, conn: Connection | None = None) -> None:
        self._store = store
        self._pool = pool
        self._conn = conn

    def bound(self, conn: Connection) -> EventSourcedOrders:
        return EventSourcedOrders(self._store, self._pool, conn)

    async def quote(self, quote_id: str) -> Quote | None:
        records = await self._store.load(f"quote-{quote_id}", conn=self._conn)
        return Quote.rehydrate(quote_id, _decode(records)) if records else None

    async def order(self, order_id: str) -> Order | None:
        records = await self._store.load(f"order-{order_id}", conn=self._conn)
        return Order.rehydrate(order_id, _decode(records)) if records else None

    async def order_for_shop_order(self, shop_order_id: str) -> str | None:
        executor = self._conn or self._pool
        found: str | None = await executor.fetchval(
            "SELECT order_id FROM shop_checkouts WHERE shop_order_id = $1", shop_order_id)
        return found

    async def commit(self, changes: Changes, *, context: CommandContext, now: datetime) -> dict[str, int]:
        async with self._transaction() as tx:
            if changes.shop_order is not None:
                await _claim_shop_order(tx, *changes.shop_order)
            requests = [
                AppendRequest(stream_id(a), a.stream_type, a.loaded_version, _new_events(a, context, now))
                for a in changes.aggregates
            ]
            versions = await self._store.append(requests, conn=tx)
            for quote_id, due_at in changes.schedule_expiry:
                await schedule_timer(tx, quote_expiry_timer_id(quote_id), QUOTE_EXPIRY_TIMER, due_at,
                                     {"quote_id": quote_id})
            for quote_id in changes.cancel_expiry:
                await cancel_timer(tx, quote_expiry_timer_id(quote_id))
            for aggregate in changes.aggregates:
                if isinstance(aggregate, Order):
                    await _upsert_summary(tx, aggregate, versions[stream_id(aggregate)], now)
        return versions

    async def rebuild_summaries(self) -> int:
        """Recompute ``order_summaries`` from the order streams (the table is derived data; this is how ops
        repair or re-shape it). Each order is re-read and upserted in its own short transaction, so writers are
        not blocked; an order changed meanwhile is upserted by its own command anyway. Returns the count."""
        order_ids = [r["id"] for r in await self._pool.fetch(
            "SELECT DISTINCT substr(stream_id, 7) AS id FROM events WHERE stream_type = 'order'")]
        for order_id in order_ids:
            async with self._pool.acquire() as conn, conn.transaction():
                records = await self._store.load(f"order-{order_id}", conn=conn)
                order = Order.rehydrate(order_id, _decode(records))
                await _upsert_summary(conn, order, order.version, records[-1].recorded_at)
        return len(order_ids)

    async def history(self, stream_type: str, aggregate_id: str) -> list[dict[str, Any]]:
        records = await self._store.load(f"{stream_type}-{aggregate_id}", conn=self._conn)
        return [r.audit_entry() for r in records]

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        if self._conn is not None:
            async with self._conn.transaction():  # a savepoint inside the caller's transaction
                yield self._conn
            return
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn


async def _claim_shop_order(tx: Connection, shop_order_id: str, order_id: str) -> None:
    # ON CONFLICT DO NOTHING waits for a concurrent inserter of the same key to finish; if it committed we get
    # no row back and report its order instead of creating a second one.
    claimed = await tx.fetchval(
        "INSERT INTO shop_checkouts (shop_order_id, order_id) VALUES ($1, $2) "
        "ON CONFLICT (shop_order_id) DO NOTHING RETURNING order_id", shop_order_id, order_id)
    if claimed is None:
        existing = await tx.fetchval("SELECT order_id FROM shop_checkouts WHERE shop_order_id = $1", shop_order_id)
        raise CheckoutAlreadyRecordedError(shop_order_id, existing)


def _new_events(aggregate: Aggregate, context: CommandContext, now: datetime) -> tuple[NewEvent, ...]:
    return tuple(
        NewEvent(event_id=uuid.uuid4(), event_type=e.event_type, schema_version=e.schema_version,
                 data=e.model_dump(mode="json"), occurred_at=now, metadata=context.metadata())
        for e in aggregate.pending_events
    )


def _decode(records: list[RecordedEvent]) -> list[Any]:
    return [order_events.decode(r.event_type, r.data) for r in records]


async def _upsert_summary(tx: Connection, order: Order, version: int, now: datetime) -> None:
    signed = order.signed
    assert signed is not None
    await tx.execute(
        """INSERT INTO order_summaries (order_id, version, status, lead_id, consultant_id, customer_name, channel,
               payment_plan, currency, total_minor, paid_minor, financed_minor, outstanding_minor,
               refund_due_minor, financing, delivery_scheduled_for, signed_at, delivered_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
           ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status,
               paid_minor = EXCLUDED.paid_minor, financed_minor = EXCLUDED.financed_minor,
               outstanding_minor = EXCLUDED.outstanding_minor, refund_due_minor = EXCLUDED.refund_due_minor,
               financing = EXCLUDED.financing, delivery_scheduled_for = EXCLUDED.delivery_scheduled_for,
               delivered_at = EXCLUDED.delivered_at, updated_at = EXCLUDED.updated_at""",
        order.id, version, order.status.value, signed.lead_id, signed.consultant_id, signed.customer_name,
        signed.channel, signed.payment_plan, signed.currency, signed.total_minor, order.paid_minor,
        order.financed_minor, order.outstanding_minor, order.refund_due_minor, order.financing.value,
        order.delivery_scheduled_for, signed.signed_at, order.delivered_at, now,
    )
