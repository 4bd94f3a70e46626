"""Events of the customer information card (streams ``customer-<customer id>``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain import DomainEvent, EventTypeRegistry

customer_events = EventTypeRegistry()


@customer_events.register
class CustomerCardUpdated(DomainEvent):
    """Card fields changed: ``changes`` maps each changed field to ``{"from": old, "to": new}`` (None = unset)."""

    event_type = "CustomerCardUpdated"

    customer_id: str
    changes: dict[str, dict[str, Any]]
    updated_by: str | None = None
    updated_at: datetime


@customer_events.register
class CustomerPhoneChanged(DomainEvent):
    """The customer's phone number changed (each open or closed lead of the customer records LeadPhoneChanged);
    the dedupe index moves from the old number to the new one in the same transaction."""

    event_type = "CustomerPhoneChanged"

    customer_id: str
    phone: str
    previous_phone: str
    changed_by: str | None = None
    changed_at: datetime


@customer_events.register
class CustomerMerged(DomainEvent):
    """Another customer (a duplicate: the same person under another number or record) was merged into this one: its
    leads, phones and history now belong here (each moved lead records LeadCustomerMerged). ``phones`` are the
    merged customer's numbers, which the dedupe index now maps to this customer."""

    event_type = "CustomerMerged"

    customer_id: str
    merged_customer_id: str
    lead_ids: list[str]
    phones: list[str]
    merged_by: str | None = None
    merged_at: datetime


@customer_events.register
class CustomerMergedInto(DomainEvent):
    """This customer was merged into ``survivor_id``; the card is closed (commands on it answer 404, a merge naming
    it 409 ``customer_already_merged``)."""

    event_type = "CustomerMergedInto"

    customer_id: str
    survivor_id: str
    merged_by: str | None = None
    merged_at: datetime
