"""Events the leads service stores. Stored names are stable and explicit; public contracts are derived from
them in ``adapters/publishing.py``."""

from __future__ import annotations

from datetime import datetime

from shared.domain import DomainEvent, EventTypeRegistry

lead_events = EventTypeRegistry()


@lead_events.register
class LeadCreated(DomainEvent):
    event_type = "LeadCreated"
    schema_version = 1

    lead_id: str
    customer_id: str
    name: str
    phone: str
    channel: str
    interest: str | None
    captured_at: datetime
