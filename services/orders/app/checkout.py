"""Online-shop checkout: an order placed and paid in the shop becomes a signed, paid order here — once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictInt

from services.orders.app.common import OrderResult, OrdersHandler, no_order
from services.orders.app.ports import (
    CheckoutAlreadyRecordedError,
    Clock,
    CommandContext,
    IdFactory,
    OrdersConfig,
    OrdersUnitOfWork,
    RecordedCheckout,
    UnitOfWorkFactory,
)
from services.orders.app.terms import LineIn, lines_of
from services.orders.domain.order import Order, ShopCheckout
from services.orders.domain.parties import Customer


@dataclass(frozen=True, slots=True)
class CheckOutShopOrder:
    """An online-shop order, signed and paid in one step."""

    shop_order_id: Annotated[str, Field(min_length=1, max_length=100, description="the idempotency key")]
    customer_name: Annotated[str, Field(min_length=1, max_length=100)]
    customer_phone: Annotated[str, Field(min_length=1, max_length=40,
                                         description="any common format; stored as E.164")]
    lines: list[LineIn]
    total_minor: StrictInt
    paid_minor: StrictInt
    currency: Annotated[str, Field(min_length=3, max_length=3)]
    discount_minor: StrictInt = 0
    lead_id: Annotated[str | None, Field(max_length=60)] = None
    customer_id: Annotated[str | None, Field(max_length=60)] = None
    consultant_id: Annotated[str | None, Field(max_length=60)] = None
    payment_reference: Annotated[str | None, Field(max_length=100)] = None


class CheckOutShopOrderHandler(OrdersHandler):
    """Idempotent on the shop's order id: a retry (or a concurrent duplicate) with the same content answers with
    the first order and stores nothing; a repeat with different content is refused (CheckoutConflictError, 409,
    naming both versions). The key and the terms are claimed in the same transaction as the append, so there is
    no window in which two orders could be created for one shop order."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory,
                 config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock, new_id=new_id)
        self._currencies = config.currencies

    async def __call__(self, command: CheckOutShopOrder, context: CommandContext, *, conn: Any = None
                       ) -> OrderResult:
        """``conn``: run inside the caller's transaction (the consumer of the shop's inbound topic)."""
        shop_order_id = command.shop_order_id.strip()  # the key as stored: " S-1" and "S-1" are one order

        customer = Customer.of(customer_id=command.customer_id, name=command.customer_name,
                               phone=command.customer_phone)
        checkout = ShopCheckout(
            shop_order_id=shop_order_id, customer=customer, lines=tuple(lines_of(command.lines)),
            discount_minor=command.discount_minor, total_minor=command.total_minor,
            paid_minor=command.paid_minor, currency=command.currency, lead_id=command.lead_id,
            consultant_id=command.consultant_id, payment_id=self._new_id(),
            payment_reference=command.payment_reference,
        )

        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            recorded = await uow.recorded_checkout(shop_order_id)
            if recorded is not None:
                return await self._repeat(uow, recorded, checkout)
            order = Order.check_out(order_id=self._new_id(), checkout=checkout, now=now,
                                    currencies=self._currencies)
            uow.add(order)
            uow.claim_shop_order(checkout.shop_order_id, order.id, checkout.terms())
            return OrderResult(order, order.version, created=True)

        try:
            return await self._commands.run(decide, context, expected_version=0, conn=conn)
        except CheckoutAlreadyRecordedError as lost:  # lost a race with a concurrent duplicate
            winner = lost.recorded
        return await self._commands.run(lambda uow, now: self._repeat(uow, winner, checkout), context, conn=conn)

    @staticmethod
    async def _repeat(uow: OrdersUnitOfWork, recorded: RecordedCheckout, checkout: ShopCheckout) -> OrderResult:
        # Checkouts recorded before the terms were kept (migration 0002) cannot be compared: they answer with
        # the first order, as every repeat did then.
        if recorded.terms is not None:
            checkout.check_repeats(recorded.terms, order_id=recorded.order_id)
        order = await uow.get(Order, recorded.order_id, missing=no_order(recorded.order_id))
        return OrderResult(order, order.version, created=False)
