"""The customer page's read model in PostgreSQL (migration 0010; app/customer_history.py says what it holds).

Writing runs in the consumer's transaction. Reading finds a customer's rows through what the leads service knows
of the customer at read time: their leads (``leads_view``, which follows merges), the customer ids merged into
them (``leads_customer_merges``, chains followed), the orders of those leads (the reactions' ``leads_orders``
links and the orders' own ``lead_id``) and the customer ids those orders were sold under (a checkout's may be the
shop's).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.leads.app.customer_history import Recorded

_RECORD = """
INSERT INTO leads_customer_events (event_id, source, event_type, occurred_at, lead_id, order_id, customer_ref,
                                   subject, summary)
SELECT $1, $2, $3, $4, COALESCE($5, first.lead_id), COALESCE($6, first.order_id), COALESCE($7, first.customer_ref),
       $8, $9::jsonb
FROM (SELECT 1) AS one LEFT JOIN LATERAL (
    SELECT lead_id, order_id, customer_ref FROM leads_customer_events
    WHERE subject = $8 ORDER BY occurred_at LIMIT 1) AS first ON true
ON CONFLICT (event_id) DO NOTHING"""

# An event older than the row (a backfill replaying history while the live consumer applies newer events;
# backfill.py) only fills what the row lacks, so the order's state never moves back.
_ORDER = """
INSERT INTO leads_customer_orders AS o (order_id, lead_id, customer_ref, status, total_minor, paid_minor, currency,
                                        signed_at, updated_at, vin, plate)
VALUES ($1, $2, $3, $4, $5, COALESCE($6, 0), $7, $8, $9, CASE WHEN $11 THEN NULL ELSE $10 END,
        CASE WHEN $13 THEN NULL ELSE $12 END)
ON CONFLICT (order_id) DO UPDATE SET
    vin = CASE WHEN EXCLUDED.updated_at < o.updated_at THEN COALESCE(o.vin, EXCLUDED.vin)
               WHEN $11 THEN NULL ELSE COALESCE($10, o.vin) END,
    plate = CASE WHEN EXCLUDED.updated_at < o.updated_at THEN COALESCE(o.plate, EXCLUDED.plate)
                 WHEN $13 THEN NULL ELSE COALESCE($12, o.plate) END,
    paid_minor = CASE WHEN EXCLUDED.updated_at < o.updated_at THEN o.paid_minor ELSE COALESCE($6, o.paid_minor) END,
""" + ",\n".join(
    f"    {column} = CASE WHEN EXCLUDED.updated_at < o.updated_at THEN COALESCE(o.{column}, EXCLUDED.{column}) "
    f"ELSE COALESCE(EXCLUDED.{column}, o.{column}) END"
    for column in ("lead_id", "customer_ref", "status", "total_minor", "currency", "signed_at")
) + ",\n    updated_at = GREATEST(o.updated_at, EXCLUDED.updated_at)"

_POINTS = """
INSERT INTO leads_customer_points AS p (customer_ref, balance, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (customer_ref) DO UPDATE SET balance = EXCLUDED.balance, updated_at = EXCLUDED.updated_at
WHERE p.updated_at <= EXCLUDED.updated_at"""

_CUSTOMER_IDS = """
WITH RECURSIVE merged(customer_id) AS (
    SELECT $1::text
    UNION SELECT m.merged_customer_id FROM leads_customer_merges m JOIN merged ON m.survivor_id = merged.customer_id)
SELECT customer_id FROM merged"""

_ORDERS = """
SELECT order_id, lead_id, customer_ref, status, total_minor, paid_minor, currency, signed_at, updated_at, vin, plate
FROM leads_customer_orders
WHERE lead_id = ANY($1::text[]) OR customer_ref = ANY($2::text[])
   OR order_id IN (SELECT order_id FROM leads_orders WHERE lead_id = ANY($1::text[]))
ORDER BY signed_at NULLS LAST, order_id"""

_EVENTS = """
SELECT event_id::text, source, event_type, occurred_at, lead_id, order_id, customer_ref, subject, summary
FROM leads_customer_events
WHERE lead_id = ANY($1::text[]) OR order_id = ANY($2::text[]) OR customer_ref = ANY($3::text[])
ORDER BY occurred_at, event_id"""


def _plain(record: asyncpg.Record) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(record).items()}


class PostgresCustomerHistory:
    """CustomerHistoryWriter and CustomerHistoryQueries."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, conn: Any, recorded: Recorded) -> None:
        a = recorded.activity
        await conn.execute(_RECORD, a.event_id, a.source, a.event_type, a.occurred_at, a.lead_id, a.order_id,
                           a.customer_ref, a.subject, a.summary)
        if (change := recorded.order) is not None:
            await conn.execute(_ORDER, change.order_id, change.lead_id, change.customer_ref, change.status,
                               change.total_minor, change.paid_minor, change.currency, change.signed_at, change.at,
                               change.vin, change.vin_released, change.plate, change.plate_released)
        if (points := recorded.points) is not None:
            await conn.execute(_POINTS, points.customer_ref, points.balance, points.at)

    async def customer_activity(self, customer_id: str, lead_ids: list[str]) -> dict[str, Any]:
        """``merged_customer_ids``, ``orders`` (current state), ``points`` (None: aftersales published none) and
        ``events`` (time order) of the customer and its leads, one snapshot."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            customer_ids = [r["customer_id"] for r in await conn.fetch(_CUSTOMER_IDS, customer_id)]
            orders = await conn.fetch(_ORDERS, lead_ids, customer_ids)
            refs = sorted({*customer_ids, *(r["customer_ref"] for r in orders if r["customer_ref"])})
            points = await conn.fetchval(
                "SELECT sum(balance) FROM leads_customer_points WHERE customer_ref = ANY($1::text[])", refs)
            events = await conn.fetch(_EVENTS, lead_ids, [r["order_id"] for r in orders], refs)
        return {"merged_customer_ids": [c for c in customer_ids if c != customer_id],
                "orders": [_plain(r) for r in orders], "points": None if points is None else int(points),
                "events": [_plain(r) for r in events]}
