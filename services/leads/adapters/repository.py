"""Leads stored as event streams in the service's PostgreSQL event store."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.leads.app.ports import CommandContext
from services.leads.domain.events import lead_events
from services.leads.domain.lead import Lead
from shared.eventstore import AppendRequest, NewEvent, PostgresEventStore, RecordedEvent


def lead_stream(lead_id: str) -> str:
    return f"lead-{lead_id}"


class EventSourcedLeads:
    """LeadRepository and LeadHistory over the event store."""

    def __init__(self, store: PostgresEventStore) -> None:
        self._store = store

    async def get(self, lead_id: str) -> Lead | None:
        records = await self._store.load(lead_stream(lead_id))
        if not records:
            return None
        return Lead.rehydrate(lead_id, (lead_events.decode(r.event_type, r.data) for r in records))

    async def save(self, lead: Lead, *, context: CommandContext, now: datetime) -> int:
        events = tuple(
            NewEvent(
                event_id=uuid.uuid4(), event_type=e.event_type, schema_version=e.schema_version,
                data=e.model_dump(mode="json"), occurred_at=now, metadata=context.metadata(),
            )
            for e in lead.pending_events
        )
        versions = await self._store.append(
            [AppendRequest(lead_stream(lead.id), Lead.stream_type, lead.loaded_version, events)]
        )
        return versions[lead_stream(lead.id)]

    async def history(self, lead_id: str) -> list[dict[str, object]]:
        return [_history_entry(r) for r in await self._store.load(lead_stream(lead_id))]


def _history_entry(record: RecordedEvent) -> dict[str, object]:
    return {
        "version": record.version,
        "event_type": record.event_type,
        "occurred_at": record.occurred_at.isoformat(),
        "actor": record.metadata.get("actor"),
        "correlation_id": record.metadata.get("correlation_id"),
        "data": record.data,
    }
