"""Online-shop checkout: an order placed and paid in the shop becomes a signed, paid order here — once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.orders.app.common import OrderResult, load_order
from services.orders.app.ports import (
    Changes,
    CheckoutAlreadyRecordedError,
    Clock,
    CommandContext,
    IdFactory,
    OrdersConfig,
    OrdersStore,
)
from services.orders.domain.lines import Line
from services.orders.domain.order import Order, ShopCheckout
from services.orders.domain.parties import Customer


@dataclass(frozen=True, slots=True)
class CheckOutShopOrder:
    shop_order_id: str
    customer_name: str
    customer_phone: str
    lines: Sequence[Line]
    total_minor: int
    paid_minor: int
    currency: str
    discount_minor: int = 0
    lead_id: str | None = None
    customer_id: str | None = None
    consultant_id: str | None = None
    payment_reference: str | None = None


class CheckOutShopOrderHandler:
    """Idempotent on the shop's order id: a retry (or a concurrent duplicate) answers with the first order and
    stores nothing. The key is claimed in the same transaction as the append, so there is no window in which
    two orders could be created for one shop order."""

    def __init__(self, *, store: OrdersStore, clock: Clock, new_id: IdFactory, config: OrdersConfig) -> None:
        self._store, self._clock, self._new_id = store, clock, new_id
        self._currencies = config.currencies

    async def __call__(self, command: CheckOutShopOrder, context: CommandContext) -> OrderResult:
        shop_order_id = command.shop_order_id.strip()  # the key as stored: " S-1" and "S-1" are one order
        existing = await self._store.order_for_shop_order(shop_order_id)
        if existing is not None:
            return await self._existing(existing)
        now = self._clock()
        customer = Customer.of(customer_id=command.customer_id, name=command.customer_name,
                               phone=command.customer_phone)
        checkout = ShopCheckout(
            shop_order_id=shop_order_id, customer=customer, lines=command.lines,
            discount_minor=command.discount_minor, total_minor=command.total_minor, paid_minor=command.paid_minor,
            currency=command.currency, lead_id=command.lead_id, consultant_id=command.consultant_id,
            payment_id=self._new_id(), payment_reference=command.payment_reference,
        )
        order = Order.check_out(order_id=self._new_id(), checkout=checkout, now=now, currencies=self._currencies)
        try:
            versions = await self._store.commit(
                Changes([order], shop_order=(checkout.shop_order_id, order.id)), context=context, now=now,
            )
        except CheckoutAlreadyRecordedError as exc:  # lost a race with a concurrent duplicate
            return await self._existing(exc.order_id)
        return OrderResult(order, versions[f"order-{order.id}"], created=True)

    async def _existing(self, order_id: str) -> OrderResult:
        order = await load_order(self._store, order_id)
        return OrderResult(order, order.version, created=False)
