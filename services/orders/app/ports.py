"""What the application layer needs from the outside world; adapters implement these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.orders.domain.order import Order
from services.orders.domain.quote import Quote
from shared.commands import CommandContext as CommandContext  # re-exported for the handlers
from shared.domain import Aggregate

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]

QUOTE_EXPIRY_TIMER = "quote_expiry"


def quote_expiry_timer_id(quote_id: str) -> str:
    # Deterministic: a revision moves the same timer instead of adding a second one.
    return f"quote-expiry:{quote_id}"


@dataclass(frozen=True, slots=True)
class Changes:
    """One unit of work: every aggregate's pending events plus the side tables, committed together or not at
    all (the event store's multi-stream append inside one transaction)."""

    aggregates: Sequence[Aggregate]
    schedule_expiry: Sequence[tuple[str, datetime]] = ()  # (quote id, due at)
    cancel_expiry: Sequence[str] = ()  # quote ids
    shop_order: tuple[str, str] | None = None  # (shop order id, order id): the checkout's idempotency key


class CheckoutAlreadyRecordedError(Exception):
    """The shop order id is already taken by ``order_id`` (a retry or a concurrent duplicate)."""

    def __init__(self, shop_order_id: str, order_id: str) -> None:
        super().__init__(f"shop order {shop_order_id} is order {order_id}")
        self.shop_order_id = shop_order_id
        self.order_id = order_id


class OrdersStore(Protocol):
    async def quote(self, quote_id: str) -> Quote | None:
        """The quote rebuilt from its events, or None."""

    async def order(self, order_id: str) -> Order | None:
        """The order rebuilt from its events, or None."""

    async def order_for_shop_order(self, shop_order_id: str) -> str | None:
        """The order an online-shop order became, if it was checked out before."""

    async def commit(self, changes: Changes, *, context: CommandContext, now: datetime) -> dict[str, int]:
        """Append every aggregate's pending events expecting its loaded version and apply the side effects,
        atomically; returns each stream's new version. Raises ConcurrencyError (someone appended first) or
        CheckoutAlreadyRecordedError; nothing is written then."""


class History(Protocol):
    async def history(self, stream_type: str, aggregate_id: str) -> list[dict[str, Any]]:
        """Who did what when: the aggregate's stored events in order."""


class SummaryRebuilder(Protocol):
    async def rebuild_summaries(self) -> int:
        """Recompute the order summaries from the order streams; returns how many orders."""


class OrderQueries(Protocol):
    async def open_orders(self, consultant_id: str, limit: int) -> list[dict[str, Any]]: ...

    async def awaiting_delivery(self, limit: int) -> list[dict[str, Any]]: ...

    async def receivables(self, limit: int) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class OrdersConfig:
    """Business configuration loaded from ``config/`` (data, not code)."""

    discount_limits_bp: dict[str, int]
    currencies: frozenset[str]
    refund_percent_of_paid: int = 100
    extra: dict[str, Any] = field(default_factory=dict)
