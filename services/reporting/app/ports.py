"""Ports of the reporting service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.reporting.domain.funnel import LeadHistory


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
    interest: str | None = None
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class FactRow:
    """Any other public event, stored as the fact it is (see migrations/0002_facts.sql)."""

    event_id: str
    event_type: str
    lead_id: str | None
    order_id: str | None
    consultant_id: str | None
    occurred_at: datetime
    data: dict[str, Any]
    source_recorded_at: datetime | None


class LeadsReadModel(Protocol):
    async def add_leads(self, tx: Any, leads: list[LeadRow]) -> None:
        """Insert leads not yet known (a replayed event changes nothing)."""

    async def add_facts(self, tx: Any, facts: list[FactRow]) -> None:
        """Insert facts not yet known (keyed by event id)."""

    async def count_by_stage(self, *, channel: str | None = None) -> dict[str, int]:
        """Leads per current stage."""

    async def count_by_channel(self) -> dict[str, int]:
        """Leads per acquisition channel."""

    async def lead_histories(self, *, as_of: datetime | None, captured_from: datetime | None,
                             captured_to: datetime | None) -> list[LeadHistory]:
        """Every lead captured in the window, as its events describe it up to ``as_of`` (None: now)."""

    async def facts(self, event_types: list[str], *, start: datetime | None, end: datetime | None,
                    as_of: datetime | None) -> list[FactRow]:
        """Facts of the given types that took effect in [start, end) and at or before as_of."""

    async def watermark(self) -> dict[str, Any]:
        """What the read model has seen: newest event time, last projection time, events applied."""
