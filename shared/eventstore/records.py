"""Value types of the event store.

``AppendRequest`` and ``NewEvent`` are also the wire format of an append: the store serialises them as they are
(orjson, field names as keys) and the SQL function ``sf_append`` reads those keys
(format in shared/sql/rules/sf_append.sql).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. ``data`` must be JSON-serialisable; ids and time are chosen by the caller
    (``occurred_at`` timezone-aware)."""

    event_id: UUID
    event_type: str
    data: dict[str, Any]
    occurred_at: datetime
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """Events for one stream. ``expected_version`` is the version the writer saw (0 for a new stream), or
    ``None`` to append whatever the current version is (only for streams that are append-only logs)."""

    stream_id: str
    stream_type: str
    expected_version: int | None
    events: tuple[NewEvent, ...]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored, with its stream version and its place in the global commit-ordered feed."""

    position: int
    txid: int
    event_id: UUID
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime

    @property
    def feed_position(self) -> FeedPosition:
        return FeedPosition(self.txid, self.position)

    def audit_entry(self) -> dict[str, Any]:
        """The event as a line of an aggregate's history: who did what when, and why (for ``GET …/{id}``)."""
        return {
            "version": self.version,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "actor": self.metadata.get("actor"),
            "correlation_id": self.metadata.get("correlation_id"),
            "causation_id": self.metadata.get("causation_id"),
            "data": self.data,
        }


@dataclass(frozen=True, slots=True, order=True)
class FeedPosition:
    """A point in the commit-ordered feed: (transaction id, position). Ordered lexicographically."""

    txid: int = 0
    position: int = 0
