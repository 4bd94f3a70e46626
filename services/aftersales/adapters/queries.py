"""Queries over the read tables (CareQueries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


def _row(record: asyncpg.Record) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(record).items()}


class PostgresCareQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def timeline(self, customer_id: str, *, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT occurred_at, event_type, stream_id, summary FROM customer_timeline WHERE customer_id = $1 "
            "ORDER BY occurred_at, stream_id, stream_version LIMIT $2", customer_id, limit)
        return [_row(r) for r in rows]

    async def visits(self, *, state: str, now: datetime, limit: int,
                     assignee_role: str | None) -> list[dict[str, Any]]:
        """due: pending and due by now (not yet overdue); overdue: marked overdue by its timer and still not
        done; upcoming: pending, due later; completed: done."""
        condition = {
            "due": "status = 'pending' AND due_at <= $1::timestamptz",
            "overdue": "status = 'overdue' AND $1::timestamptz IS NOT NULL",
            "upcoming": "status = 'pending' AND due_at > $1::timestamptz",
            "completed": "status = 'completed' AND $1::timestamptz IS NOT NULL",
        }[state]
        rows = await self._pool.fetch(
            f"""SELECT plan_id, visit_no, customer_id, label, assignee_role, due_at, overdue_at, status, score,
                       low_score, late, completed_at
                FROM care_visits WHERE {condition} AND ($2::text IS NULL OR assignee_role = $2)
                ORDER BY due_at, plan_id, visit_no LIMIT $3""", now, assignee_role, limit)
        return [_row(r) for r in rows]

    async def complaints(self, *, sla_state: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """SELECT complaint_id, customer_id, order_id, category, severity, status, acknowledged, sla_state,
                      escalation_level, acknowledge_due_at, resolve_due_at, opened_at, updated_at
               FROM complaints WHERE ($1::text IS NULL OR sla_state = $1) AND ($2::text IS NULL OR status = $2)
               ORDER BY opened_at LIMIT $3""", sla_state, status, limit)
        return [_row(r) for r in rows]

    async def satisfaction(self, *, since: datetime | None, until: datetime | None) -> dict[str, Any]:
        """Completed visits in the window: count, mean score as 0–100, low scores, late visits; per visit label
        and per consultant (who sold the order)."""
        window = ("status = 'completed' AND ($1::timestamptz IS NULL OR completed_at >= $1) "
                  "AND ($2::timestamptz IS NULL OR completed_at < $2)")
        total = await self._pool.fetchrow(
            f"""SELECT count(*) AS visits, round(avg(score_pct), 2) AS mean_pct,
                       count(*) FILTER (WHERE low_score) AS low_scores, count(*) FILTER (WHERE late) AS late
                FROM care_visits WHERE {window}""", since, until)
        per_label = await self._pool.fetch(
            f"""SELECT label, count(*) AS visits, round(avg(score_pct), 2) AS mean_pct,
                       count(*) FILTER (WHERE low_score) AS low_scores
                FROM care_visits WHERE {window} GROUP BY label ORDER BY min(visit_no)""", since, until)
        per_consultant = await self._pool.fetch(
            f"""SELECT consultant_id, count(*) AS visits, round(avg(score_pct), 2) AS mean_pct,
                       count(*) FILTER (WHERE low_score) AS low_scores
                FROM care_visits WHERE {window} AND consultant_id IS NOT NULL
                GROUP BY consultant_id ORDER BY consultant_id""", since, until)
        open_counts = await self._pool.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'overdue') AS overdue, "
            "count(*) FILTER (WHERE status = 'pending') AS pending FROM care_visits")

        def num(v: Any) -> float | None:
            return float(v) if v is not None else None

        assert total is not None
        assert open_counts is not None
        return {
            "completed_visits": total["visits"], "mean_score_pct": num(total["mean_pct"]),
            "low_scores": total["low_scores"], "late_visits": total["late"],
            "overdue_visits": open_counts["overdue"], "pending_visits": open_counts["pending"],
            "by_label": [{"label": r["label"], "completed_visits": r["visits"], "mean_score_pct": num(r["mean_pct"]),
                          "low_scores": r["low_scores"]} for r in per_label],
            "by_consultant": [{"consultant_id": r["consultant_id"], "completed_visits": r["visits"],
                               "mean_score_pct": num(r["mean_pct"]), "low_scores": r["low_scores"]}
                              for r in per_consultant],
        }

    async def follow_ups(self, *, status: str | None, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """SELECT task_id, plan_id, visit_no, customer_id, score, status, outcome, opened_at, closed_at
               FROM follow_ups WHERE ($1::text IS NULL OR status = $1) ORDER BY opened_at LIMIT $2""",
            status, limit)
        return [_row(r) for r in rows]
