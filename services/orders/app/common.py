"""What every orders handler shares: the command runner over the unit of work, the not-found errors, the results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.orders.app.ports import (
    Clock,
    CommandContext,
    IdFactory,
    OrdersStore,
    OrdersUnitOfWork,
    UnitOfWorkFactory,
)
from services.orders.domain.order import Order
from services.orders.domain.quote import Quote
from services.orders.domain.vehicle import Vehicle
from shared.domain import DomainError
from shared.unit_of_work.retry import CommandRunner


class QuoteNotFoundError(DomainError):
    code = "quote_not_found"
    http_status = 404


class OrderNotFoundError(DomainError):
    code = "order_not_found"
    http_status = 404


class VehicleNotFoundError(DomainError):
    code = "vehicle_not_found"
    http_status = 404


def no_vehicle(vin: str) -> Callable[[], Exception]:
    return lambda: VehicleNotFoundError(f"no vehicle {vin} in stock")


def no_quote(quote_id: str) -> Callable[[], Exception]:
    return lambda: QuoteNotFoundError(f"no quote {quote_id}")


def no_order(order_id: str) -> Callable[[], Exception]:
    return lambda: OrderNotFoundError(f"no order {order_id}")


async def load_quote(store: OrdersStore, quote_id: str) -> Quote:
    """For the read endpoints: the quote, or 404."""
    quote = await store.quote(quote_id)
    if quote is None:
        raise no_quote(quote_id)()
    return quote


async def load_order(store: OrdersStore, order_id: str) -> Order:
    """For the read endpoints: the order, or 404."""
    order = await store.order(order_id)
    if order is None:
        raise no_order(order_id)()
    return order


@dataclass(frozen=True, slots=True)
class QuoteResult:
    quote: Quote
    version: int
    created: bool = True  # False: a repeated idempotent issue answered the quote the first attempt issued


@dataclass(frozen=True, slots=True)
class OrderResult:
    order: Order
    version: int
    created: bool = True


class OrdersHandler:
    """Base of the orders command handlers: a command runner over the unit of work, and ids when they need them."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory | None = None) -> None:
        self._commands: CommandRunner[OrdersUnitOfWork] = CommandRunner(unit_of_work, clock)
        self._new_id: IdFactory = new_id or _no_ids

    async def _change_order(self, order_id: str, expected_version: int | None, context: CommandContext,
                            change: Callable[[Order, datetime], object]) -> OrderResult:
        """The shape of every command on one existing order: load it (404, or 409 for a stale pinned version),
        let it decide, commit."""
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, order_id, missing=no_order(order_id), expected_version=expected_version)
            change(order, now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=expected_version)

    async def _change_order_and_vehicle(self, order_id: str, expected_version: int | None, context: CommandContext,
                                        change: Callable[[Order, Vehicle | None, datetime], object]) -> OrderResult:
        """Like :meth:`_change_order`, with the order's allocated vehicle loaded into the same unit of work (None
        when it has none), so what the order does to it commits with the order's events."""
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            order = await uow.get(Order, order_id, missing=no_order(order_id), expected_version=expected_version)
            vehicle = await uow.get(Vehicle, order.vin, missing=no_vehicle(order.vin)) if order.vin else None
            change(order, vehicle, now)
            return OrderResult(order, order.version, created=False)
        return await self._commands.run(decide, context, expected_version=expected_version)


def _no_ids() -> str:
    raise RuntimeError("this handler was built without an id factory")
