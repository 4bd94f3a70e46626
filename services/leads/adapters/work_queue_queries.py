"""The work queue and filtered lead lists over ``leads_work_items`` and ``leads_view``, keyset-paged
(shared/runtime/pagination.py): the scope and the filters are applied in SQL before the LIMIT, so a page is full
whenever more rows exist, and the cursor holds the sort key of the last row shown, so rows inserted meanwhile do
not shift the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.leads.app.work_queue import LeadFilters, ListScope, WorkFilters
from services.leads.domain.work_queue import GRADE_ORDER
from shared.pagination import Page, decode_cursor, page_of

WORK_QUEUE = "work-queue"
LEAD_LIST = "leads"

# $1..$4: the scope (ListScope); $5..$9: the lead filters; then the list's own parameters.
SCOPE_AND_FILTERS = """
    ($1::boolean OR v.team_id = $2::text OR {assignee} = $3::text OR (v.pooled AND v.team_id = $4::text))
    AND ($5::text IS NULL OR v.grade = $5) AND ($6::text IS NULL OR v.stage = $6)
    AND ($7::text IS NULL OR v.channel = $7)
    AND ($8::timestamptz IS NULL OR COALESCE(v.last_activity_at, v.captured_at) <= $8)
    AND ($9::text IS NULL OR v.lost_reason = $9)"""

# The grade's place in the queue order (domain/work_queue.py GRADE_ORDER, passed as $10; unknown grades last).
GRADE_RANK = f"COALESCE(array_position($10::text[], v.grade), {len(GRADE_ORDER) + 1})"


def scope_and_filter_args(scope: ListScope, filters: LeadFilters, now: datetime) -> list[Any]:
    return [scope.everything, scope.team_id, scope.own, scope.pool_team_id, filters.grade, filters.stage,
            filters.channel, filters.idle_since(now), filters.lost_reason, list(GRADE_ORDER)]


def _iso(record: asyncpg.Record) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(record).items()}


class PostgresWorkQueueQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def work_queue(self, scope: ListScope, filters: WorkFilters, *, assignee_id: str | None,
                         now: datetime, cursor: str | None, limit: int) -> Page[dict[str, Any]]:
        after = decode_cursor(WORK_QUEUE, cursor, (datetime, int, str))
        assignee = "COALESCE(w.assignee_id, v.owner_id)"
        sql = f"""
            SELECT w.item_id, w.kind, w.detail, w.due_at, w.overdue_at <= $11 AS overdue, w.lead_id,
                   v.customer_id, v.name AS customer_name, v.grade, v.stage, v.channel, v.status,
                   {assignee} AS assignee_id, v.owner_id, v.team_id, {GRADE_RANK} AS grade_rank
            FROM leads_work_items w JOIN leads_view v ON v.lead_id = w.lead_id
            WHERE {SCOPE_AND_FILTERS.format(assignee=assignee)}
              AND ($12::text IS NULL OR w.kind = $12) AND (NOT $13::boolean OR w.overdue_at <= $11)
              AND ($14::text IS NULL OR {assignee} = $14)
              AND ($15::timestamptz IS NULL OR (w.due_at, {GRADE_RANK}, w.item_id) > ($15, $16::int, $17::text))
            ORDER BY w.due_at, grade_rank, w.item_id
            LIMIT $18"""
        rows = await self._pool.fetch(
            sql, *scope_and_filter_args(scope, filters.leads, now), now, filters.kind, filters.overdue_only,
            assignee_id, *(after or (None, None, None)), limit + 1)
        page = page_of(WORK_QUEUE, rows, limit, lambda r: (r["due_at"], r["grade_rank"], r["item_id"]))
        return Page([_iso(r) for r in page.items], page.next_cursor)

    async def lead_list(self, scope: ListScope, filters: LeadFilters, *, status: str, owner_id: str | None,
                        team_id: str | None, now: datetime, cursor: str | None, limit: int
                        ) -> Page[dict[str, Any]]:
        after = decode_cursor(LEAD_LIST, cursor, (int, datetime, str))
        sql = f"""
            SELECT v.lead_id, v.customer_id, v.name, v.phone, v.channel, v.interest, v.status, v.stage, v.grade,
                   v.owner_id, v.team_id, v.pooled, v.follow_up_due_at, v.overdue, v.loss_pending, v.lost_reason,
                   v.order_id, v.captured_at, v.last_activity_at, v.version, {GRADE_RANK} AS grade_rank
            FROM leads_view v
            WHERE {SCOPE_AND_FILTERS.format(assignee="v.owner_id")}
              AND (CASE WHEN $11::text = 'open' THEN v.is_open ELSE v.status = $11 END)
              AND ($12::text IS NULL OR v.owner_id = $12) AND ($13::text IS NULL OR v.team_id = $13)
              AND ($14::int IS NULL OR ({GRADE_RANK}, v.captured_at, v.lead_id) > ($14, $15::timestamptz, $16::text))
            ORDER BY grade_rank, v.captured_at, v.lead_id
            LIMIT $17"""
        rows = await self._pool.fetch(sql, *scope_and_filter_args(scope, filters, now), status, owner_id, team_id,
                                      *(after or (None, None, None)), limit + 1)
        page = page_of(LEAD_LIST, rows, limit, lambda r: (r["grade_rank"], r["captured_at"], r["lead_id"]))
        return Page([_iso(r) for r in page.items], page.next_cursor)

    async def consultant_team(self, consultant_id: str) -> tuple[bool, str | None]:
        row = await self._pool.fetchrow("SELECT team_id FROM leads_consultants WHERE consultant_id = $1",
                                        consultant_id)
        return (row is not None, row["team_id"] if row else None)
