"""Quotes and orders stored as event streams in the service's PostgreSQL event store.

The unit of work is the kernel's (``shared.unit_of_work.postgres``) plus what is the service's own: the
shop-checkout key, claimed before the append, and the order summaries, written after it. One transaction: either
all of it is visible or none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.orders.app.ports import CheckoutAlreadyRecordedError, CommandContext, RecordedCheckout
from services.orders.domain.catalogue import PriceList
from services.orders.domain.events import order_events
from services.orders.domain.order import Order
from services.orders.domain.quote import Quote
from services.orders.domain.vehicle import LOGISTICS_ORDER, Vehicle, VehicleSpec
from services.orders.domain.vehicle_events import vehicle_events
from shared.db import Connection
from shared.eventstore import RecordedEvent
from shared.eventstore.store import PostgresEventStore
from shared.unit_of_work.core import StreamCatalog
from shared.unit_of_work.postgres import PostgresUnitOfWork, PostgresUnitOfWorkFactory

ORDERS_STREAMS = StreamCatalog({Quote: ("quote-", order_events), Order: ("order-", order_events),
                                PriceList: ("price-list-", order_events), Vehicle: ("vehicle-", vehicle_events)})


class PostgresOrdersUnitOfWork(PostgresUnitOfWork):
    def __init__(self, conn: Connection, store: PostgresEventStore) -> None:
        super().__init__(conn, store, ORDERS_STREAMS)
        self._shop_order: tuple[str, str, dict[str, Any]] | None = None

    async def recorded_checkout(self, shop_order_id: str) -> RecordedCheckout | None:
        return await _recorded_checkout(self.conn, shop_order_id)

    def claim_shop_order(self, shop_order_id: str, order_id: str, terms: dict[str, Any]) -> None:
        self._shop_order = (shop_order_id, order_id, terms)

    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]:
        if self._shop_order is not None:  # a new order's stream: writing before the append cannot reorder it
            await _claim_shop_order(self.conn, *self._shop_order)
        return await super().commit(context, now)

    async def free_vehicles(self, spec: VehicleSpec, limit: int) -> list[str]:
        rows = await self.conn.fetch(
            """SELECT vin FROM vehicle_stock WHERE order_id IS NULL AND status <> 'delivered'
                   AND ($1::text IS NULL OR model = $1) AND ($2::text IS NULL OR trim = $2)
                   AND ($3::text IS NULL OR colour = $3)
               ORDER BY logistics_rank DESC, registered_at, vin LIMIT $4""",
            spec.model, spec.trim, spec.colour, limit)
        return [r["vin"] for r in rows]

    async def after_append(self, now: datetime) -> None:
        for aggregate in self.added:
            if isinstance(aggregate, Order) and aggregate.pending_events:
                await _upsert_summary(self.conn, aggregate, aggregate.version, now)
            elif isinstance(aggregate, Vehicle) and aggregate.pending_events:
                await _upsert_stock(self.conn, aggregate, now)


def postgres_orders_units_of_work(
    pool: asyncpg.Pool, store: PostgresEventStore
) -> PostgresUnitOfWorkFactory[PostgresOrdersUnitOfWork]:
    """``factory()`` opens a transaction from the pool; ``factory(conn)`` joins the caller's (the timer runner's)."""
    return PostgresUnitOfWorkFactory(pool, lambda conn: PostgresOrdersUnitOfWork(conn, store))


class EventSourcedOrders:
    """The read side over the event store: quotes and orders for the read endpoints, their history, and the
    order summaries' rebuild."""

    def __init__(self, store: PostgresEventStore, pool: asyncpg.Pool) -> None:
        self._store = store
        self._pool = pool

    async def quote(self, quote_id: str) -> Quote | None:
        records = await self._store.load(f"quote-{quote_id}")
        return Quote.rehydrate(quote_id, _decode(records)) if records else None

    async def order(self, order_id: str) -> Order | None:
        records = await self._store.load(f"order-{order_id}")
        return Order.rehydrate(order_id, _decode(records)) if records else None

    async def price_list(self, currency: str) -> PriceList | None:
        records = await self._store.load(f"price-list-{currency}")
        return PriceList.rehydrate(currency, _decode(records)) if records else None

    async def vehicle(self, vin: str) -> Vehicle | None:
        records = await self._store.load(f"vehicle-{vin}")
        return Vehicle.rehydrate(vin, [vehicle_events.decode(r.event_type, r.data) for r in records]) if records \
            else None

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
                # The last command's own time, as its live upsert wrote it (recorded_at is the database's clock).
                await _upsert_summary(conn, order, order.version, records[-1].occurred_at)
        return len(order_ids)

    async def history(self, stream_type: str, aggregate_id: str) -> list[dict[str, Any]]:
        records = await self._store.load(f"{stream_type}-{aggregate_id}")
        return [r.audit_entry() for r in records]


async def _recorded_checkout(tx: Connection, shop_order_id: str) -> RecordedCheckout | None:
    row = await tx.fetchrow("SELECT order_id, terms FROM shop_checkouts WHERE shop_order_id = $1", shop_order_id)
    return RecordedCheckout(row["order_id"], row["terms"]) if row else None


async def _claim_shop_order(tx: Connection, shop_order_id: str, order_id: str, terms: dict[str, Any]) -> None:
    # ON CONFLICT DO NOTHING waits for a concurrent inserter of the same key to finish; if it committed we get
    # no row back and report its order (and terms, to compare) instead of creating a second one.
    claimed = await tx.fetchval(
        "INSERT INTO shop_checkouts (shop_order_id, order_id, terms) VALUES ($1, $2, $3) "
        "ON CONFLICT (shop_order_id) DO NOTHING RETURNING order_id", shop_order_id, order_id, terms)
    if claimed is None:
        recorded = await _recorded_checkout(tx, shop_order_id)
        assert recorded is not None  # the conflicting row committed: it is visible to this statement's snapshot
        raise CheckoutAlreadyRecordedError(shop_order_id, recorded)


def _decode(records: list[RecordedEvent]) -> list[Any]:
    return [order_events.decode(r.event_type, r.data) for r in records]


async def _upsert_summary(tx: Connection, order: Order, version: int, now: datetime) -> None:
    signed = order.signed
    assert signed is not None
    await tx.execute(
        """INSERT INTO order_summaries (order_id, version, status, lead_id, consultant_id, customer_name, channel,
               payment_plan, currency, total_minor, paid_minor, financed_minor, outstanding_minor,
               refund_due_minor, financing, delivery_scheduled_for, signed_at, delivered_at, updated_at, team_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
           ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status,
               paid_minor = EXCLUDED.paid_minor, financed_minor = EXCLUDED.financed_minor,
               outstanding_minor = EXCLUDED.outstanding_minor, refund_due_minor = EXCLUDED.refund_due_minor,
               financing = EXCLUDED.financing, delivery_scheduled_for = EXCLUDED.delivery_scheduled_for,
               delivered_at = EXCLUDED.delivered_at, updated_at = EXCLUDED.updated_at""",
        order.id, version, order.status.value, signed.lead_id, signed.consultant_id, signed.customer_name,
        signed.channel, signed.payment_plan, signed.currency, signed.total_minor, order.paid_minor,
        order.financed_minor, order.outstanding_minor, order.refund_due_minor, order.financing.value,
        order.delivery_scheduled_for, signed.signed_at, order.delivered_at, now, signed.team_id,
    )


async def _upsert_stock(tx: Connection, vehicle: Vehicle, now: datetime) -> None:
    await tx.execute(
        """INSERT INTO vehicle_stock (vin, version, model, trim, colour, logistics_status, status, logistics_rank,
               order_id, factory_order_ref, registered_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (vin) DO UPDATE SET version = EXCLUDED.version, logistics_status = EXCLUDED.logistics_status,
               status = EXCLUDED.status, logistics_rank = EXCLUDED.logistics_rank, order_id = EXCLUDED.order_id,
               updated_at = EXCLUDED.updated_at""",
        vehicle.id, vehicle.version, vehicle.model, vehicle.trim, vehicle.colour, vehicle.logistics.value,
        vehicle.status, LOGISTICS_ORDER.index(vehicle.logistics), vehicle.order_id, vehicle.factory_order_ref,
        vehicle.registered_at, now,
    )
