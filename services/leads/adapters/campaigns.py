"""Read side of campaigns: ``leads_campaigns`` and ``leads_campaign_spend`` (written with the campaign's events)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

_COLUMNS = """campaign_id, code, name, kind, channel, starts_on, ends_on, budget_minor, currency, spent_minor,
    created_at, version"""


def _row(record: asyncpg.Record) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime | date) else v) for k, v in dict(record).items()}


class PostgresCampaignQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def campaigns(self) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM leads_campaigns ORDER BY starts_on, code")
        return [_row(r) for r in rows]

    async def campaign(self, campaign_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM leads_campaigns WHERE campaign_id = $1",
                                        campaign_id)
        if row is None:
            return None
        entries = await self._pool.fetch(
            "SELECT entry_id, amount_minor, currency, spent_at, note, recorded_by, recorded_at "
            "FROM leads_campaign_spend WHERE campaign_id = $1 ORDER BY spent_at, recorded_at", campaign_id)
        return {**_row(row), "spend_entries": [_row(e) for e in entries]}
