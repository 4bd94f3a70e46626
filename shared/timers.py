"""Durable timers: schedule "at time T, run handler K with payload P" in the same transaction as a command,
and have it fire once, even across restarts and with several replicas running.

The runner takes due timers with ``FOR UPDATE SKIP LOCKED`` (replicas share the work without firing a timer
twice), runs the handler and marks the timer fired *in the same transaction*: the handler's effect and the
"fired" mark commit together or not at all. A failing handler is retried with backoff and its error recorded.
Time comes from an injected clock, so tests can move it forward instead of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from shared.db import Connection
from shared.timer_model import Timer, TimerHandler, timer_row

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


async def schedule_timer(
    conn: Connection, timer_id: str, kind: str, due_at: datetime, payload: Mapping[str, Any] | None = None
) -> None:
    """Schedule (or move, if still pending) a timer. Call inside the command's transaction."""
    await conn.execute("SELECT sf_schedule_timers($1::jsonb)", [timer_row(timer_id, kind, due_at, payload)])


async def cancel_timer(conn: Connection, timer_id: str) -> bool:
    """Cancel a pending timer; False if it had fired, was cancelled, or never existed."""
    cancelled: int = await conn.fetchval("SELECT sf_cancel_timers($1::text[])", [timer_id])
    return cancelled == 1


class TimerRunner:
    """Fires due timers of the kinds it has handlers for."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        handlers: Mapping[str, TimerHandler],
        clock: Clock,
        poll_interval: float = 1.0,
        batch_size: int = 100,
        max_backoff: timedelta = timedelta(minutes=10),
    ) -> None:
        self._pool = pool
        self._handlers = dict(handlers)
        self._clock = clock
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self.fired = 0

    async def run(self) -> None:
        """Fire due timers until cancelled; a database outage is retried."""
        while True:
            try:
                fired = await self.fire_due()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("timers.unavailable", error=repr(exc))
                fired = 0
            if fired < self._batch_size:
                await asyncio.sleep(self._poll_interval)

    async def fire_due(self) -> int:
        """Fire every timer due at the clock's current time (in batches); returns how many fired."""
        total = 0
        while True:
            fired, taken = await self._fire_batch(self._clock())
            total += fired
            if taken < self._batch_size:
                return total

    async def _fire_batch(self, now: datetime) -> tuple[int, int]:
        fired = 0
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT timer_id, kind, due_at, payload, attempts FROM timers
                   WHERE status = 'pending' AND due_at <= $1 AND kind = ANY($2::text[])
                   ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED""",
                now, list(self._handlers), self._batch_size,
            )
            for row in rows:
                timer = Timer(**dict(row))
                try:
                    async with conn.transaction():  # savepoint: one failing timer does not undo the others
                        await self._handlers[timer.kind](conn, timer)
                        await conn.execute(
                            "UPDATE timers SET status = 'fired', fired_at = $2, attempts = attempts + 1 "
                            "WHERE timer_id = $1", timer.timer_id, now,
                        )
                    fired += 1
                except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
                    raise
                except Exception as exc:
                    backoff = min(timedelta(seconds=2 ** min(timer.attempts, 20)), self._max_backoff)
                    log.warning("timers.handler_failed", timer_id=timer.timer_id, kind=timer.kind,
                                error=repr(exc), retry_in_s=backoff.total_seconds())
                    await conn.execute(
                        "UPDATE timers SET attempts = attempts + 1, last_error = $2, due_at = $3 WHERE timer_id = $1",
                        timer.timer_id, f"{type(exc).__name__}: {exc}", now + backoff,
                    )
        self.fired += fired
        return fired, len(rows)
