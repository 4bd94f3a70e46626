"""What the application layer needs from the outside world; adapters implement these."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NewType, Protocol, TypeVar

from services.orders.domain.catalogue import PriceList
from services.orders.domain.checklist import DeliveryChecklist
from services.orders.domain.order import Order
from services.orders.domain.quote import Quote
from services.orders.domain.vehicle import Vehicle, VehicleSpec
from shared.commands import CommandContext as CommandContext  # re-exported for the handlers
from shared.domain import Aggregate
from shared.idempotency import IdempotentRequest
from shared.unit_of_work.core import TimerPlan
from shared.unit_of_work.core import UnitOfWorkFactory as KernelUnitOfWorkFactory

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]
A = TypeVar("A", bound=Aggregate)

QUOTE_EXPIRY_TIMER = "quote_expiry"


def quote_expiry_timer_id(quote_id: str) -> str:
    # Deterministic: a revision moves the same timer instead of adding a second one.
    return f"quote-expiry:{quote_id}"


@dataclass(frozen=True, slots=True)
class RecordedCheckout:
    """A shop order already checked out: the order it became and what the shop asked for then
    (``ShopCheckout.terms``; None for checkouts recorded before the terms were kept)."""

    order_id: str
    terms: dict[str, Any] | None


class CheckoutAlreadyRecordedError(Exception):
    """The shop order id is already taken (a retry or a concurrent duplicate): ``recorded`` is the winner."""

    def __init__(self, shop_order_id: str, recorded: RecordedCheckout) -> None:
        super().__init__(f"shop order {shop_order_id} is order {recorded.order_id}")
        self.shop_order_id = shop_order_id
        self.recorded = recorded


class OrdersStore(Protocol):
    """Quotes and orders as the read endpoints see them (the command handlers go through the unit of work)."""

    async def quote(self, quote_id: str) -> Quote | None:
        """The quote rebuilt from its events, or None."""

    async def order(self, order_id: str) -> Order | None:
        """The order rebuilt from its events, or None."""

    async def price_list(self, currency: str) -> PriceList | None:
        """The currency's price list (every version) rebuilt from its events, or None."""

    async def vehicle(self, vin: str) -> Vehicle | None:
        """The stock vehicle rebuilt from its events, or None."""


class OrdersUnitOfWork(Protocol):
    """One transaction: the kernel's unit of work (``shared.unit_of_work``) plus the shop-checkout key. ``commit``
    appends every added aggregate's events in one call, writes the order summaries and the timer plans, and claims
    the shop order id queued by :meth:`claim_shop_order` — all or nothing; a taken id raises
    CheckoutAlreadyRecordedError."""

    async def load(self, cls: type[A], aggregate_id: str, *, expected_version: int | None = None) -> A | None: ...
    async def load_repeat(self, cls: type[A], request: IdempotentRequest | None) -> A | None: ...
    async def get(self, cls: type[A], aggregate_id: str, *, missing: Callable[[], Exception],
                  expected_version: int | None = None) -> A: ...
    def add(self, aggregate: Aggregate, *, timers: Iterable[TimerPlan] = ()) -> None: ...
    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]: ...

    async def recorded_checkout(self, shop_order_id: str) -> RecordedCheckout | None:
        """The order an online-shop order became and its terms, if it was checked out before."""

    def claim_shop_order(self, shop_order_id: str, order_id: str, terms: dict[str, Any]) -> None:
        """Record (at commit) that the shop order became this order, with what the shop asked for: the
        checkout's idempotency key and the content a repeat must match."""

    async def free_vehicles(self, spec: VehicleSpec, limit: int) -> list[str]:
        """VINs of vehicles matching ``spec`` that no order holds and that were not delivered, the most advanced
        first (PDI done, arrived, in transit, ordered), then the longest in stock. A candidate list only: the
        vehicle's own stream decides (a concurrent allocation may have taken one since)."""


UnitOfWorkFactory = KernelUnitOfWorkFactory[OrdersUnitOfWork]


def quote_expiry(quote_id: str, due_at: datetime | None) -> TimerPlan:
    """The quote's expiry timer at ``due_at`` (None: cancel it)."""
    return TimerPlan(quote_expiry_timer_id(quote_id), QUOTE_EXPIRY_TIMER, due_at, {"quote_id": quote_id})


class History(Protocol):
    async def history(self, stream_type: str, aggregate_id: str) -> list[dict[str, Any]]:
        """Who did what when: the aggregate's stored events in order."""


class SummaryRebuilder(Protocol):
    async def rebuild_summaries(self) -> int:
        """Recompute the order summaries from the order streams; returns how many orders."""


# A manager's team: the lists show the orders of that team and those without a team (shop checkouts). None in the
# queries below means "not narrowed by team".
TeamScope = NewType("TeamScope", str)


class OrderQueries(Protocol):
    async def open_orders(self, consultant_id: str, limit: int, team: TeamScope | None = None
                          ) -> list[dict[str, Any]]: ...

    async def awaiting_delivery(self, limit: int, team: TeamScope | None = None) -> list[dict[str, Any]]: ...

    async def receivables(self, limit: int, team: TeamScope | None = None) -> dict[str, Any]: ...

    async def vehicles(self, status: str | None, model: str | None, limit: int) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class OrdersConfig:
    """Business configuration loaded from ``config/`` (data, not code)."""

    discount_limits_bp: dict[str, int]
    currencies: frozenset[str]
    refund_percent_of_paid: int = 100
    extra: dict[str, Any] = field(default_factory=dict)
    # Delivery checklist per department (team id); "default" for a team without its own and for team-less orders.
    delivery_checklists: dict[str, DeliveryChecklist] = field(default_factory=dict)

    def delivery_checklist(self, team_id: str | None) -> DeliveryChecklist:
        checklists = self.delivery_checklists
        return checklists.get(team_id or DEFAULT_CHECKLIST) or checklists.get(DEFAULT_CHECKLIST) or NO_CHECKLIST


DEFAULT_CHECKLIST = "default"
NO_CHECKLIST = DeliveryChecklist(())
