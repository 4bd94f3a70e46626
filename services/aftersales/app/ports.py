"""What the application layer needs from the outside world; adapters implement these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shared.commands import CommandContext as CommandContext  # re-exported for the handlers
from shared.domain import Aggregate

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]
Tx = Any  # an open database connection/transaction, passed through untouched (the consumer's or the timer's)

A = TypeVar("A", bound=Aggregate)


class AftersalesStore(Protocol):
    """Aggregates over the event store. ``commit`` appends the pending events of several aggregates in one
    transaction together with the read tables and the durable timers those events imply, so nothing is ever
    half-written; with ``tx`` it joins the caller's transaction (consumer, timer runner)."""

    async def load(self, cls: type[A], aggregate_id: str, *, tx: Tx | None = None) -> A | None:
        """The aggregate rebuilt from its stream, or None if the stream is empty."""

    async def commit(
        self, changed: Sequence[Aggregate], *, context: CommandContext, now: datetime, tx: Tx | None = None
    ) -> dict[str, int]:
        """Append every pending event expecting each aggregate's loaded version (ConcurrencyError otherwise);
        returns the new versions by aggregate id."""


class Lookups(Protocol):
    """Small lookup tables kept by the store's projections, read inside the same transaction."""

    async def referral_for_lead(self, lead_id: str, *, tx: Tx | None = None) -> str | None:
        """The referral a lead was created from, if any."""

    async def delivered_order_for_lead(self, lead_id: str, *, tx: Tx | None = None) -> str | None:
        """The order (care plan) already delivered for a lead, if any."""


class History(Protocol):
    async def history(self, stream_id: str) -> list[dict[str, Any]]:
        """The stream's stored events in order (who did what when)."""


class CareQueries(Protocol):
    async def timeline(self, customer_id: str, *, limit: int) -> list[dict[str, Any]]: ...
    async def visits(self, *, state: str, now: datetime, limit: int,
                     assignee_role: str | None) -> list[dict[str, Any]]: ...
    async def complaints(self, *, sla_state: str | None, status: str | None, limit: int) -> list[dict[str, Any]]: ...
    async def satisfaction(self, *, since: datetime | None, until: datetime | None) -> dict[str, Any]: ...
    async def follow_ups(self, *, status: str | None, limit: int) -> list[dict[str, Any]]: ...
