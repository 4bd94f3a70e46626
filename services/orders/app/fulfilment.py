"""Order lifecycle commands: cancel, schedule and reschedule delivery, complete and reopen items of the delivery
checklist, deliver."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.orders.app.common import OrderResult, OrdersHandler
from services.orders.app.ports import Clock, CommandContext, OrdersConfig, UnitOfWorkFactory
from services.orders.domain.order import Order
from services.orders.domain.vehicle import Vehicle
from shared.commands import ExpectedVersion


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str
    reason: Annotated[str, Field(max_length=500)]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ScheduleDelivery:
    order_id: str
    scheduled_for: datetime
    location: Annotated[str | None, Field(max_length=200)] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class RescheduleDelivery:
    order_id: str
    scheduled_for: datetime
    location: Annotated[str | None, Field(max_length=200)] = None
    reason: Annotated[str | None, Field(max_length=500, description="why the date moves")] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class CompleteDeliveryChecklistItem:
    order_id: str
    item: Annotated[str, Field(description="a checklist item id of the order's department (config/"
                                           "delivery_checklists/)", examples=["invoice"])]
    reference: Annotated[str | None, Field(max_length=200, description="invoice no., policy no., plate, …")] = None
    note: Annotated[str | None, Field(max_length=500)] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ReopenDeliveryChecklistItem:
    order_id: str
    item: Annotated[str, Field(description="a completed checklist item", examples=["registration"])]
    reason: Annotated[str, Field(max_length=500, description="why it must be done again",
                                 examples=["the plate was issued for the vehicle that was swapped"])]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class DeliverOrder:
    order_id: str
    expected_version: ExpectedVersion = None


class CancelOrderHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock)
        self._refund_percent = config.refund_percent_of_paid

    async def __call__(self, command: CancelOrder, context: CommandContext) -> OrderResult:
        # The allocated vehicle is freed in the same transaction as the cancellation.
        def change(order: Order, vehicle: Vehicle | None, now: datetime) -> None:
            order.cancel(reason=command.reason, refund_percent_of_paid=self._refund_percent, now=now, vehicle=vehicle)
        return await self._change_order_and_vehicle(command.order_id, command.expected_version, context, change)


class ScheduleDeliveryHandler(OrdersHandler):
    async def __call__(self, command: ScheduleDelivery, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.schedule_delivery(scheduled_for=command.scheduled_for, location=command.location, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class RescheduleDeliveryHandler(OrdersHandler):
    async def __call__(self, command: RescheduleDelivery, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.reschedule_delivery(scheduled_for=command.scheduled_for, location=command.location,
                                      reason=command.reason, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class CompleteDeliveryChecklistItemHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock)
        self._config = config

    async def __call__(self, command: CompleteDeliveryChecklistItem, context: CommandContext) -> OrderResult:
        def change(order: Order, now: datetime) -> None:
            order.complete_checklist_item(
                item=command.item, checklist=self._config.delivery_checklist(order.team_id),
                completed_by=context.actor, reference=command.reference, note=command.note, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class ReopenDeliveryChecklistItemHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock)
        self._config = config

    async def __call__(self, command: ReopenDeliveryChecklistItem, context: CommandContext) -> OrderResult:
        # On the order stream like Delivered: a reopen racing the delivery either lands first (and the delivery,
        # decided again, finds the item open) or finds the order delivered.
        def change(order: Order, now: datetime) -> None:
            order.reopen_checklist_item(item=command.item, checklist=self._config.delivery_checklist(order.team_id),
                                        reason=command.reason, reopened_by=context.actor, now=now)
        return await self._change_order(command.order_id, command.expected_version, context, change)


class DeliverOrderHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock)
        self._config = config

    async def __call__(self, command: DeliverOrder, context: CommandContext) -> OrderResult:
        # The checklist in force is the department's configuration at delivery time; the vehicle is handed over
        # (VehicleHandedOver) in the same transaction as Delivered.
        def change(order: Order, vehicle: Vehicle | None, now: datetime) -> None:
            order.deliver(now=now, checklist=self._config.delivery_checklist(order.team_id), vehicle=vehicle)
        return await self._change_order_and_vehicle(command.order_id, command.expected_version, context, change)
