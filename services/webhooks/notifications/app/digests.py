"""The daily digest: from the configured local time on, each active manager gets one notification summing up their
team's day (``domain/digest.py``), through their channels and quiet hours like any other. Raised at most once per
manager and day: its source id is uuid5(manager, day), so a second pass, a second replica or a restart raises
nothing new. A day whose digest time passed while the service was down gets its digest when it is back that day;
a day it was down for entirely gets none."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date, datetime, tzinfo

import structlog

from services.webhooks.notifications.app.ports import DigestSource
from services.webhooks.notifications.app.raising import NotificationRaiser
from services.webhooks.notifications.domain.digest import DIGEST_RULE, DigestSchedule, digest_message
from services.webhooks.notifications.domain.rules import Intent

log = structlog.get_logger(__name__)

DIGEST_IDS = uuid.UUID("0b7d9a52-7e3c-4f0e-8f4a-3c2b1a0d9e8f")
DIGEST_EVENT_TYPE = "salesflow.webhooks.DailyDigest"  # the source of a digest: the day itself, not an event


def digest_source_id(manager_id: str, day: date) -> str:
    return str(uuid.uuid5(DIGEST_IDS, f"{manager_id}/{day.isoformat()}"))


class DigestRunner:
    def __init__(self, *, source: DigestSource, raiser: NotificationRaiser, schedule: DigestSchedule,
                 clock: Callable[[], datetime], zone: tzinfo, poll_interval: float = 30.0) -> None:
        self._source, self._raiser, self._schedule = source, raiser, schedule
        self._clock, self._zone, self._poll_interval = clock, zone, poll_interval
        self._done: date | None = None  # the last day this runner raised for (the ids make repeats harmless)

    async def run(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception as exc:  # the loop must outlive an outage of its database
                log.warning("notifications.digest_failed", error=repr(exc))
            await asyncio.sleep(self._poll_interval)

    async def run_due(self) -> int:
        """Raise the digests due now; how many notifications were new."""
        day = self._schedule.due_day(self._clock(), self._zone)
        if day is None or day == self._done:
            return 0
        since, until = self._schedule.window(day, self._zone)
        raised = 0
        async with self._source.transaction() as conn:
            for manager, team in await self._source.managers(conn):
                counts = await self._source.team_counts(conn, team, since, until)
                title, text = digest_message(day, counts, await self._source.pending_approvals(conn, team))
                raised += await self._raiser.notify(
                    conn, Intent(DIGEST_RULE, manager, title, text, None, team),
                    source_event_id=digest_source_id(manager, day), source_event_type=DIGEST_EVENT_TYPE)
        self._done = day
        log.info("notifications.digests", day=day.isoformat(), raised=raised)
        return raised
