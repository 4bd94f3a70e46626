"""Pure building blocks for event-sourced aggregates. No I/O, no clock, no logging: time and ids come in as
arguments, so every rule can be unit-tested with plain values."""

from shared.domain.aggregate import Aggregate, DomainError, DomainEvent, EventTypeRegistry, InvalidFieldError
from shared.domain.moments import check_scheduled

__all__ = ["Aggregate", "DomainError", "DomainEvent", "EventTypeRegistry", "InvalidFieldError", "check_scheduled"]
