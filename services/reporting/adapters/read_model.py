"""The reporting read model in PostgreSQL: leads (one row per lead) and facts (one row per other event).

Every statement uses unqualified table names: which schema they resolve to is decided by the connection's
search_path (see ``adapters.generations``), so the same code writes a rebuild's fresh schema and the live one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.reporting.app.ports import FactRow, LeadRow
from services.reporting.domain.funnel import LeadHistory

STAGE_ADVANCED = "salesflow.leads.StageAdvanced"
CONTRACT_SIGNED = "salesflow.orders.ContractSigned"
DELIVERED = "salesflow.orders.Delivered"
OWNER_EVENTS = ["salesflow.leads.LeadAssigned", "salesflow.leads.LeadClaimed"]
RELEASED = "salesflow.leads.LeadReleasedToPool"
CONSULTANT_TEAM_EVENTS = ["salesflow.leads.ConsultantRegistered", "salesflow.leads.ConsultantMovedTeam"]
LOSS_APPROVED = "salesflow.leads.LossApproved"
INVALIDATED = "salesflow.leads.LeadInvalidated"
GRADED = "salesflow.leads.LeadGraded"

_FAR_FUTURE = datetime(9999, 1, 1).astimezone()

# Lead histories as of $1 for leads captured in [$2, $3). Stage entries come from the lead's capture, StageAdvanced,
# and orders' ContractSigned / Delivered (linked by lead id, or by order id for shop checkouts): whichever topic
# arrives first, the entries are facts with their own times, so cross-topic order does not matter. Leads' own
# StageAdvanced to those two stages only echoes the orders event and is left out.
_HISTORIES = f"""
WITH order_lead AS (
    SELECT DISTINCT ON (order_id) order_id, lead_id FROM (
        SELECT order_id, lead_id FROM report_facts WHERE order_id IS NOT NULL AND lead_id IS NOT NULL
        UNION ALL SELECT order_id, lead_id FROM report_leads WHERE order_id IS NOT NULL) x
    ORDER BY order_id, lead_id),
entries AS (
    SELECT lead_id, stage, captured_at AS at, 0 AS seq FROM report_leads
    UNION ALL
    SELECT lead_id, data->>'to_stage', occurred_at, 1 FROM report_facts
    WHERE event_type = '{STAGE_ADVANCED}' AND occurred_at <= $1
      -- Not leads' echo of an orders fact (contract_signed / delivered with the order id): leads records it when it
      -- gets round to reacting, on its own clock, possibly after the next orders fact; the orders event itself is
      -- the entry, and the echo would move the current stage back until leads' next echo arrived.
      AND NOT (data->>'order_id' IS NOT NULL AND data->>'to_stage' IN ('contract_signed', 'delivered'))
    UNION ALL
    SELECT coalesce(f.lead_id, ol.lead_id),
           CASE f.event_type WHEN '{CONTRACT_SIGNED}' THEN 'contract_signed' ELSE 'delivered' END, f.occurred_at, 2
    FROM report_facts f LEFT JOIN order_lead ol ON ol.order_id = f.order_id
    WHERE f.event_type IN ('{CONTRACT_SIGNED}', '{DELIVERED}') AND f.occurred_at <= $1),
st AS (
    SELECT lead_id, array_agg(stage ORDER BY at, seq) AS stages, array_agg(at ORDER BY at, seq) AS ats
    FROM entries WHERE at <= $1 AND lead_id IS NOT NULL GROUP BY lead_id),
own AS (
    SELECT DISTINCT ON (lead_id) lead_id, owner_id, team_id FROM (
        SELECT lead_id, owner_id, NULL::text AS team_id, captured_at AS at, 0 AS seq FROM report_leads
        UNION ALL
        SELECT lead_id, data->>'owner_id', data->>'team_id', occurred_at, 1 FROM report_facts
        WHERE event_type = ANY($4::text[]) AND occurred_at <= $1
        UNION ALL
        SELECT lead_id, NULL, data->>'team_id', occurred_at, 1 FROM report_facts
        WHERE event_type = '{RELEASED}' AND occurred_at <= $1) o
    WHERE at <= $1 ORDER BY lead_id, at DESC, seq DESC),
cons AS (
    SELECT DISTINCT ON (consultant_id) consultant_id, coalesce(data->>'to_team_id', data->>'team_id') AS team_id
    FROM report_facts WHERE event_type = ANY($5::text[]) AND occurred_at <= $1
    ORDER BY consultant_id, occurred_at DESC),
lost AS (
    SELECT DISTINCT ON (lead_id) lead_id, occurred_at, data->>'reason' AS reason, data->>'competitor_model' AS comp
    FROM report_facts WHERE event_type = '{LOSS_APPROVED}' AND occurred_at <= $1 ORDER BY lead_id, occurred_at),
grade AS (
    SELECT DISTINCT ON (lead_id) lead_id, data->>'grade' AS grade FROM report_facts
    WHERE event_type = '{GRADED}' AND occurred_at <= $1 ORDER BY lead_id, occurred_at DESC),
inv AS (
    SELECT lead_id, min(occurred_at) AS at FROM report_facts
    WHERE event_type = '{INVALIDATED}' AND occurred_at <= $1 GROUP BY lead_id)
SELECT l.lead_id, l.channel, l.captured_at, l.interest, own.owner_id, coalesce(own.team_id, cons.team_id) AS team_id,
       coalesce(grade.grade, l.grade) AS grade, st.stages, st.ats, lost.occurred_at AS lost_at, lost.reason,
       lost.comp, inv.at AS invalid_at
FROM report_leads l
LEFT JOIN st USING (lead_id) LEFT JOIN own USING (lead_id) LEFT JOIN cons ON cons.consultant_id = own.owner_id
LEFT JOIN lost USING (lead_id) LEFT JOIN inv USING (lead_id)
LEFT JOIN grade USING (lead_id)
WHERE l.captured_at <= $1 AND ($2::timestamptz IS NULL OR l.captured_at >= $2)
  AND ($3::timestamptz IS NULL OR l.captured_at < $3)
ORDER BY l.lead_id
"""


class PostgresLeadsReadModel:
    """``pool`` is anything with asyncpg's ``acquire()`` (the live service passes a schema-switching pool)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def add_leads(self, tx: Any, leads: list[LeadRow]) -> None:
        # One JSON document for the whole run instead of many arrays: asyncpg encodes arrays element by element
        # in Python, which dominated rebuild profiles; PostgreSQL unpacks the JSON in C. json, not jsonb: the
        # document is read once, and building jsonb first cost ~20% more backend CPU per row (measured).
        # orjson serialises the (slotted) dataclasses itself, field name = column name: no dict per row.
        rows = orjson.dumps(leads).decode()
        await tx.execute(
            """INSERT INTO report_leads (lead_id, customer_id, channel, stage, grade, owner_id, captured_at,
                                         source_recorded_at, interest, order_id)
               SELECT lead_id, customer_id, channel, stage, grade, owner_id, captured_at, source_recorded_at,
                      interest, order_id
               FROM json_to_recordset($1::json) AS r(lead_id text, customer_id text, channel text, stage text,
                    grade text, owner_id text, captured_at timestamptz, source_recorded_at timestamptz,
                    interest text, order_id text)
               ON CONFLICT (lead_id) DO NOTHING""",
            rows,
        )
        await self._progress(tx, len(leads), max(r.captured_at for r in leads) if leads else None)

    async def add_facts(self, tx: Any, facts: list[FactRow]) -> None:
        rows = orjson.dumps(facts).decode()
        await tx.execute(
            """INSERT INTO report_facts (event_id, event_type, lead_id, order_id, consultant_id, occurred_at, data,
                                         source_recorded_at)
               SELECT event_id, event_type, lead_id, order_id, consultant_id, occurred_at, data, source_recorded_at
               FROM json_to_recordset($1::json) AS r(event_id uuid, event_type text, lead_id text, order_id text,
                    consultant_id text, occurred_at timestamptz, data jsonb, source_recorded_at timestamptz)
               ON CONFLICT (event_id) DO NOTHING""",
            rows,
        )
        await self._progress(tx, len(facts), max(f.occurred_at for f in facts) if facts else None)

    @staticmethod
    async def _progress(tx: Any, n: int, newest: datetime | None) -> None:
        await tx.execute(
            "UPDATE report_progress SET events = events + $1, last_projected_at = clock_timestamp(), "
            "last_event_at = greatest(last_event_at, $2::timestamptz) WHERE id = 1", n, newest,
        )

    async def count_by_stage(self, *, channel: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for lead in await self.lead_histories(as_of=None, captured_from=None, captured_to=None):
            if channel is None or lead.channel == channel:
                counts[lead.current_stage] = counts.get(lead.current_stage, 0) + 1
        return counts

    async def count_by_channel(self) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT channel, count(*) AS n FROM report_leads GROUP BY channel")
        return {r["channel"]: r["n"] for r in rows}

    async def lead_histories(self, *, as_of: datetime | None, captured_from: datetime | None,
                             captured_to: datetime | None) -> list[LeadHistory]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_HISTORIES, as_of or _FAR_FUTURE, captured_from, captured_to, OWNER_EVENTS,
                                    CONSULTANT_TEAM_EVENTS)
        return [_history(r) for r in rows]

    async def facts(self, event_types: list[str], *, start: datetime | None, end: datetime | None,
                    as_of: datetime | None) -> list[FactRow]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT event_id, event_type, lead_id, order_id, consultant_id, occurred_at, data,
                          source_recorded_at FROM report_facts
                   WHERE event_type = ANY($1::text[]) AND occurred_at <= $2
                     AND ($3::timestamptz IS NULL OR occurred_at >= $3)
                     AND ($4::timestamptz IS NULL OR occurred_at < $4)
                   ORDER BY occurred_at, event_id""",
                event_types, as_of or _FAR_FUTURE, start, end,
            )
        return [FactRow(str(r["event_id"]), r["event_type"], r["lead_id"], r["order_id"], r["consultant_id"],
                        r["occurred_at"], r["data"], r["source_recorded_at"]) for r in rows]

    async def watermark(self) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT last_event_at, last_projected_at, events FROM report_progress")
            schema = await conn.fetchval("SELECT current_schema()")
        return {"last_event_at": row["last_event_at"] if row else None,
                "last_projected_at": row["last_projected_at"] if row else None,
                "events": row["events"] if row else 0, "schema": schema}

    async def has_processed(self, consumer: str, event_id: str) -> bool:
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM processed_messages WHERE consumer = $1 AND event_id = $2::uuid)",
                consumer, event_id))


def _history(r: asyncpg.Record) -> LeadHistory:
    stages = tuple(zip(r["ats"] or (), r["stages"] or (), strict=True))
    return LeadHistory(
        lead_id=r["lead_id"], channel=r["channel"], captured_at=r["captured_at"], stages=stages,
        product=r["interest"], owner_id=r["owner_id"], team_id=r["team_id"], lost_at=r["lost_at"],
        loss_reason=r["reason"], competitor_model=r["comp"], invalid_at=r["invalid_at"], grade=r["grade"],
    )

