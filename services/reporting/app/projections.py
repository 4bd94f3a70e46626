"""Projections: how each public event changes reporting's read model."""

from __future__ import annotations

from typing import Any

from services.reporting.app.ports import LeadRow, LeadsReadModel
from shared.contracts.leads import LeadCreatedV1
from shared.messaging.consumer import BatchEventHandler, InboundEvent


class LeadsProjection:
    def __init__(self, read_model: LeadsReadModel) -> None:
        self._read_model = read_model

    async def on_leads_created(self, tx: Any, events: list[InboundEvent]) -> None:
        # Set-based: one INSERT for a run of LeadCreated events (rebuilds replay hundreds of thousands).
        rows = []
        for event in events:
            payload = event.payload
            assert isinstance(payload, LeadCreatedV1)
            rows.append(LeadRow(
                lead_id=payload.lead_id, customer_id=payload.customer_id, channel=payload.channel,
                stage=payload.stage, grade=payload.grade, owner_id=payload.owner_id, captured_at=payload.captured_at,
                source_recorded_at=event.headers.recorded_time,
            ))
        await self._read_model.add_leads(tx, rows)

    def batch_handlers(self) -> dict[str, BatchEventHandler]:
        return {LeadCreatedV1.event_type: self.on_leads_created}
