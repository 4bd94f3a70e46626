"""The PostgreSQL event store: append with optimistic concurrency, load streams, read the commit-ordered feed."""

from shared.eventstore.errors import (
    ConcurrencyError,
    EventStoreError,
    StreamOrderConflictError,
)
from shared.eventstore.records import AppendRequest, FeedPosition, NewEvent, RecordedEvent
from shared.eventstore.store import PostgresEventStore

__all__ = [
    "AppendRequest",
    "ConcurrencyError",
    "EventStoreError",
    "FeedPosition",
    "NewEvent",
    "PostgresEventStore",
    "RecordedEvent",
    "StreamOrderConflictError",
]
