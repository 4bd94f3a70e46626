"""Projection: every public event of leads, orders and after-sales becomes a fact of reporting's read model, and
the summaries are updated by what the batch changes (see ``adapters.summaries`` and ``domain.ledger``).

One batch handler for every known type: the kernel hands it whole batches, which is safe because the read
model does not depend on arrival order (facts are keyed by event id and folded by their own times)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from services.reporting.app.ports import FactRow, SummariesWriter
from shared.contracts import aftersales, leads, orders, showroom  # noqa: F401  (registers every public contract)
from shared.contracts.base import IntegrationEvent, registry
from shared.messaging.inbound import BatchEventHandler, InboundEvent

SOURCE_PRODUCERS = ("leads", "orders", "aftersales")

# The field that says when the fact took effect, in order of preference; the first the contract has wins.
_TIME_FIELDS = (
    "captured_at", "moved_at", "assigned_at", "graded_at", "logged_at", "detected_at", "attended_at",
    "requested_at", "approved_at", "rejected_at", "invalidated_at", "released_at", "claimed_at", "signed_at",
    "delivered_at", "cancelled_at", "received_at", "issued_at", "revised_at", "accepted_at", "expired_at",
    "refunded_at", "declined_at", "completed_at", "acknowledged_at", "resolved_at", "reopened_at", "escalated_at",
    "closed_at", "opened_at", "registered_at", "deactivated_at", "spent_at", "recorded_at", "reminded_at",
    "scheduled_at",
    "rewarded_at", "awarded_at", "redeemed_at", "arrived_at", "departed_at", "booked_at", "started_at", "ended_at",
    # Last: a record's own creation/edit time (campaigns, cards, outreach batches) — without it such a fact took the
    # publication time and moved the data-as-of watermark and as_of views to the moment of publishing.
    "created_at", "updated_at",
)
# Personal data stays out of the read model: reports never need it.
_PERSONAL = frozenset({"name", "phone", "customer_name", "customer_phone", "prospect_name", "prospect_phone"})
_CONSULTANT_FIELDS = ("consultant_id", "owner_id", "logged_by", "requested_by", "completed_by")


def _time_field(cls: type[IntegrationEvent]) -> str | None:
    return next((f for f in _TIME_FIELDS if f in cls.model_fields), None)


@functools.cache
def _fields_of(cls: type[IntegrationEvent]) -> tuple[str | None, tuple[str, ...], bool, bool]:
    """(time field, consultant fields, has lead_id, has order_id) of a contract, looked up once per class:
    asking a pydantic model for a field it does not have is slow, and the rebuild asks for every event."""
    fields = cls.model_fields
    return (_time_field(cls), tuple(f for f in _CONSULTANT_FIELDS if f in fields), "lead_id" in fields,
            "order_id" in fields)


def fact_types() -> dict[str, type[IntegrationEvent]]:
    """Every public event type reporting stores (all of the source services' contracts). Contracts added later
    are stored by a new build without code changes (and count in reports once the fold knows them)."""
    return {c.event_type: c for c in registry if c.producer in SOURCE_PRODUCERS}


def to_fact(event: InboundEvent) -> FactRow:
    payload = event.payload
    time_field, consultant_fields, has_lead, has_order = _fields_of(type(payload))
    occurred: datetime = getattr(payload, time_field) if time_field else event.headers.time
    data = payload.model_dump(mode="json", exclude=set(_PERSONAL))
    consultant = None
    for f in consultant_fields:  # a plain loop: a generator per event cost more than the lookups (rebuild profile)
        if data.get(f):
            consultant = data[f]
            break
    return FactRow(
        event_id=str(event.headers.event_id), event_type=type(payload).event_type,
        lead_id=data["lead_id"] if has_lead else None, order_id=data["order_id"] if has_order else None,
        consultant_id=consultant, occurred_at=occurred, data=data, source_recorded_at=event.headers.recorded_time,
    )


class LeadsProjection:
    def __init__(self, summaries: SummariesWriter) -> None:
        self._summaries = summaries

    async def on_any(self, tx: Any, events: list[InboundEvent]) -> None:
        """A run of events of any known types: stored and folded into the summaries in one go."""
        await self._summaries.apply(tx, [to_fact(e) for e in events])

    def batch_handlers(self) -> dict[str, BatchEventHandler]:
        return {t: self.on_any for t in fact_types()}
