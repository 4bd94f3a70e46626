"""Public events of outreach batches, published by the leads service on its topic (``<prefix>.leads``, key = the
batch id). No personal data: customers and leads by id. Each task's follow-up is also on the lead's own events
(LeadCreated for a reactivation, LeadClaimed / LeadAssigned with reason ``outreach_batch``, FollowUpScheduled)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import IntegrationEvent, contract


class OutreachTaskV1(BaseModel):
    """One customer's follow-up task of a batch."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    customer_id: str
    source_lead_id: str = Field(description="the dormant or lost lead the filters selected")
    lead_id: str = Field(description="the lead carrying the follow-up: the reactivation's new lead, else the same")
    consultant_id: str = Field(description="dealt round robin over the batch's consultants")
    action: str = Field(description="reactivated | scheduled (may grow)")


@contract("salesflow.leads.OutreachBatchCreated", version=1, producer="leads")
class OutreachBatchCreatedV1(IntegrationEvent):
    """A manager turned a filtered list of dormant or lost customers into follow-up tasks (one per customer)."""

    batch_id: str = Field(description="the batch's id; also the message key")
    team_id: str
    audience: str = Field(description="lost | dormant (may grow)")
    filters: dict[str, object] = Field(description="the list filters the customers were selected by")
    consultant_ids: list[str] = Field(description="the consultants, in round-robin order")
    due_at: datetime = Field(description="when every task's follow-up is due")
    note: str | None = None
    created_by: str | None = None
    created_at: datetime
    selected: int = Field(description="customers selected (= tasks)")
    reactivated: int = Field(description="lost customers reactivated with a new lead")
    scheduled: int = Field(description="dormant leads handed over with a follow-up due")
    tasks: list[OutreachTaskV1]
