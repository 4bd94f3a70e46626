"""The subscriptions and the delivery queue in the service's PostgreSQL database (migrations/0001)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.webhooks.app.ports import DueDelivery
from services.webhooks.domain.subscriptions import Subscription
from shared.db import Connection


async def enqueue(conn: Connection, event_id: str, event_type: str, body: bytes) -> int:
    """Queue the event for every active subscription to its type (in the caller's transaction)."""
    queued = await conn.fetchval(
        """WITH queued AS (
               INSERT INTO webhook_deliveries (delivery_id, subscription_id, event_id, event_type, body,
                                               next_attempt_at)
               SELECT gen_random_uuid(), subscription_id, $1::uuid, $2, $3, now()
               FROM webhook_subscriptions WHERE active AND $2 = ANY(event_types)
               ON CONFLICT (subscription_id, event_id) DO NOTHING RETURNING 1)
           SELECT count(*) FROM queued""", event_id, event_type, body)
    return int(queued)


class PostgresDeliveryQueue:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim_due(self, limit: int, lease_seconds: float) -> list[DueDelivery]:
        # SKIP LOCKED: several dispatchers (workers, replicas) share the queue without taking a row twice; the
        # lease moves next_attempt_at on, so the row stays claimed after this short transaction commits.
        rows = await self._pool.fetch(
            """UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $2)
               FROM webhook_subscriptions s
               WHERE s.subscription_id = d.subscription_id AND d.delivery_id IN (
                   SELECT delivery_id FROM webhook_deliveries
                   WHERE status = 'pending' AND next_attempt_at <= now()
                   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
               RETURNING d.delivery_id, s.url, s.secret, d.body, d.rounds""", limit, lease_seconds)
        return [DueDelivery(str(r["delivery_id"]), r["url"], r["secret"], bytes(r["body"]), r["rounds"])
                for r in rows]

    async def delivered(self, delivery_id: str, *, attempts: int, status: int, at: datetime) -> None:
        await self._pool.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + $2, last_status = $3, "
            "delivered_at = $4, last_error = NULL WHERE delivery_id = $1", delivery_id, attempts, status, at)

    async def failed(self, delivery_id: str, *, attempts: int, error: str, status: int | None,
                     retry_in_seconds: float | None) -> None:
        await self._pool.execute(
            """UPDATE webhook_deliveries SET attempts = attempts + $2, rounds = rounds + 1, last_error = $3,
                   last_status = $4,
                   status = CASE WHEN $5::float8 IS NULL THEN 'dead' ELSE 'pending' END,
                   next_attempt_at = CASE WHEN $5::float8 IS NULL THEN next_attempt_at
                                          ELSE now() + make_interval(secs => $5::float8) END
               WHERE delivery_id = $1""", delivery_id, attempts, error[:1000], status, retry_in_seconds)


class PostgresSubscriptions:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, subscription: Subscription) -> None:
        await self._pool.execute(
            "INSERT INTO webhook_subscriptions (subscription_id, client_id, url, event_types, secret) "
            "VALUES ($1, $2, $3, $4, $5)", subscription.subscription_id, subscription.client_id, subscription.url,
            list(subscription.event_types), subscription.secret)

    async def of_client(self, client_id: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT subscription_id, client_id, url, event_types, created_at FROM webhook_subscriptions "
            "WHERE client_id = $1 AND active ORDER BY created_at", client_id)
        return [_subscription(r) for r in rows]

    async def get(self, client_id: str, subscription_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(
            "SELECT subscription_id, client_id, url, event_types, created_at FROM webhook_subscriptions "
            "WHERE client_id = $1 AND subscription_id = $2 AND active", client_id, subscription_id)
        return _subscription(row) if row else None

    async def deactivate(self, client_id: str, subscription_id: str) -> bool:
        done = await self._pool.execute(
            "UPDATE webhook_subscriptions SET active = false WHERE client_id = $1 AND subscription_id = $2 "
            "AND active", client_id, subscription_id)
        return bool(done.endswith(" 1"))

    async def deliveries(self, client_id: str, subscription_id: str, status: str | None,
                         limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """SELECT d.delivery_id, d.event_id, d.event_type, d.status, d.attempts, d.rounds, d.last_error,
                      d.last_status, d.next_attempt_at, d.created_at, d.delivered_at
               FROM webhook_deliveries d JOIN webhook_subscriptions s USING (subscription_id)
               WHERE s.client_id = $1 AND d.subscription_id = $2 AND ($3::text IS NULL OR d.status = $3)
               ORDER BY d.created_at LIMIT $4""", client_id, subscription_id, status, limit)
        return [{**dict(r), "delivery_id": str(r["delivery_id"]), "event_id": str(r["event_id"])} for r in rows]

    async def redeliver(self, client_id: str, delivery_id: str) -> bool:
        done = await self._pool.execute(
            """UPDATE webhook_deliveries d SET status = 'pending', rounds = 0, next_attempt_at = now()
               FROM webhook_subscriptions s
               WHERE s.subscription_id = d.subscription_id AND s.client_id = $1 AND d.delivery_id = $2::uuid
                 AND d.status = 'dead'""", client_id, delivery_id)
        return bool(done.endswith(" 1"))


def _subscription(row: asyncpg.Record) -> dict[str, Any]:
    return {"subscription_id": row["subscription_id"], "client_id": row["client_id"], "url": row["url"],
            "event_types": list(row["event_types"]), "created_at": row["created_at"]}
