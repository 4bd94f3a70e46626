"""Helpers every handler uses: loading aggregates (404 if missing) and honouring the client's expected version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.orders.app.ports import Changes, Clock, CommandContext, IdFactory, OrdersStore
from services.orders.domain.order import Order
from services.orders.domain.quote import Quote
from shared.domain import Aggregate, DomainError
from shared.eventstore import ConcurrencyError


class QuoteNotFoundError(DomainError):
    code = "quote_not_found"
    http_status = 404


class OrderNotFoundError(DomainError):
    code = "order_not_found"
    http_status = 404


def check_expected_version(aggregate: Aggregate, expected: int | None, stream_id: str) -> None:
    """A client that read version N and sends ``expected_version=N`` must not act on a state it has not seen:
    checked before the domain rules, so a stale client gets 409 rather than a rule error about newer state.
    (The append itself checks the version it loaded; that covers races after this point.)"""
    if expected is not None and expected != aggregate.version:
        raise ConcurrencyError(stream_id, expected, aggregate.version)


async def load_quote(store: OrdersStore, quote_id: str, expected: int | None = None) -> Quote:
    quote = await store.quote(quote_id)
    if quote is None:
        raise QuoteNotFoundError(f"no quote {quote_id}")
    check_expected_version(quote, expected, f"quote-{quote_id}")
    return quote


async def load_order(store: OrdersStore, order_id: str, expected: int | None = None) -> Order:
    order = await store.order(order_id)
    if order is None:
        raise OrderNotFoundError(f"no order {order_id}")
    check_expected_version(order, expected, f"order-{order_id}")
    return order


@dataclass(frozen=True, slots=True)
class QuoteResult:
    quote: Quote
    version: int


@dataclass(frozen=True, slots=True)
class OrderResult:
    order: Order
    version: int
    created: bool = True


class OrderCommandHandler:
    """Base of the handlers that change one existing order: load, decide in the domain, commit."""

    def __init__(self, *, store: OrdersStore, clock: Clock, new_id: IdFactory | None = None) -> None:
        self._store, self._clock = store, clock
        self._new_id: IdFactory = new_id or _no_ids

    async def _commit(self, order: Order, context: CommandContext, now: datetime) -> OrderResult:
        versions = await self._store.commit(Changes([order]), context=context, now=now)
        return OrderResult(order, versions[f"order-{order.id}"], created=False)


def _no_ids() -> str:
    raise RuntimeError("this handler was built without an id factory")
