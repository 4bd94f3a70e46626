"""Queries over the read tables (CareQueries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.aftersales.app.ports import CareScope


def _in_scope(consultant: str, team: str) -> str:
    """The rows whose care plan ``p`` (LEFT JOINed: none for a complaint without an order) the scope holds; the
    placeholders carry ``CareScope.consultant`` / ``.team`` (NULL: not narrowed). Owner-less plans are everyone's."""
    return (f"({consultant}::text IS NULL OR p.consultant_id IS NULL OR p.consultant_id = {consultant}) "
            f"AND ({team}::text IS NULL OR p.team_id IS NULL OR p.team_id = {team})")


def _params(scope: CareScope | None) -> tuple[str | None, str | None]:
    return (None, None) if scope is None else (scope.consultant, scope.team)


def _row(record: asyncpg.Record) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(record).items()}


class PostgresCareQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def timeline(self, customer_id: str, *, limit: int) -> list[dict[str, Any]]:
        # Events of one command share occurred_at; the event store's position orders them as they were appended.
        rows = await self._pool.fetch(
            "SELECT t.occurred_at, t.event_type, t.stream_id, t.summary FROM customer_timeline t "
            "JOIN events e ON e.stream_id = t.stream_id AND e.version = t.stream_version "
            "WHERE t.customer_id = $1 ORDER BY t.occurred_at, e.position LIMIT $2", customer_id, limit)
        return [_row(r) for r in rows]

    async def visits(self, *, state: str, now: datetime, limit: int,
                     assignee_role: str | None, scope: CareScope | None = None) -> list[dict[str, Any]]:
        """due: pending and due by now (not yet overdue); overdue: marked overdue by its timer and still not
        done; upcoming: pending, due later; completed: done."""
        condition = {
            "due": "v.status = 'pending' AND v.due_at <= $1::timestamptz",
            "overdue": "v.status = 'overdue' AND $1::timestamptz IS NOT NULL",
            "upcoming": "v.status = 'pending' AND v.due_at > $1::timestamptz",
            "completed": "v.status = 'completed' AND $1::timestamptz IS NOT NULL",
        }[state]
        rows = await self._pool.fetch(
            f"""SELECT v.plan_id, v.visit_no, v.customer_id, v.label, v.assignee_role, v.due_at, v.overdue_at,
                       v.status, v.score, v.low_score, v.late, v.completed_at
                FROM care_visits v LEFT JOIN care_plans p USING (plan_id)
                WHERE {condition} AND ($2::text IS NULL OR v.assignee_role = $2) AND {_in_scope('$4', '$5')}
                ORDER BY v.due_at, v.plan_id, v.visit_no LIMIT $3""", now, assignee_role, limit, *_params(scope))
        return [_row(r) for r in rows]

    async def complaints(self, *, sla_state: str | None, status: str | None, limit: int,
                         scope: CareScope | None = None) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"""SELECT c.complaint_id, c.customer_id, c.order_id, c.category, c.severity, c.status, c.acknowledged,
                       c.sla_state, c.escalation_level, c.acknowledge_due_at, c.resolve_due_at, c.opened_at,
                       c.updated_at
               FROM complaints c LEFT JOIN care_plans p ON p.plan_id = c.order_id
               WHERE ($1::text IS NULL OR c.sla_state = $1) AND ($2::text IS NULL OR c.status = $2)
                 AND {_in_scope('$4', '$5')}
               ORDER BY c.opened_at LIMIT $3""", sla_state, status, limit, *_params(scope))
        return [_row(r) for r in rows]

    async def satisfaction(self, *, since: datetime | None, until: datetime | None,
                           scope: CareScope | None = None) -> dict[str, Any]:
        """Completed visits in the window: count, mean score as 0–100, low scores, late visits; per visit label
        and per consultant (who sold the order)."""
        visits = "care_visits v LEFT JOIN care_plans p USING (plan_id) WHERE "
        window = (f"{visits} {_in_scope('$3', '$4')} AND v.status = 'completed' "
                  "AND ($1::timestamptz IS NULL OR v.completed_at >= $1) "
                  "AND ($2::timestamptz IS NULL OR v.completed_at < $2)")
        args = (since, until, *_params(scope))
        total = await self._pool.fetchrow(
            f"""SELECT count(*) AS visits, round(avg(v.score_pct), 2) AS mean_pct,
                       count(*) FILTER (WHERE v.low_score) AS low_scores, count(*) FILTER (WHERE v.late) AS late
                FROM {window}""", *args)
        per_label = await self._pool.fetch(
            f"""SELECT v.label, count(*) AS visits, round(avg(v.score_pct), 2) AS mean_pct,
                       count(*) FILTER (WHERE v.low_score) AS low_scores
                FROM {window} GROUP BY v.label ORDER BY min(v.visit_no)""", *args)
        per_consultant = await self._pool.fetch(
            f"""SELECT v.consultant_id, count(*) AS visits, round(avg(v.score_pct), 2) AS mean_pct,
                       count(*) FILTER (WHERE v.low_score) AS low_scores
                FROM {window} AND v.consultant_id IS NOT NULL
                GROUP BY v.consultant_id ORDER BY v.consultant_id""", *args)
        open_counts = await self._pool.fetchrow(
            "SELECT count(*) FILTER (WHERE v.status = 'overdue') AS overdue, "
            f"count(*) FILTER (WHERE v.status = 'pending') AS pending FROM {visits} {_in_scope('$1', '$2')}",
            *_params(scope))

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

    async def follow_ups(self, *, status: str | None, limit: int,
                         scope: CareScope | None = None) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"""SELECT f.task_id, f.plan_id, f.visit_no, f.customer_id, f.score, f.status, f.outcome, f.opened_at,
                       f.closed_at
               FROM follow_ups f LEFT JOIN care_plans p USING (plan_id)
               WHERE ($1::text IS NULL OR f.status = $1) AND {_in_scope('$3', '$4')}
               ORDER BY f.opened_at LIMIT $2""", status, limit, *_params(scope))
        return [_row(r) for r in rows]

    async def customer_in_scope(self, customer_id: str, scope: CareScope | None) -> bool:
        if scope is None:
            return True
        held: bool = await self._pool.fetchval(
            f"""SELECT NOT EXISTS (SELECT 1 FROM care_plans p WHERE p.customer_id = $1)
                    OR EXISTS (SELECT 1 FROM care_plans p WHERE p.customer_id = $1 AND {_in_scope('$2', '$3')})""",
            customer_id, *_params(scope))
        return held
