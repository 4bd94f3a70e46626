"""Retrying a unit of work on conflicts that say nothing about the command itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.eventstore import ConcurrencyError, StreamOrderConflictError

T = TypeVar("T")


class LookupRaceError(Exception):
    """A concurrent transaction wrote the same lookup key (unique violation): redo the unit of work, which then
    sees the other's row."""


async def with_retries(
    unit_of_work: Callable[[], Awaitable[T]], *, attempts: int = 5, retry_version_conflicts: bool = False
) -> T:
    """Run ``unit_of_work`` (one whole transaction) again after a retryable conflict: the event store's
    StreamOrderConflictError (our transaction got its id before a later writer of the same stream), a lookup
    race, and — only when the client did not pin an expected version — a version conflict (reloading and
    re-deciding is then exactly what the client would do)."""
    retryable: tuple[type[Exception], ...] = (StreamOrderConflictError, LookupRaceError)
    if retry_version_conflicts:
        retryable = (*retryable, ConcurrencyError)
    for attempt in range(1, attempts + 1):
        try:
            return await unit_of_work()
        except retryable:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
