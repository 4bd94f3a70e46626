"""Events of campaigns (推广活动: roadshows, exhibitions, ad-platform packages), streams ``campaign-<id>``. Money is
in minor units (fen) with its currency, as everywhere in salesflow. New fields on an existing event are always
optional."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared.domain import DomainEvent, EventTypeRegistry

campaign_events = EventTypeRegistry()


@campaign_events.register
class CampaignCreated(DomainEvent):
    event_type = "CampaignCreated"

    campaign_id: str
    code: str
    name: str
    kind: str
    channel: str
    starts_on: date
    ends_on: date
    budget_minor: int
    currency: str = "CNY"
    created_by: str | None = None
    created_at: datetime


@campaign_events.register
class CampaignUpdated(DomainEvent):
    """Only the fields that changed, each ``{"from": old, "to": new}`` (dates as ISO strings)."""

    event_type = "CampaignUpdated"

    campaign_id: str
    changes: dict[str, dict[str, Any]]
    updated_by: str | None = None
    updated_at: datetime


@campaign_events.register
class CampaignSpendRecorded(DomainEvent):
    """One spend entry (an invoice, a day's ad spend); a negative amount corrects earlier entries. ``channel`` is
    the campaign's channel when the entry was recorded: reporting credits the spend to it."""

    event_type = "CampaignSpendRecorded"

    campaign_id: str
    entry_id: str
    amount_minor: int
    currency: str = "CNY"
    channel: str
    spent_at: datetime
    note: str | None = None
    total_spent_minor: int
    recorded_by: str | None = None
    recorded_at: datetime
