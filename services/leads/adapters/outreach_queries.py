"""Outreach batches over PostgreSQL: which customers a batch selects (read inside its unit of work), the batch's
rows (written by the unit of work after the append) and the batch with its tasks' progress (read side)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.leads.adapters.work_queue_queries import GRADE_RANK, SCOPE_AND_FILTERS, scope_and_filter_args
from services.leads.app.ports import OutreachCandidate
from services.leads.app.work_queue import LeadFilters, ListScope
from services.leads.domain.outreach import Audience, OutreachBatch
from shared.db import Connection

# Lost: each customer's newest lead, lost, and no open lead of that customer. Dormant: open leads before the orders'
# stages without a loss request waiting (the idle filter is the caller's). Both in the lead list's order.
_CANDIDATES = f"""
    WITH picked AS (
        SELECT DISTINCT ON (v.customer_id) v.lead_id, v.customer_id, v.name, v.phone, v.channel, v.interest,
               v.captured_at, {GRADE_RANK} AS grade_rank
        FROM leads_view v
        WHERE {SCOPE_AND_FILTERS.format(assignee="v.owner_id")}
          AND CASE WHEN $11::text = 'lost'
                   THEN v.status = 'lost' AND NOT EXISTS (
                       SELECT 1 FROM leads_view o WHERE o.customer_id = v.customer_id AND o.is_open)
                   ELSE v.is_open AND v.stage NOT IN ('contract_signed', 'delivered') AND NOT v.loss_pending END
        ORDER BY v.customer_id, v.captured_at DESC, v.lead_id
    )
    SELECT lead_id, customer_id, name, phone, channel, interest FROM picked
    ORDER BY grade_rank, captured_at, lead_id
    LIMIT $12"""


async def outreach_candidates(conn: Connection, team_id: str, audience: str, filters: LeadFilters, *,
                              now: datetime, limit: int) -> list[OutreachCandidate]:
    rows = await conn.fetch(_CANDIDATES, *scope_and_filter_args(ListScope(team_id=team_id), filters, now),
                            Audience(audience).value, limit)
    return [OutreachCandidate(r["lead_id"], r["customer_id"], r["name"], r["phone"], r["channel"], r["interest"])
            for r in rows]


async def record_outreach_batch(conn: Connection, batch: OutreachBatch) -> None:
    created = batch.created
    if created is None or batch.loaded_version > 0:
        return  # recorded once, when it was created
    await conn.execute(
        """INSERT INTO leads_outreach_batches (batch_id, team_id, audience, filters, consultant_ids, due_at, note,
               created_by, created_at, selected, reactivated, scheduled)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        batch.id, created.team_id, created.audience, created.filters, created.consultant_ids, created.due_at,
        created.note, created.created_by, created.created_at, created.selected, created.reactivated,
        created.scheduled)
    if created.tasks:
        await conn.executemany(
            """INSERT INTO leads_outreach_tasks (batch_id, position, customer_id, source_lead_id, lead_id,
                   consultant_id, action) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            [(batch.id, i, t.customer_id, t.source_lead_id, t.lead_id, t.consultant_id, t.action)
             for i, t in enumerate(created.tasks)])


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class PostgresOutreachQueries:
    def __init__(self, pool: asyncpg.Pool, clock: Any) -> None:
        self._pool = pool
        self._clock = clock

    async def outreach_batch(self, batch_id: str) -> dict[str, Any] | None:
        batch = await self._pool.fetchrow("SELECT * FROM leads_outreach_batches WHERE batch_id = $1", batch_id)
        if batch is None:
            return None
        tasks = await self._pool.fetch(
            """SELECT t.position, t.customer_id, t.source_lead_id, t.lead_id, t.consultant_id, t.action,
                      v.owner_id, v.stage, v.grade, v.status, v.follow_up_due_at, v.last_activity_at
               FROM leads_outreach_tasks t LEFT JOIN leads_view v ON v.lead_id = t.lead_id
               WHERE t.batch_id = $1 ORDER BY t.position""", batch_id)
        now = self._clock()
        shown = [{**{k: _iso(v) for k, v in dict(t).items()},
                  "progress": _progress(t, created_at=batch["created_at"], due_at=batch["due_at"], now=now)}
                 for t in tasks]
        counts: dict[str, int] = {}
        for task in shown:
            counts[task["progress"]] = counts.get(task["progress"], 0) + 1
        return {**{k: _iso(v) for k, v in dict(batch).items()}, "tasks": shown, "progress": counts}


def _progress(task: asyncpg.Record, *, created_at: datetime, due_at: datetime, now: datetime) -> str:
    """contacted: the lead had activity after the batch; closed: it left the pipeline; else due or overdue."""
    if task["status"] is not None and task["status"] != "open":
        return "closed"
    if task["last_activity_at"] is not None and task["last_activity_at"] > created_at:
        return "contacted"
    return "overdue" if due_at <= now else "due"
