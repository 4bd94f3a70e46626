"""PostgreSQL event store over asyncpg.

An append is one call of the SQL function ``sf_append`` (shared/sql/rules/sf_append.sql: its current definition
and document format): it takes per-stream advisory locks, compares the expected
versions and inserts the events of all streams in one statement — one round trip. The requests travel as one jsonb
document, serialised from the dataclasses by a single orjson call: far cheaper, in the client and in the server,
than one array parameter per column. The unique (stream_id, version) constraint is the backstop: even a bug in the
version check cannot silently overwrite history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from shared.db import Connection
from shared.eventstore.errors import ConcurrencyError, StreamOrderConflictError
from shared.eventstore.records import AppendRequest, FeedPosition, RecordedEvent

# In RecordedEvent's field order: the relay builds its records positionally from these columns (a unit test checks).
FEED_COLUMNS = """position, (txid::text)::bigint AS txid, event_id, stream_id, stream_type, version,
    event_type, schema_version, data, metadata, occurred_at, recorded_at"""

_APPEND = "SELECT stream_id, new_version FROM sf_append($1::jsonb)"



def feed_query(horizon: str = "(SELECT sf_feed_horizon())") -> str:
    """The commit-order-safe feed; see shared/messaging/relay.py for why it cannot skip a late commit. ORDER BY
    names the table's columns: a bare ``txid`` is the select list's bigint alias, which the (txid, position) index
    cannot serve — every read then sorted the whole backlog for its LIMIT (43 ms vs 1 ms per 1000-event read at a
    20,000-event backlog; the relay's reads grew quadratically with a backlog). Parameters: the position to read
    after ($1 txid, $2 position) and the limit ($3). ``horizon`` is the SQL of the read limit: the relay folds the
    query into a statement of its own that computes ``sf_feed_horizon()`` once for two uses (it costs ~40-60 µs of
    backend CPU a call and grows with the cluster's connections); it must be that function's value on the same
    statement's snapshot."""
    return f"""
SELECT {FEED_COLUMNS} FROM events
WHERE (txid, position) > ($1::bigint::text::xid8, $2::bigint)
  AND txid < {horizon}
ORDER BY events.txid, events.position
LIMIT $3
"""


FEED_QUERY = feed_query()


_RECORDED_FIELDS = tuple(RecordedEvent.__dataclass_fields__)


def recorded_from_row(row: asyncpg.Record) -> RecordedEvent:
    """A RecordedEvent from a row holding (at least) the feed's columns."""
    return RecordedEvent(*(row[name] for name in _RECORDED_FIELDS))


async def read_feed(
    executor: Connection | asyncpg.Pool, after: FeedPosition, limit: int
) -> list[RecordedEvent]:
    """Committed events after ``after`` in commit-safe (txid, position) order. Events of transactions still
    running — and of every transaction with a larger id than the oldest running one — wait for the next call,
    so nothing is ever skipped (the argument is in shared/messaging/relay.py)."""
    rows = await executor.fetch(FEED_QUERY, after.txid, after.position, limit)
    return [recorded_from_row(r) for r in rows]


class PostgresEventStore:
    """Event store for one service database. All methods accept an optional connection: pass the connection
    of an open transaction to make the append part of a larger unit of work (e.g. an idempotent consumer's
    effect); otherwise each call is its own transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def append(
        self, requests: Sequence[AppendRequest], *, conn: Connection | None = None, through: str = _APPEND,
        args: Sequence[Any] = (),
    ) -> dict[str, int]:
        """Append events to one or more streams atomically; returns each stream's new version.

        One statement (``sf_append``): on its own it is its own transaction; with ``conn`` it joins the
        caller's. ``through`` replaces that statement by a service's own, which takes the document as ``$1`` (and
        ``args`` after it), calls ``sf_append`` with it *first* and returns its rows — so the service's bookkeeping
        of the same command rides in the append's round trip (services/leads/migrations/rules/capture.sql,
        ``leads_append_recording``). Raises :class:`ConcurrencyError` if a stream is not at its
        ``expected_version`` (nothing is written), and :class:`StreamOrderConflictError` (retryable) if the
        caller's transaction already had an id older than the stream's last writer — appending then would break
        per-stream commit order.
        """
        if len({r.stream_id for r in requests}) != len(requests):
            raise ValueError("append: one request per stream")
        if any(e.occurred_at.tzinfo is None for r in requests for e in r.events):
            # In JSON a naive time would be read in the server session's time zone; say which one we mean.
            raise ValueError("append: occurred_at must be timezone-aware")
        # orjson serialises the (slotted) dataclasses field by field: the document's shape is the one sf_append
        # reads, so renaming a field of AppendRequest or NewEvent means changing the SQL function too.
        document = orjson.dumps(requests).decode()
        executor = conn or self._pool
        try:
            rows = await executor.fetch(through, document, *args)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == "SF001":
                detail = orjson.loads(exc.detail or "{}")
                raise ConcurrencyError(detail["stream_id"], detail["expected"], detail["actual"]) from None
            if exc.sqlstate == "SF002":
                raise StreamOrderConflictError(str(exc)) from None
            raise
        return {r["stream_id"]: r["new_version"] for r in rows}

    async def load(
        self, stream_id: str, *, conn: Connection | None = None, after_version: int = 0
    ) -> list[RecordedEvent]:
        """All events of a stream (optionally after a version), oldest first; empty if the stream is new."""
        executor = conn or self._pool
        rows = await executor.fetch(
            f"SELECT {FEED_COLUMNS} FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version",
            stream_id, after_version,
        )
        return [recorded_from_row(r) for r in rows]

    async def read_feed(
        self, after: FeedPosition, limit: int, *, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        """The commit-ordered feed; see :func:`read_feed`."""
        return await read_feed(conn or self._pool, after, limit)
