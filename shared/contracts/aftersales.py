"""Public events of the after-sales service (topic ``<prefix>.aftersales``, key = customer id or case id)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.contracts.base import IntegrationEvent, contract


@contract("salesflow.aftersales.ReferralRegistered", version=1, producer="aftersales")
class ReferralRegisteredV1(IntegrationEvent):
    """An existing customer referred a prospect (老客户转介绍). The leads service creates a lead with channel
    ``referral`` and the referrer attached."""

    referral_id: str = Field(description="idempotency key: one lead per referral")
    referrer_customer_id: str
    referrer_order_id: str | None = None
    prospect_name: str
    prospect_phone: str = Field(description="as given; the leads service normalises it")
    interest: str | None = None
    registered_at: datetime
