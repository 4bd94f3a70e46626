"""Inbound integration contracts: what the online shop and the call-center system write to salesflow's inbound
topics (DESIGN §9) — ``<prefix>.inbound.shop`` and ``<prefix>.inbound.calls``.

They follow the public events' rules (explicit names, schema versions, CloudEvents headers; additive changes
within a version), with the roles turned round: an outside system produces, salesflow consumes. Each message
carries the sending system's own id of the thing it reports (inquiry, cart, shop order, call); that external id is
the message key and ``ce_subject``, and the consuming command is idempotent on it, so a message the sender
re-sends under a new ``ce_id`` changes nothing. Each is executed as the same command its HTTP twin runs
(``POST /v1/leads``, ``POST /v1/checkouts``), so both paths share one rule set; what the command refuses (an
invalid phone, a conflicting repeat checkout) is dead-lettered with the reason.

Values that may grow (direction, outcome) are plain strings documented with their current set, as everywhere.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.contracts.base import IntegrationEvent, contract

INBOUND_SHOP = "inbound.shop"
"""The shop's inbound topic, under the prefix: ``<prefix>.inbound.shop``."""
INBOUND_CALLS = "inbound.calls"
"""The call center's inbound topic, under the prefix: ``<prefix>.inbound.calls``."""

CALL_DIRECTIONS = ("inbound", "outbound")
CALL_OUTCOMES = ("answered", "missed")


@contract("salesflow.inbound.shop.InquirySubmitted", version=1, producer=INBOUND_SHOP)
class InquirySubmittedV1(IntegrationEvent):
    """A visitor of the online shop asked about a product: becomes a lead (channel ``online_shop``), or a
    touchpoint on the customer's open lead — the same capture as ``POST /v1/leads`` with ``source_system`` =
    ``shop`` and ``external_id`` = ``inquiry_id``. Key = ``inquiry_id``."""

    inquiry_id: str = Field(min_length=1, max_length=200, description="the shop's id of the inquiry: the key")
    name: str = Field(min_length=1, max_length=100, description="the prospect's name")
    phone: str = Field(min_length=1, max_length=40, description="any common format; normalised to E.164")
    interest: str | None = Field(default=None, max_length=200, description="model or product of interest")
    team_id: str | None = Field(default=None, max_length=100, description="team to assign in (default: configured)")
    submitted_at: datetime = Field(description="when the visitor sent it")
    # Added later within version 1 (optional, so every earlier message is still valid): the lead's attribution.
    campaign_id: str | None = Field(default=None, max_length=100,
                                    description="salesflow's campaign id (GET /v1/campaigns); an unknown one is "
                                                "refused (dead-lettered naming campaign_id)")
    utm_source: str | None = Field(default=None, max_length=200, description="UTM parameters of the shop link")
    utm_medium: str | None = Field(default=None, max_length=200)
    utm_campaign: str | None = Field(default=None, max_length=200,
                                     description="equal to a campaign's code: the lead is linked to that campaign")
    utm_content: str | None = Field(default=None, max_length=200)
    utm_term: str | None = Field(default=None, max_length=200)


class CartItemV1(BaseModel):
    """One product left in an abandoned cart."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product: str = Field(min_length=1, max_length=100)
    quantity: StrictInt = Field(default=1, ge=1)


@contract("salesflow.inbound.shop.CartAbandoned", version=1, producer=INBOUND_SHOP)
class CartAbandonedV1(IntegrationEvent):
    """A signed-in shop customer left a cart without checking out: a touchpoint on their open lead, or a new lead
    (channel ``online_shop``, interest = the cart's products). Key = ``cart_id``."""

    cart_id: str = Field(min_length=1, max_length=200, description="the shop's id of the cart: the key")
    name: str = Field(min_length=1, max_length=100, description="the customer's name")
    phone: str = Field(min_length=1, max_length=40, description="any common format; normalised to E.164")
    items: list[CartItemV1] = Field(min_length=1, max_length=100, description="what was left in the cart")
    abandoned_at: datetime = Field(description="when the shop considered the cart abandoned")


class ShopOrderLineOptionV1(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str = Field(min_length=1, max_length=100)
    price_minor: StrictInt = Field(default=0, description="per unit, in minor units (fen)")


class ShopOrderLineV1(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    product: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=200)
    options: list[ShopOrderLineOptionV1] = Field(default_factory=list)
    quantity: StrictInt = 1
    unit_price_minor: StrictInt = Field(description="base unit price in minor units (fen)")


@contract("salesflow.inbound.shop.OrderCheckedOut", version=1, producer=INBOUND_SHOP)
class OrderCheckedOutV1(IntegrationEvent):
    """An order placed (and paid, in full or in part) in the shop: a signed order in salesflow — the same
    checkout as ``POST /v1/checkouts``: idempotent on ``shop_order_id``; a repeat with different content is
    refused (dead-lettered as ``checkout_conflict``). Key = ``shop_order_id``."""

    shop_order_id: str = Field(min_length=1, max_length=100, description="the shop's order id: the key")
    customer_name: str = Field(min_length=1, max_length=100)
    customer_phone: str = Field(min_length=1, max_length=40, description="any common format; stored as E.164")
    lines: list[ShopOrderLineV1] = Field(min_length=1)
    discount_minor: StrictInt = 0
    total_minor: StrictInt
    paid_minor: StrictInt
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217")
    lead_id: str | None = Field(default=None, max_length=60)
    customer_id: str | None = Field(default=None, max_length=60)
    consultant_id: str | None = Field(default=None, max_length=60)
    payment_reference: str | None = Field(default=None, max_length=100)
    checked_out_at: datetime = Field(description="when the customer placed the order")


@contract("salesflow.inbound.calls.CallRecorded", version=1, producer=INBOUND_CALLS)
class CallRecordedV1(IntegrationEvent):
    """A call the call-center system handled, answered or missed. The leads service records it on the caller's
    open lead (found by the normalised number) — answered: a follow-up by the agent's consultant; missed: a
    call-back due within the configured time — or, for an unknown caller, on a new lead with channel
    ``call_center``. Once per ``call_id``. Key = ``call_id``."""

    call_id: str = Field(min_length=1, max_length=200, description="the call center's id of the call: the key")
    caller_number: str = Field(min_length=1, max_length=40,
                               description="the customer's number, any common format; normalised to E.164")
    caller_name: str | None = Field(default=None, max_length=100,
                                    description="the caller's name if the call center knows it (names a new lead)")
    direction: str = Field(description=f"one of {', '.join(CALL_DIRECTIONS)} (may grow)")
    agent_id: str | None = Field(default=None, max_length=100,
                                 description="the call-center agent who took or made the call (none if missed)")
    started_at: datetime = Field(description="when the call started ringing")
    duration_seconds: StrictInt = Field(ge=0, description="talk time; 0 for a missed call")
    outcome: str = Field(description=f"one of {', '.join(CALL_OUTCOMES)} (may grow)")
    recording_url: str | None = Field(default=None, max_length=2000, description="where the recording is kept")
