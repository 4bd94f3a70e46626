"""The event store's values and errors (no driver: the application layer imports these). The PostgreSQL store
itself — append with optimistic concurrency, load streams, read the commit-ordered feed — is
``shared.eventstore.store.PostgresEventStore``."""

from shared.eventstore.errors import (
    ConcurrencyError,
    EventStoreError,
    StreamOrderConflictError,
)
from shared.eventstore.records import AppendRequest, FeedPosition, NewEvent, RecordedEvent

__all__ = [
    "AppendRequest",
    "ConcurrencyError",
    "EventStoreError",
    "FeedPosition",
    "NewEvent",
    "RecordedEvent",
    "StreamOrderConflictError",
]
