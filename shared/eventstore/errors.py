"""Errors of the event store."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base class of event store errors."""


class ConcurrencyError(EventStoreError):
    """The stream's version is not the one the writer expected: someone else appended first (HTTP 409)."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class StreamOrderConflictError(EventStoreError):
    """Retryable: this transaction got its id before a later-committed writer of the same stream, so appending
    now would put the stream's events out of commit order. Roll back and retry the whole unit of work."""
