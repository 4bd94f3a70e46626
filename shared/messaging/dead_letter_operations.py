"""Operations on dead letters (exposed by each service's admin API): retry one, or skip it.

Either way the messages parked behind it (same key, later) are applied in their original order, through the
consumer's own decoder and handlers, each event id claimed in ``processed_messages`` like a live delivery, so an
event that was applied in the meantime is not applied twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection
from shared.messaging.consumer import IdempotentConsumer


class DeadLetterOperations:
    """Retry and skip for the dead letters of one consumer."""

    def __init__(self, consumer: IdempotentConsumer) -> None:
        self._consumer = consumer
        self._dead_letters = consumer.dead_letters

    async def retry(self, dead_letter_id: int) -> int:
        """Re-apply a dead letter and the messages parked behind it, in their original order, all in one
        transaction: if any still fails, nothing changes and the error is raised. Returns how many applied."""
        async with self._consumer.pool.acquire() as conn, conn.transaction():
            head, followers = await self._dead_letters.chain(conn, dead_letter_id)
            applied = await self._replay(conn, [head, *followers])
            await self._dead_letters.resolve(conn, [head["id"], *(f["id"] for f in followers)], "retried")
        return applied

    async def skip(self, dead_letter_id: int) -> int:
        """Give up on a dead letter for good and release the messages parked behind it (applied in order)."""
        async with self._consumer.pool.acquire() as conn, conn.transaction():
            head, followers = await self._dead_letters.chain(conn, dead_letter_id)
            await self._dead_letters.resolve(conn, [head["id"]], "skipped")
            applied = await self._replay(conn, followers)
            await self._dead_letters.resolve(conn, [f["id"] for f in followers], "retried")
        return applied

    async def _replay(self, conn: Connection, rows: Sequence[asyncpg.Record]) -> int:
        applied = 0
        for row in rows:
            event = self._consumer.decoder.decode(self._dead_letters.as_record(row))
            if event is None:
                continue
            inserted = await conn.fetchval(
                "INSERT INTO processed_messages (consumer, event_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING true", self._consumer.name, event.headers.event_id,
            )
            if inserted:
                await self._consumer.handle(conn, event)
                applied += 1
        return applied
