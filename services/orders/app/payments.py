"""Money commands on an order: payments, financing decisions, refunds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.orders.app.common import OrderResult, OrdersHandler, no_order
from services.orders.app.ports import CommandContext, OrdersUnitOfWork
from services.orders.domain.order import Order, PaymentDetails


@dataclass(frozen=True, slots=True)
class RecordPayment:
    order_id: str
    kind: str
    amount_minor: int
    currency: str
    method: str | None = None
    reference: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ApproveFinancing:
    order_id: str
    provider: str
    amount_minor: int
    currency: str
    reference: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class DeclineFinancing:
    order_id: str
    provider: str
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class RefundPayment:
    order_id: str
    amount_minor: int
    currency: str
    reason: str
    expected_version: int | None = None


class RecordPaymentHandler(OrdersHandler):
    async def __call__(self, command: RecordPayment, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            # False for a retry of a payment already recorded under this reference: nothing new is appended.
            order.pay(PaymentDetails(self._new_id(), command.kind, command.amount_minor, command.currency,
                                     command.method, command.reference), now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class ApproveFinancingHandler(OrdersHandler):
    async def __call__(self, command: ApproveFinancing, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            order.approve_financing(provider=command.provider, amount_minor=command.amount_minor,
                                    currency=command.currency, reference=command.reference, now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class DeclineFinancingHandler(OrdersHandler):
    async def __call__(self, command: DeclineFinancing, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            order.decline_financing(provider=command.provider, reason=command.reason, now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class RefundPaymentHandler(OrdersHandler):
    async def __call__(self, command: RefundPayment, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            order.refund(refund_id=self._new_id(), amount_minor=command.amount_minor, currency=command.currency,
                         reason=command.reason, now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)
