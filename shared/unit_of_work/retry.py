"""The retry-on-conflict policy of every command, and the runner that gives every handler one shape.

A conflict that says nothing about the command itself is retried: the event store's StreamOrderConflictError
(our transaction got its id before a later writer of the same stream), a :class:`RetryableConflictError` (a
service's lookup race, or a deadlock between two group-committed batches), and — only when the client did not
pin ``expected_version`` — a version conflict: reloading and deciding again is then exactly what the client would
do. With a pinned version the conflict is the answer (HTTP 409). Attempts are spaced by a random, exponentially
growing wait ("full jitter"), so writers racing for one stream spread out instead of colliding again in lock step.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from shared.commands import CommandContext
from shared.eventstore import ConcurrencyError, StreamOrderConflictError
from shared.unit_of_work.core import Committable, UnitOfWorkFactory

T = TypeVar("T")
U = TypeVar("U", bound=Committable)

ATTEMPTS = 30
"""Enough for 30 unpinned writers on one stream (each round at least one of them commits)."""


class RetryableConflictError(Exception):
    """A concurrent transaction won a race the locks did not cover (e.g. a unique lookup key): redo the unit of
    work, which then sees the other's row."""


async def with_retries(attempt: Callable[[], Awaitable[T]], *, pinned: bool, attempts: int = ATTEMPTS) -> T:
    """Run ``attempt`` (one whole transaction) again after a retryable conflict; see the module docstring."""
    retryable: tuple[type[BaseException], ...] = (StreamOrderConflictError, RetryableConflictError)
    if not pinned:
        retryable = (*retryable, ConcurrencyError)
    try:  # the common case, without a retry loop's bookkeeping (building one costs more than a short command)
        return await attempt()
    except retryable:
        pass
    async for trial in AsyncRetrying(retry=retry_if_exception_type(retryable), stop=stop_after_attempt(attempts - 1),
                                     wait=wait_random_exponential(multiplier=0.002, max=0.25),
                                     before=_wait_first, reraise=True):
        with trial:
            return await attempt()
    raise AssertionError("unreachable: tenacity re-raises the last error")


async def _wait_first(state: RetryCallState) -> None:
    # The first attempt failed before the loop began: wait before the loop's first try too, as between the others.
    if state.attempt_number == 1:
        await asyncio.sleep(random.uniform(0, 0.002))


Decide = Callable[[U, datetime], Awaitable[T]]


class CommandRunner(Generic[U]):
    """``run(decide, context)``: open a unit of work (in a group commit: ``UnitOfWorkFactory.transact``), let
    ``decide(uow, now)`` load and change aggregates (adding them to the unit of work), commit, and retry per the
    policy above; the answer comes after the transaction's COMMIT. Inside a caller's transaction
    (``conn``) there is no retry here: the caller (consumer, timer runner) redoes its whole transaction."""

    def __init__(self, transactions: UnitOfWorkFactory[U], clock: Callable[[], datetime]) -> None:
        self._transactions = transactions
        self._clock = clock

    async def run(self, decide: Decide[U, T], context: CommandContext, *, expected_version: int | None = None,
                  conn: Any = None) -> T:
        def decide_and_commit(now: datetime) -> Callable[[U], Awaitable[T]]:
            async def body(uow: U) -> T:
                result = await decide(uow, now)
                await uow.commit(context, now)
                return result
            return body

        if conn is not None:
            async with self._transactions(conn) as uow:
                return await decide_and_commit(self._clock())(uow)
        # A factory with group commit (PostgreSQL's, shared.unit_of_work.postgres) has ``transact``; one without
        # (a service's hand-written in-memory double) runs each command in a unit of work of its own.
        transact = getattr(self._transactions, "transact", None)

        async def attempt() -> T:
            body = decide_and_commit(self._clock())
            if transact is not None:
                return cast(T, await transact(body))
            async with self._transactions() as uow:
                return await body(uow)

        return await with_retries(attempt, pinned=expected_version is not None)
