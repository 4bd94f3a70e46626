"""What the outside systems write to the inbound topics (``shared.contracts.inbound``) becomes the same commands
their HTTP twins run: a shop inquiry or an abandoned cart is a ``CaptureLead`` — exactly ``POST /v1/leads`` — so
dedupe by phone, touchpoints, reactivation and round robin are one rule set for both paths. A call-center call
is a ``RecordCall`` (app/calls.py), which uses the same phone lock and lead creation.

Handlers run inside the idempotent consumer's transaction (``conn``): the effect and the processed message id
commit together. The consumer dedupes on ``ce_id``; the command dedupes on the sender's external id
((source system, external id) → lead, ``leads_external_ids``), so the same inquiry re-sent under a new ``ce_id``
answers with the lead it made and records nothing. A refused command (say, a phone that is no number) raises,
and the consumer dead-letters the message with the reason.

The actor is the sending system: the broker's ACLs let only its principal write its inbound topic
(deploy/README.md), so the topic tells who wrote the message.
"""

from __future__ import annotations

from typing import Any

from services.leads.app.calls import RecordCall, RecordCallHandler
from services.leads.app.commands import CaptureLead, CaptureLeadHandler
from services.leads.app.ports import CommandContext
from services.leads.domain.calls import Call
from services.leads.domain.values import MAX_INTEREST_LENGTH
from shared.contracts.inbound import CallRecordedV1, CartAbandonedV1, InquirySubmittedV1
from shared.messaging.inbound import EventHandler, InboundEvent

SHOP_CHANNEL = "online_shop"
SHOP_ACTOR = "system:shop"
CALL_CENTER_ACTOR = "system:call-center"
SHOP_INQUIRIES = "shop"
"""Source system of shop inquiries: the one the shop also uses over HTTP, so an inquiry sent both ways is one."""
SHOP_CARTS = "shop-cart"
"""Source system of abandoned carts: a cart id and an inquiry id may be equal strings, yet different things."""


def cart_interest(cart: CartAbandonedV1) -> str:
    """What the abandoned cart says the customer wants, within the capture's length limit."""
    text = "abandoned cart: " + ", ".join(
        item.product if item.quantity == 1 else f"{item.product} ×{item.quantity}" for item in cart.items)
    return text if len(text) <= MAX_INTEREST_LENGTH else text[:MAX_INTEREST_LENGTH - 1] + "…"


class ShopIntake:
    """The shop's inquiries and abandoned carts (``<prefix>.inbound.shop``; its checkouts are the orders
    service's)."""

    def __init__(self, *, capture: CaptureLeadHandler) -> None:
        self._capture = capture

    def handlers(self) -> dict[str, EventHandler]:
        return {
            InquirySubmittedV1.event_type: self.on_inquiry,
            CartAbandonedV1.event_type: self.on_cart_abandoned,
        }

    async def on_inquiry(self, conn: Any, event: InboundEvent) -> None:
        inquiry = event.payload
        assert isinstance(inquiry, InquirySubmittedV1)
        await self._capture(CaptureLead(
            name=inquiry.name, phone=inquiry.phone, channel=SHOP_CHANNEL, interest=inquiry.interest,
            team_id=inquiry.team_id, source_system=SHOP_INQUIRIES, external_id=inquiry.inquiry_id,
            campaign_id=inquiry.campaign_id, utm_source=inquiry.utm_source, utm_medium=inquiry.utm_medium,
            utm_campaign=inquiry.utm_campaign, utm_content=inquiry.utm_content, utm_term=inquiry.utm_term,
        ), CommandContext.for_message(event.headers, SHOP_ACTOR), conn=conn)

    async def on_cart_abandoned(self, conn: Any, event: InboundEvent) -> None:
        cart = event.payload
        assert isinstance(cart, CartAbandonedV1)
        # An open lead for the phone gets a touchpoint (and its owner a reminder); otherwise a new lead.
        await self._capture(CaptureLead(
            name=cart.name, phone=cart.phone, channel=SHOP_CHANNEL, interest=cart_interest(cart),
            source_system=SHOP_CARTS, external_id=cart.cart_id,
        ), CommandContext.for_message(event.headers, SHOP_ACTOR), conn=conn)


class CallIntake:
    """The call center's calls (``<prefix>.inbound.calls``): each a ``RecordCall``."""

    def __init__(self, *, record_call: RecordCallHandler) -> None:
        self._record_call = record_call

    def handlers(self) -> dict[str, EventHandler]:
        return {CallRecordedV1.event_type: self.on_call_recorded}

    async def on_call_recorded(self, conn: Any, event: InboundEvent) -> None:
        call = event.payload
        assert isinstance(call, CallRecordedV1)
        await self._record_call(RecordCall(
            caller_number=call.caller_number, caller_name=call.caller_name,
            call=Call(call_id=call.call_id, direction=call.direction, outcome=call.outcome,
                      started_at=call.started_at, duration_seconds=call.duration_seconds, agent_id=call.agent_id,
                      recording_url=call.recording_url),
        ), CommandContext.for_message(event.headers, CALL_CENTER_ACTOR), conn=conn)
