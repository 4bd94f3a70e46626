"""Operations on dead letters (exposed by each service's admin API): retry one, or skip it.

Either way the messages parked behind it (same key, later) are then released in their original order, through
the consumer's own decoder and handlers, each event id claimed in ``processed_messages`` like a live delivery, so
an event that was applied in the meantime is not applied twice.

A letter is *re-checked*, never replayed blindly: it is decoded and handled again inside a savepoint, and if it
still cannot be parsed (poison) or its handler still fails, nothing of it is applied:

* the letter being retried stays open and the call fails with :class:`DeadLetterStillFailingError` (the API
  answers 409 with the reason), nothing else changes;
* a parked letter that fails while being released becomes the failed head of what is still parked (``kind``
  ``failed``, the new reason): the release stops there, the letters after it stay parked behind it, and what was
  released before it stays released. Per-key order is kept either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shared.db import Connection
from shared.messaging.consumer import TRANSIENT_ERRORS, IdempotentConsumer
from shared.messaging.inbound import PoisonMessageError


class DeadLetterStillFailingError(RuntimeError):
    """The dead letter being retried still fails: it stays open, nothing was applied."""

    def __init__(self, dead_letter_id: int, reason: str) -> None:
        super().__init__(f"dead letter {dead_letter_id} still fails: {reason}")
        self.dead_letter_id = dead_letter_id
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Released:
    """What a retry or skip did with the chain: applied events, and the letter now blocking its key, if any."""

    applied: int
    blocked_by: int | None = None
    reason: str | None = None


class DeadLetterOperations:
    """Retry and skip for the dead letters of one consumer."""

    def __init__(self, consumer: IdempotentConsumer) -> None:
        self._consumer = consumer
        self._dead_letters = consumer.dead_letters

    async def retry(self, dead_letter_id: int) -> Released:
        """Re-check a dead letter: if it now applies, release the messages parked behind it. Raises
        :class:`DeadLetterStillFailingError` (and changes nothing) if it still fails, LookupError if no such open
        letter exists."""
        async with self._consumer.pool.acquire() as conn, conn.transaction():
            head, followers = await self._dead_letters.chain(conn, dead_letter_id)
            outcome = await self._attempt(conn, head)
            if isinstance(outcome, str):
                raise DeadLetterStillFailingError(dead_letter_id, outcome)
            await self._dead_letters.resolve(conn, [head["id"]], "retried")
            released = await self._release(conn, followers)
        return Released(outcome + released.applied, released.blocked_by, released.reason)

    async def skip(self, dead_letter_id: int) -> Released:
        """Give up on a dead letter for good and release the messages parked behind it (in order)."""
        async with self._consumer.pool.acquire() as conn, conn.transaction():
            head, followers = await self._dead_letters.chain(conn, dead_letter_id)
            await self._dead_letters.resolve(conn, [head["id"]], "skipped")
            return await self._release(conn, followers)

    async def _release(self, conn: Connection, rows: Sequence[asyncpg.Record]) -> Released:
        applied = 0
        for row in rows:
            outcome = await self._attempt(conn, row)
            if isinstance(outcome, str):
                # Now the head of its key: later letters stay parked behind it, as a live delivery would park them.
                await conn.execute("UPDATE dead_letters SET kind = 'failed', reason = $2, attempts = attempts + 1 "
                                   "WHERE id = $1", row["id"], outcome)
                return Released(applied, row["id"], outcome)
            await self._dead_letters.resolve(conn, [row["id"]], "retried")
            applied += outcome
        return Released(applied)

    async def _attempt(self, conn: Connection, row: asyncpg.Record) -> int | str:
        """Apply one stored letter in a savepoint: 1 if applied, 0 if there was nothing to apply (an ignored type,
        or an event applied in the meantime), or the reason it still fails (its effects rolled back)."""
        try:
            event = self._consumer.decoder.decode(self._dead_letters.as_record(row))
        except PoisonMessageError as exc:
            return str(exc)
        if event is None:
            return 0
        try:
            async with conn.transaction():  # a savepoint: a failing handler leaves nothing behind
                inserted = await conn.fetchval(
                    "INSERT INTO processed_messages (consumer, event_id) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING RETURNING true", self._consumer.name, event.headers.event_id,
                )
                if not inserted:
                    return 0
                await self._consumer.handle(conn, event)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return 1
