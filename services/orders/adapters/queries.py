"""List queries over ``order_summaries`` (kept in step with the event store by the repository)."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.orders.app.ports import TeamScope

_COLUMNS = """order_id, version, status, lead_id, consultant_id, customer_name, channel, payment_plan, currency,
    total_minor, paid_minor, financed_minor, outstanding_minor, refund_due_minor, financing,
    delivery_scheduled_for, signed_at, delivered_at"""


# The rows of a manager's team and the team-less ones (shop checkouts); everything when the parameter is NULL.
_IN_TEAM = "({p}::text IS NULL OR team_id = {p} OR team_id IS NULL)"


def _row(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    for key in ("delivery_scheduled_for", "signed_at", "delivered_at"):
        if row[key] is not None:
            row[key] = row[key].isoformat()
    return row


class PostgresOrderQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open_orders(self, consultant_id: str, limit: int, team: TeamScope | None = None
                          ) -> list[dict[str, Any]]:
        """Signed, neither delivered nor cancelled, of one consultant; oldest first."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM order_summaries WHERE status = 'signed' AND consultant_id = $1 "
            f"AND {_IN_TEAM.format(p='$3')} ORDER BY signed_at, order_id LIMIT $2", consultant_id, limit, team)
        return [_row(r) for r in rows]

    async def awaiting_delivery(self, limit: int, team: TeamScope | None = None) -> list[dict[str, Any]]:
        """Open orders by delivery date (unscheduled last); ``ready`` says whether delivery is allowed now."""
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS}, outstanding_minor = 0 AS ready FROM order_summaries WHERE status = 'signed' "
            f"AND {_IN_TEAM.format(p='$2')} "
            "ORDER BY delivery_scheduled_for NULLS LAST, signed_at, order_id LIMIT $1", limit, team)
        return [_row(r) for r in rows]

    async def receivables(self, limit: int, team: TeamScope | None = None) -> dict[str, Any]:
        """What customers still owe on open orders, and refunds still due on cancelled ones, per currency."""
        async with self._pool.acquire() as conn:
            owed = await conn.fetch(
                f"SELECT {_COLUMNS} FROM order_summaries WHERE status = 'signed' AND outstanding_minor > 0 "
                f"AND {_IN_TEAM.format(p='$2')} ORDER BY outstanding_minor DESC, order_id LIMIT $1", limit, team)
            totals = await conn.fetch(
                f"""SELECT currency,
                          coalesce(sum(outstanding_minor) FILTER (WHERE status = 'signed'), 0)::bigint AS owed_minor,
                          coalesce(sum(refund_due_minor) FILTER (WHERE status = 'cancelled'), 0)::bigint
                              AS refunds_due_minor
                   FROM order_summaries WHERE {_IN_TEAM.format(p='$1')} GROUP BY currency ORDER BY currency""",
                team)
        return {"orders": [_row(r) for r in owed], "totals": [dict(t) for t in totals]}

    async def vehicles(self, status: str | None, model: str | None, limit: int) -> list[dict[str, Any]]:
        """The stock, by status and model if asked: the most advanced first, then the longest in stock."""
        rows = await self._pool.fetch(
            """SELECT vin, model, trim, colour, status, logistics_status, order_id, factory_order_ref, registered_at,
                      version
               FROM vehicle_stock WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR model = $2)
               ORDER BY logistics_rank DESC, registered_at, vin LIMIT $3""", status, model, limit)
        return [{**dict(r), "registered_at": r["registered_at"].isoformat()} for r in rows]
