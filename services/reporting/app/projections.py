"""Projections: how each public event changes reporting's read model.

LeadCreated fills ``report_leads`` (one row per lead); every other public event of leads, orders and after-sales
is kept as a fact with its effective time (``report_facts``). Both are set-based inserts keyed by id, so a run of
events is one statement (rebuild speed), a redelivery is a no-op, and reports fold the facts at query time —
which makes them independent of arrival order across topics and answerable as of any past moment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.reporting.app.ports import FactRow, LeadRow, LeadsReadModel
from shared.contracts import aftersales, leads, orders  # noqa: F401  (registers every public contract)
from shared.contracts.base import IntegrationEvent, registry
from shared.contracts.leads import LeadCreatedV1
from shared.messaging.inbound import BatchEventHandler, InboundEvent

SOURCE_PRODUCERS = ("leads", "orders", "aftersales")

# The field that says when the fact took effect, in order of preference; the first the contract has wins.
_TIME_FIELDS = (
    "captured_at", "moved_at", "assigned_at", "graded_at", "logged_at", "detected_at", "attended_at",
    "requested_at", "approved_at", "rejected_at", "invalidated_at", "released_at", "claimed_at", "signed_at",
    "delivered_at", "cancelled_at", "received_at", "issued_at", "revised_at", "accepted_at", "expired_at",
    "refunded_at", "declined_at", "completed_at", "acknowledged_at", "resolved_at", "reopened_at", "escalated_at",
    "closed_at", "opened_at", "registered_at", "deactivated_at", "recorded_at", "reminded_at", "scheduled_at",
    "rewarded_at", "awarded_at", "redeemed_at",
)
# Personal data stays out of the read model: reports never need it.
_PERSONAL = frozenset({"name", "phone", "customer_name", "customer_phone", "prospect_name", "prospect_phone"})
_CONSULTANT_FIELDS = ("consultant_id", "owner_id", "logged_by", "requested_by", "completed_by")


def _time_field(cls: type[IntegrationEvent]) -> str | None:
    return next((f for f in _TIME_FIELDS if f in cls.model_fields), None)


def fact_types() -> dict[str, type[IntegrationEvent]]:
    """Every public event type reporting stores as a fact (all of the source services' contracts but
    LeadCreated). Contracts added later are picked up by a new build without code changes."""
    return {c.event_type: c for c in registry if c.producer in SOURCE_PRODUCERS and c is not LeadCreatedV1}


def to_fact(event: InboundEvent) -> FactRow:
    payload = event.payload
    field = _time_field(type(payload))
    occurred: datetime = getattr(payload, field) if field else event.headers.time
    data = payload.model_dump(mode="json", exclude=set(_PERSONAL))
    consultant = next((getattr(payload, f) for f in _CONSULTANT_FIELDS if getattr(payload, f, None)), None)
    return FactRow(
        event_id=str(event.headers.event_id), event_type=type(payload).event_type,
        lead_id=getattr(payload, "lead_id", None), order_id=getattr(payload, "order_id", None),
        consultant_id=consultant, occurred_at=occurred, data=data, source_recorded_at=event.headers.recorded_time,
    )


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
                source_recorded_at=event.headers.recorded_time, interest=payload.interest, order_id=payload.order_id,
            ))
        await self._read_model.add_leads(tx, rows)

    async def on_facts(self, tx: Any, events: list[InboundEvent]) -> None:
        await self._read_model.add_facts(tx, [to_fact(e) for e in events])

    async def on_any(self, tx: Any, events: list[InboundEvent]) -> None:
        """A run of events of any known types: leads and facts, one INSERT each. Registered for every type, so
        the kernel's consumer hands it whole batches; safe because the read model is order-independent (facts
        keyed by event id, folded by effective time at query time)."""
        created = [e for e in events if isinstance(e.payload, LeadCreatedV1)]
        others = [e for e in events if not isinstance(e.payload, LeadCreatedV1)]
        if created:
            await self.on_leads_created(tx, created)
        if others:
            await self.on_facts(tx, others)

    def batch_handlers(self) -> dict[str, BatchEventHandler]:
        return {t: self.on_any for t in (*fact_types(), LeadCreatedV1.event_type)}
