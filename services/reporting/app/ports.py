"""Ports of the reporting service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class LeadRow:
    lead_id: str
    customer_id: str
    channel: str
    stage: str
    grade: str
    owner_id: str | None
    captured_at: datetime
    source_recorded_at: datetime | None


class LeadsReadModel(Protocol):
    async def add_leads(self, tx: Any, leads: list[LeadRow]) -> None:
        """Insert leads not yet known (a replayed event changes nothing)."""

    async def count_by_stage(self, *, channel: str | None = None) -> dict[str, int]:
        """Leads per current stage."""

    async def count_by_channel(self) -> dict[str, int]:
        """Leads per acquisition channel."""
