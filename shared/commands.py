"""What every command carries besides its arguments: who asked and why.

The context's metadata is stored with every event the command records and travels from there into the
published messages' headers (``ce_correlationid``, ``ce_causationid``, ``traceparent``), so a reaction in
another service can be traced back to the request that started it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from shared.auth.principal import Principal
from shared.messaging.headers import EventHeaders
from shared.observability.tracing import current_traceparent


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who asked and why. ``correlation_id`` ties together everything one request caused; ``causation_id`` is
    the event or command that directly caused this one; ``actor`` is the user or system acting (for HTTP calls the
    token's subject); ``caller`` the authenticated principal, for the authorisation rules (None for reactions and
    timers, which act on their own account)."""

    correlation_id: str
    causation_id: str | None = None
    actor: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    caller: Principal | None = field(default=None, compare=False)

    @classmethod
    def for_message(cls, headers: EventHeaders, actor: str) -> CommandContext:
        """The context of a command a consumed message asks for: correlated as the message (or by its id, if it
        carries no correlation id), caused by the message, acting as ``actor``."""
        event_id = str(headers.event_id)
        return cls(correlation_id=headers.correlation_id or event_id, causation_id=event_id, actor=actor)

    def metadata(self) -> dict[str, str]:
        """The event metadata for this context (only the keys that have values)."""
        meta = {"correlation_id": self.correlation_id, **self.extra}
        if self.causation_id:
            meta["causation_id"] = self.causation_id
        if self.actor:
            meta["actor"] = self.actor
        # The trace the command runs in (when tracing is on): the relay continues it into Kafka.
        if "traceparent" not in meta and (traceparent := current_traceparent()):
            meta["traceparent"] = traceparent
        return meta


ExpectedVersion = Annotated[int | None, Field(
    ge=0, description="refuse with 409 if the aggregate is no longer at this version (the version a client read)")]
"""A command's optional ``expected_version`` field, as every service declares it (see shared/unit_of_work)."""
