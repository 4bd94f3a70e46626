"""What the application layer needs from the outside world; adapters implement these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.leads.domain.lead import Lead

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who asked and why: travels into every stored event's metadata and from there into message headers."""

    correlation_id: str
    causation_id: str | None = None
    actor: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, str]:
        meta = {"correlation_id": self.correlation_id, **self.extra}
        if self.causation_id:
            meta["causation_id"] = self.causation_id
        if self.actor:
            meta["actor"] = self.actor
        return meta


class LeadRepository(Protocol):
    async def get(self, lead_id: str) -> Lead | None:
        """The lead rebuilt from its events, or None."""

    async def save(self, lead: Lead, *, context: CommandContext, now: datetime) -> int:
        """Append the lead's pending events expecting its loaded version; returns the new version.
        Raises ConcurrencyError if someone else appended first."""


class LeadHistory(Protocol):
    async def history(self, lead_id: str) -> list[dict[str, object]]:
        """Who did what when: the lead's stored events in order."""
