"""The leads read model in PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.reporting.app.ports import LeadRow


class PostgresLeadsReadModel:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add_leads(self, tx: Any, leads: list[LeadRow]) -> None:
        await tx.execute(
            """INSERT INTO report_leads (lead_id, customer_id, channel, stage, grade, owner_id, captured_at,
                                         source_recorded_at)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                    $7::timestamptz[], $8::timestamptz[])
               ON CONFLICT (lead_id) DO NOTHING""",
            *(list(column) for column in zip(*(
                (r.lead_id, r.customer_id, r.channel, r.stage, r.grade, r.owner_id, r.captured_at,
                 r.source_recorded_at) for r in leads
            ), strict=True)),
        )

    async def count_by_stage(self, *, channel: str | None = None) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT stage, count(*) AS n FROM report_leads WHERE $1::text IS NULL OR channel = $1 GROUP BY stage",
            channel,
        )
        return {r["stage"]: r["n"] for r in rows}

    async def count_by_channel(self) -> dict[str, int]:
        rows = await self._pool.fetch("SELECT channel, count(*) AS n FROM report_leads GROUP BY channel")
        return {r["channel"]: r["n"] for r in rows}
