"""Order lifecycle commands: cancel, schedule and reschedule delivery, deliver."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.orders.app.common import OrderResult, OrdersHandler, no_order
from services.orders.app.ports import Clock, CommandContext, OrdersConfig, OrdersUnitOfWork, UnitOfWorkFactory
from services.orders.domain.order import Order


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str
    reason: str
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduleDelivery:
    order_id: str
    scheduled_for: datetime
    location: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class RescheduleDelivery:
    order_id: str
    scheduled_for: datetime
    location: str | None = None
    reason: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class DeliverOrder:
    order_id: str
    expected_version: int | None = None


class CancelOrderHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock)
        self._refund_percent = config.refund_percent_of_paid

    async def __call__(self, command: CancelOrder, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            order.cancel(reason=command.reason, refund_percent_of_paid=self._refund_percent, now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class ScheduleDeliveryHandler(OrdersHandler):
    async def __call__(self, command: ScheduleDelivery, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            order.schedule_delivery(scheduled_for=command.scheduled_for, location=command.location, now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class RescheduleDeliveryHandler(OrdersHandler):
    async def __call__(self, command: RescheduleDelivery, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            order.reschedule_delivery(scheduled_for=command.scheduled_for, location=command.location,
                                      reason=command.reason, now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class DeliverOrderHandler(OrdersHandler):
    async def __call__(self, command: DeliverOrder, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, command.order_id, missing=no_order(command.order_id),
                                  expected_version=command.expected_version)
            order.deliver(now=now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=command.expected_version)
