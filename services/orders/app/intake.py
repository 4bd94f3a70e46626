"""The shop's checkouts from its inbound topic (``<prefix>.inbound.shop``, ``OrderCheckedOutV1``) run as the same
command as ``POST /v1/checkouts`` (``CheckOutShopOrder``): one rule set for both paths, idempotent on the shop's
order id.

The handler runs inside the idempotent consumer's transaction (``conn``), so the order and the processed message
id commit together. A checkout the command refuses (a conflicting repeat, lines that do not add up, an unknown
currency) raises; the consumer dead-letters the message with the reason. The actor is the shop: the broker's
ACLs let only its principal write the topic (deploy/README.md). The shop's inquiries and carts on the same topic
are the leads service's; this consumer ignores them.
"""

from __future__ import annotations

from typing import Any

from services.orders.app.checkout import CheckOutShopOrder, CheckOutShopOrderHandler
from services.orders.app.ports import CommandContext
from services.orders.app.terms import LineIn, OptionIn
from shared.contracts.inbound import OrderCheckedOutV1
from shared.messaging.inbound import EventHandler, InboundEvent

SHOP_ACTOR = "system:shop"


def checkout_command(checkout: OrderCheckedOutV1) -> CheckOutShopOrder:
    """The command the message asks for, field for field as the HTTP body."""
    return CheckOutShopOrder(
        shop_order_id=checkout.shop_order_id, customer_name=checkout.customer_name,
        customer_phone=checkout.customer_phone,
        # The contract validated the message already (its bounds are the contract's): built, not re-validated.
        lines=[LineIn.model_construct(
            product=x.product, description=x.description, quantity=x.quantity, unit_price_minor=x.unit_price_minor,
            options=[OptionIn.model_construct(code=o.code, price_minor=o.price_minor) for o in x.options])
               for x in checkout.lines],
        total_minor=checkout.total_minor, paid_minor=checkout.paid_minor, currency=checkout.currency,
        discount_minor=checkout.discount_minor, lead_id=checkout.lead_id, customer_id=checkout.customer_id,
        consultant_id=checkout.consultant_id, payment_reference=checkout.payment_reference,
    )


class ShopCheckoutIntake:
    def __init__(self, *, check_out: CheckOutShopOrderHandler) -> None:
        self._check_out = check_out

    def handlers(self) -> dict[str, EventHandler]:
        return {OrderCheckedOutV1.event_type: self.on_checked_out}

    async def on_checked_out(self, conn: Any, event: InboundEvent) -> None:
        checkout = event.payload
        assert isinstance(checkout, OrderCheckedOutV1)
        await self._check_out(checkout_command(checkout), CommandContext.for_message(event.headers, SHOP_ACTOR),
                              conn=conn)
