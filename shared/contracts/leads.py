"""Public events of the leads service (topic ``<prefix>.leads``, key = lead id)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.contracts.base import IntegrationEvent, contract


@contract("salesflow.leads.LeadCreated", version=1, producer="leads")
class LeadCreatedV1(IntegrationEvent):
    """A lead was captured. Personal data (name, phone) is included because the leads service's subscribers
    (orders, after-sales) need to address the customer; reporting ignores it."""

    lead_id: str = Field(description="the lead's id; also the message key and ce_subject")
    customer_id: str = Field(description="the customer the lead belongs to (stable across re-captures)")
    name: str
    phone: str = Field(description="normalised E.164, e.g. +8613812345678")
    channel: str = Field(description="acquisition channel code, e.g. online_shop, call_center")
    interest: str | None = Field(default=None, description="model or product the prospect asked about")
    stage: str = Field(default="new", description="pipeline stage at capture")
    grade: str = Field(default="N", description="lead grade at capture (N = not yet graded)")
    owner_id: str | None = Field(default=None, description="consultant the lead is assigned to, if any")
    captured_at: datetime
    referral_id: str | None = Field(default=None, description="set when the lead came from an after-sales referral")
    referrer_customer_id: str | None = Field(default=None, description="the referring customer, for referral leads")
    order_id: str | None = Field(
        default=None, description="set when the lead was created from an order (online-shop checkout)"
    )
