"""Group commit: concurrent commands on one worker share one transaction (one BEGIN/COMMIT, one WAL flush).

A command arriving while a batch is being executed waits at most ``window`` seconds for others; when nothing is in
flight it goes at the next turn of the event loop (an idle worker adds no latency). A batch runs its members one
after another on one connection, each in its own SAVEPOINT (one round trip a member, see ``_execute``): a member
that raises (a domain refusal, a version conflict, a database error) is rolled back to its savepoint and gets its
error; the others are untouched. Members
run in arrival order, so a later command on the same stream sees the earlier one's events (per-stream order and
optimistic concurrency are the event store's, exactly as in a transaction of one). Nobody gets an answer — result
or error — before the batch's COMMIT has returned; if the COMMIT fails, every member gets that failure.

``SALESFLOW_TEST_PAUSE_BEFORE_COMMIT=<path>`` is a test hook: the first batch to reach its COMMIT creates ``<path>``
and waits there forever, so a test can kill the process between execute and commit (tests/integration/
test_group_commit_crash.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from shared.db import Connection
from shared.unit_of_work.retry import RetryableConflictError

T = TypeVar("T")

WINDOW_SECONDS = 0.0015
"""How long a command waits for company while another batch is in flight: the issue's "a millisecond or two"."""
MAX_BATCH = 64
"""A batch no larger than the in-flight bound (``<SERVICE>_MAX_IN_FLIGHT``): one slow batch delays few."""

Body = Callable[[Connection], Awaitable[Any]]


class GroupCommit:
    """``await group.run(body)``: ``body(conn)`` runs inside a savepoint of a shared transaction; returns its
    result (or raises its error) after that transaction committed."""

    def __init__(self, pool: asyncpg.Pool, *, window: float = WINDOW_SECONDS, max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._window = window
        self._max_batch = max_batch
        self._waiting: list[tuple[Body, asyncio.Future[Any]]] = []
        self._full = asyncio.Event()
        self._gathering: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._pause_marker = os.environ.get("SALESFLOW_TEST_PAUSE_BEFORE_COMMIT")

    async def run(self, body: Callable[[Connection], Awaitable[T]]) -> T:
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((body, answer))
        if len(self._waiting) >= self._max_batch:
            self._full.set()
        if self._gathering is None:
            self._gathering = asyncio.create_task(self._gather_then_execute())
        return await answer

    async def _gather_then_execute(self) -> None:
        if self._in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._window)
        else:
            await asyncio.sleep(0)  # those arriving in this same turn of the loop come along
        batch, self._waiting = self._waiting, []
        self._full.clear()
        self._gathering = None
        self._in_flight += 1
        try:
            await self._execute(batch)
        finally:
            self._in_flight -= 1

    async def _execute(self, batch: list[tuple[Body, asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                # The members' savepoints are one name, kept by hand rather than by a nested conn.transaction()
                # each (SAVEPOINT, then RELEASE: two round trips a member): after a member that succeeded, its
                # RELEASE and the next member's SAVEPOINT go in one message; after one that was rolled back to the
                # savepoint, the savepoint still stands and the next member starts on it; the last one's is
                # released by COMMIT. One round trip a member instead of two.
                start: str | None = "SAVEPOINT member"
                for body, answer in batch:
                    if answer.done():  # its caller gave up (cancelled) before its turn
                        continue
                    try:
                        if start:
                            await conn.execute(start)
                        start = None
                        result = await body(conn)
                    except Exception as error:
                        await conn.execute("ROLLBACK TO SAVEPOINT member")  # the member's work, nothing else
                        if isinstance(error, asyncpg.exceptions.DeadlockDetectedError):
                            # Two batches each holding a stream the other wants: nothing about this command; redo.
                            error = RetryableConflictError(str(error))
                        outcomes.append((answer, error, None))
                    else:
                        start = "RELEASE SAVEPOINT member; SAVEPOINT member"
                        outcomes.append((answer, None, result))
                if self._pause_marker:
                    await self._pause_before_commit()
        except BaseException as error:  # BEGIN, a savepoint's bookkeeping or the COMMIT failed: nothing committed
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error if isinstance(error, Exception) else asyncio.CancelledError())
            if not isinstance(error, Exception):
                raise
            return
        for answer, failure, result in outcomes:  # committed: now, and only now, the answers
            if answer.done():
                continue
            if failure is None:
                answer.set_result(result)
            else:
                answer.set_exception(failure)

    async def _pause_before_commit(self) -> None:
        assert self._pause_marker is not None
        pathlib.Path(self._pause_marker).touch()  # noqa: ASYNC240 -- a test hook, once
        await asyncio.Event().wait()
