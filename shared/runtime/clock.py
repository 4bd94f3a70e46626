"""The real clock and id source, passed into handlers (the domain never reads them itself)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock(offset_seconds: float = 0.0) -> Clock:
    """UTC now, optionally shifted: a service started with an offset behaves as if it were later — used by the
    end-to-end tests that restart a service "days later" to see durable timers fire, and for drills."""
    offset = timedelta(seconds=offset_seconds)

    def now() -> datetime:
        return datetime.now(UTC) + offset

    return now


def new_id() -> str:
    """A new random id (UUID4, as text)."""
    return str(uuid.uuid4())
