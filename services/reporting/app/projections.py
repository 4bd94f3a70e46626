"""Projections: how each public event changes reporting's read model."""

from __future__ import annotations

from typing import Any

from services.reporting.app.ports import LeadsReadModel
from shared.contracts.leads import LeadCreatedV1
from shared.messaging.consumer import EventHandler, InboundEvent


class LeadsProjection:
    def __init__(self, read_model: LeadsReadModel) -> None:
        self._read_model = read_model

    async def on_lead_created(self, tx: Any, event: InboundEvent) -> None:
        payload = event.payload
        assert isinstance(payload, LeadCreatedV1)
        await self._read_model.add_lead(
            tx, lead_id=payload.lead_id, customer_id=payload.customer_id, channel=payload.channel,
            stage=payload.stage, grade=payload.grade, owner_id=payload.owner_id, captured_at=payload.captured_at,
            source_recorded_at=event.headers.recorded_time,
        )

    def handlers(self) -> dict[str, EventHandler]:
        return {LeadCreatedV1.event_type: self.on_lead_created}
