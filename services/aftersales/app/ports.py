"""What the application layer needs from the outside world; adapters implement these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shared.commands import CommandContext as CommandContext  # re-exported for the handlers
from shared.domain import Aggregate
from shared.idempotency import IdempotentRequest
from shared.unit_of_work.core import UnitOfWorkFactory as KernelUnitOfWorkFactory

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]
Tx = Any  # an open database connection/transaction, passed through untouched (the consumer's or the timer's)

A = TypeVar("A", bound=Aggregate)


class AftersalesStore(Protocol):
    """Aggregates as the read endpoints see them (the command handlers go through the unit of work)."""

    async def load(self, cls: type[A], aggregate_id: str) -> A | None:
        """The aggregate rebuilt from its stream, or None if the stream is empty."""


class AftersalesUnitOfWork(Protocol):
    """One transaction: the kernel's unit of work (``shared.unit_of_work``) plus the lookups the reactions read in
    it. ``commit`` appends the pending events of every added aggregate in one call together with the read tables
    and the durable timers those events imply, so nothing is ever half-written."""

    async def load(self, cls: type[A], aggregate_id: str, *, expected_version: int | None = None) -> A | None: ...
    async def load_repeat(self, cls: type[A], request: IdempotentRequest | None) -> A | None: ...
    async def get(self, cls: type[A], aggregate_id: str, *, missing: Callable[[], Exception],
                  expected_version: int | None = None) -> A: ...
    def add(self, aggregate: Aggregate) -> None: ...
    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]: ...

    async def referral_for_lead(self, lead_id: str) -> str | None:
        """The referral a lead was created from, if any."""

    async def delivered_order_for_lead(self, lead_id: str) -> str | None:
        """The order (care plan) already delivered for a lead, if any."""


UnitOfWorkFactory = KernelUnitOfWorkFactory[AftersalesUnitOfWork]


class History(Protocol):
    async def history(self, stream_id: str) -> list[dict[str, Any]]:
        """The stream's stored events in order (who did what when)."""


@dataclass(frozen=True, slots=True)
class CareScope:
    """The care plans a caller may see (app/access.py): ``consultant`` — only plans sold by them; ``team`` — only
    plans of that team. Plans without a consultant or team are everyone's. None in the queries: no narrowing."""

    consultant: str | None
    team: str | None


class CareQueries(Protocol):
    async def timeline(self, customer_id: str, *, limit: int) -> list[dict[str, Any]]: ...
    async def visits(self, *, state: str, now: datetime, limit: int,
                     assignee_role: str | None, scope: CareScope | None = None) -> list[dict[str, Any]]: ...
    async def complaints(self, *, sla_state: str | None, status: str | None, limit: int,
                         scope: CareScope | None = None) -> list[dict[str, Any]]: ...
    async def satisfaction(self, *, since: datetime | None, until: datetime | None,
                           scope: CareScope | None = None) -> dict[str, Any]: ...
    async def follow_ups(self, *, status: str | None, limit: int,
                         scope: CareScope | None = None) -> list[dict[str, Any]]: ...
    async def customer_in_scope(self, customer_id: str, scope: CareScope | None) -> bool:
        """Whether the customer has no care plan or one the scope holds."""
        ...
