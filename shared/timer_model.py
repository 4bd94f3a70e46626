"""What a durable timer is, as the code that schedules and handles timers sees it — no driver, so the application
layer can name it. The runner and the schedule/cancel statements are in ``shared.timers``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.db import Connection


@dataclass(frozen=True, slots=True)
class Timer:
    timer_id: str
    kind: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int


TimerHandler = Callable[["Connection", Timer], Awaitable[None]]


def timer_row(
    timer_id: str, kind: str, due_at: datetime, payload: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One timer as ``sf_schedule_timers`` takes it (a JSON array of these), for services that fold their timer
    changes into a statement of their own (shared/sql/0008_timer_functions.sql)."""
    return {"timer_id": timer_id, "kind": kind, "due_at": due_at.isoformat(), "payload": dict(payload or {})}
