"""PostgreSQL event store over asyncpg.

Appends take per-stream advisory locks (``sf_lock_streams``), compare the expected versions, and insert all
events of all streams with one ``INSERT … SELECT unnest(…)``. The unique (stream_id, version) constraint is the
backstop: even a bug in the version check cannot silently overwrite history.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson

from shared.db import Connection
from shared.eventstore.errors import ConcurrencyError, StreamOrderConflictError
from shared.eventstore.records import AppendRequest, FeedPosition, RecordedEvent

_SELECT_COLUMNS = """position, (txid::text)::bigint AS txid, event_id, stream_id, stream_type, version,
    event_type, schema_version, data, metadata, occurred_at, recorded_at"""

_INSERT = """
INSERT INTO events (event_id, stream_id, stream_type, version, event_type, schema_version, data, metadata,
                    occurred_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::jsonb[],
                     $8::jsonb[], $9::timestamptz[])
"""

# Commit-order-safe feed; see shared/messaging/relay.py for why it cannot skip a late commit.
_FEED = f"""
SELECT {_SELECT_COLUMNS} FROM events
WHERE (txid, position) > ($1::bigint::text::xid8, $2::bigint)
  AND txid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY txid, position
LIMIT $3
"""


def _to_recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(**dict(row))


async def read_feed(
    executor: Connection | asyncpg.Pool, after: FeedPosition, limit: int
) -> list[RecordedEvent]:
    """Committed events after ``after`` in commit-safe (txid, position) order. Events of transactions still
    running — and of every transaction with a larger id than the oldest running one — wait for the next call,
    so nothing is ever skipped (the argument is in shared/messaging/relay.py)."""
    rows = await executor.fetch(_FEED, after.txid, after.position, limit)
    return [_to_recorded(r) for r in rows]


class PostgresEventStore:
    """Event store for one service database. All methods accept an optional connection: pass the connection
    of an open transaction to make the append part of a larger unit of work (e.g. an idempotent consumer's
    effect); otherwise the store uses its own transaction from the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def _transaction(self, conn: Connection | None) -> AsyncIterator[Connection]:
        if conn is not None:
            yield conn
            return
        async with self._pool.acquire() as own, own.transaction():
            yield own

    async def append(
        self, requests: Sequence[AppendRequest], *, conn: Connection | None = None
    ) -> dict[str, int]:
        """Append events to one or more streams atomically; returns each stream's new version.

        Raises :class:`ConcurrencyError` if a stream is not at its ``expected_version`` (nothing is written),
        and :class:`StreamOrderConflictError` (retryable) if the caller's transaction already had an id older
        than the stream's last writer — appending then would break per-stream commit order.
        """
        stream_ids = [r.stream_id for r in requests]
        if len(set(stream_ids)) != len(stream_ids):
            raise ValueError("append: one request per stream")
        async with self._transaction(conn) as tx:
            rows = await tx.fetch("SELECT * FROM sf_lock_streams($1::text[])", stream_ids)
            current = {r["stream_id"]: r for r in rows}
            columns: list[list[Any]] = [[] for _ in range(9)]
            new_versions: dict[str, int] = {}
            for request in requests:
                state = current[request.stream_id]
                version = state["current_version"]
                if request.expected_version is not None and request.expected_version != version:
                    raise ConcurrencyError(request.stream_id, request.expected_version, version)
                own, last = state["own_txid"], state["last_txid"]
                if own is not None and last is not None and int(last) > int(own):
                    raise StreamOrderConflictError(
                        f"stream {request.stream_id!r}: transaction {own} predates its last writer {last}"
                    )
                for event in request.events:
                    version += 1
                    for column, value in zip(
                        columns,
                        (
                            event.event_id, request.stream_id, request.stream_type, version, event.event_type,
                            event.schema_version, orjson.dumps(event.data).decode(),
                            orjson.dumps(event.metadata).decode(), event.occurred_at,
                        ),
                        strict=True,
                    ):
                        column.append(value)
                new_versions[request.stream_id] = version
            if columns[0]:
                try:
                    await tx.execute(_INSERT, *columns)
                except asyncpg.UniqueViolationError as exc:
                    # Only reachable if the lock protocol was bypassed (a writer not using this store).
                    raise ConcurrencyError(exc.constraint_name or "?", -1, -1) from exc
            return new_versions

    async def load(
        self, stream_id: str, *, conn: Connection | None = None, after_version: int = 0
    ) -> list[RecordedEvent]:
        """All events of a stream (optionally after a version), oldest first; empty if the stream is new."""
        executor = conn or self._pool
        rows = await executor.fetch(
            f"SELECT {_SELECT_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version",
            stream_id, after_version,
        )
        return [_to_recorded(r) for r in rows]

    async def read_feed(
        self, after: FeedPosition, limit: int, *, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        """The commit-ordered feed; see :func:`read_feed`."""
        return await read_feed(conn or self._pool, after, limit)
