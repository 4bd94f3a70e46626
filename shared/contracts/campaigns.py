"""Public events of campaigns (推广活动), published by the leads service on its topic (``<prefix>.leads``, key =
campaign id). Reporting divides a campaign's spend by the leads, visits and contracts it brought (cost per lead,
per visit, per sale, ROI); leads name their campaign in ``LeadCreated.campaign_id``. Money in minor units."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from shared.contracts.base import IntegrationEvent, contract


@contract("salesflow.leads.CampaignCreated", version=1, producer="leads")
class CampaignCreatedV1(IntegrationEvent):
    """A manager or director created a campaign."""

    campaign_id: str = Field(description="the campaign's id; also the message key")
    code: str = Field(description="unique code; a lead whose utm_campaign equals it is linked to the campaign")
    campaign_name: str = Field(description="the campaign's name (``name`` in the leads API; a different field name "
                                           "because subscribers treat ``name`` as a person's)")
    kind: str = Field(description="campaign kind code (leads config/campaigns.json: roadshow, exhibition, "
                                  "ad_platform, ...)")
    channel: str = Field(description="the acquisition channel the campaign belongs to (GET /v1/channels)")
    starts_on: date
    ends_on: date
    budget_minor: int = Field(description="the budget, in minor units of currency")
    currency: str = Field(default="CNY", description="ISO 4217")
    created_by: str | None = None
    created_at: datetime


@contract("salesflow.leads.CampaignUpdated", version=1, producer="leads")
class CampaignUpdatedV1(IntegrationEvent):
    """A campaign's fields changed: each changed field as ``{"from": old, "to": new}`` (name — the campaign's
    name —, kind, channel, starts_on, ends_on as ISO dates, budget_minor)."""

    campaign_id: str = Field(description="the campaign's id; also the message key")
    changes: dict[str, dict[str, Any]]
    updated_by: str | None = None
    updated_at: datetime


@contract("salesflow.leads.CampaignSpendRecorded", version=1, producer="leads")
class CampaignSpendRecordedV1(IntegrationEvent):
    """Money spent on a campaign (one entry: an invoice, a day's ad spend); negative entries correct earlier ones."""

    campaign_id: str = Field(description="the campaign's id; also the message key")
    entry_id: str
    amount_minor: int = Field(description="minor units of currency; negative for a correction")
    currency: str = Field(default="CNY", description="ISO 4217")
    channel: str = Field(description="the campaign's channel when the entry was recorded (reports credit it)")
    spent_at: datetime = Field(description="when the money was spent: the day reports count it on")
    note: str | None = None
    total_spent_minor: int = Field(description="the campaign's spend so far, this entry included")
    recorded_by: str | None = None
    recorded_at: datetime
