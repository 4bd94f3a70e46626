"""Aggregate base class and domain events.

An aggregate's state is a fold over its events. Commands are methods that check invariants against that state
and *record* new events (``self._record(event)``), which both changes the state and queues the event for the
event store. Loading replays the stored events through the same ``_apply``; so there is one code path for
"what does this event mean", whether it is new or historical.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict


class DomainError(Exception):
    """A command broke a business rule. ``code`` is machine-readable (``lead_already_lost``); the message is for
    people. The HTTP layer turns these into 4xx answers."""

    code: ClassVar[str] = "domain_error"
    http_status: ClassVar[int] = 409

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidFieldError(DomainError):
    """A command argument is invalid (answered as 422, like schema validation errors, naming the field)."""

    code = "validation_error"
    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", fields=[{"field": field, "reason": reason}])
        self.field = field
        self.reason = reason


class DomainEvent(BaseModel):
    """A fact the aggregate recorded. Subclasses set ``event_type`` (stable, explicit, never a Python path) and
    ``schema_version``; fields are the event's data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


EventT = TypeVar("EventT", bound=type[DomainEvent])


class EventTypeRegistry:
    """Maps stored type names back to event classes, so a stream can be decoded without import paths."""

    def __init__(self) -> None:
        self._types: dict[str, type[DomainEvent]] = {}

    def register(self, cls: EventT) -> EventT:
        """Class decorator: register a domain event class under its ``event_type``."""
        existing = self._types.get(cls.event_type)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {cls.event_type!r} registered twice ({existing.__name__}, {cls.__name__})")
        self._types[cls.event_type] = cls
        return cls

    def decode(self, event_type: str, data: dict[str, Any]) -> DomainEvent:
        """Rebuild a stored event. Unknown types are a programming error: a service must know its own events."""
        try:
            cls = self._types[event_type]
        except KeyError:
            raise KeyError(f"unknown stored event type {event_type!r}") from None
        return cls.model_validate(data)

    def __contains__(self, event_type: str) -> bool:
        return event_type in self._types


class Aggregate:
    """Base for event-sourced aggregates.

    ``version`` is the number of events in the stream as loaded plus those recorded since; the store appends the
    pending events with ``expected_version = loaded_version`` so concurrent writers conflict instead of
    overwriting each other.
    """

    stream_type: ClassVar[str]

    def __init__(self, aggregate_id: str) -> None:
        self.id = aggregate_id
        self.loaded_version = 0
        self._pending: list[DomainEvent] = []

    @property
    def version(self) -> int:
        return self.loaded_version + len(self._pending)

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._pending)

    @classmethod
    def rehydrate(cls, aggregate_id: str, history: Iterable[DomainEvent]) -> Self:
        """Rebuild the aggregate from its stored events (oldest first)."""
        aggregate = cls(aggregate_id)
        for event in history:
            aggregate._apply(event)
            aggregate.loaded_version += 1
        return aggregate

    def _record(self, event: DomainEvent) -> None:
        self._apply(event)
        self._pending.append(event)

    def _apply(self, event: DomainEvent) -> None:
        """Change state for one event. Subclasses implement it (typically a ``match`` on the event class)."""
        raise NotImplementedError
