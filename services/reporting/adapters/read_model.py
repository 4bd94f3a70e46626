"""The leads read model in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg


class PostgresLeadsReadModel:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add_lead(
        self, tx: Any, *, lead_id: str, customer_id: str, channel: str, stage: str, grade: str,
        owner_id: str | None, captured_at: datetime, source_recorded_at: datetime | None,
    ) -> None:
        await tx.execute(
            """INSERT INTO report_leads (lead_id, customer_id, channel, stage, grade, owner_id, captured_at,
                                         source_recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (lead_id) DO NOTHING""",
            lead_id, customer_id, channel, stage, grade, owner_id, captured_at, source_recorded_at,
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
