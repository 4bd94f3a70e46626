"""The notification dispatcher: takes due notifications (pending, and held ones whose quiet hours ended) and sends
them on their channel, with the webhook dispatcher's retry machinery (``run_round``: tenacity within a round, an
exponentially growing pause between rounds, dead after ``max_rounds``). Every outcome is an event on the
notification's stream (NotificationDelivered, NotificationDeliveryFailed with the attempts). "Now" is the
injected clock's — quiet hours end, and rounds fall due, by it — so tests move time instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import structlog

from services.webhooks.app.dispatch import RetryPolicy, run_round
from services.webhooks.notifications.app.ports import ChannelSender, DueNotification, NotificationLog

log = structlog.get_logger(__name__)


class NotificationDispatcher:
    def __init__(self, *, notifications: NotificationLog, channels: Mapping[str, ChannelSender],
                 clock: Callable[[], datetime], policy: RetryPolicy, batch_size: int = 50,
                 poll_interval: float = 0.5) -> None:
        self._log, self._channels, self._clock, self._policy = notifications, channels, clock, policy
        self._batch_size, self._poll_interval = batch_size, poll_interval

    async def run(self) -> None:
        while True:
            try:
                attempted = await self.deliver_due()
            except Exception as exc:  # the loop must outlive an outage of its database
                log.warning("notifications.dispatch_failed", error=repr(exc))
                attempted = 0
            if not attempted:
                await asyncio.sleep(self._poll_interval)

    async def deliver_due(self) -> int:
        """One pass over what is due by the clock; how many were attempted."""
        due = await self._log.claim_due(self._clock(), self._batch_size, self._policy.lease_seconds())
        await asyncio.gather(*(self._deliver(d) for d in due))
        return len(due)

    async def _deliver(self, due: DueNotification) -> None:
        send = self._channels[due.channel]
        outcome = await run_round(self._policy, lambda: send(due, self._clock()))
        now = self._clock()
        if outcome.error is None:
            await self._log.delivered(due, attempts=outcome.attempts, at=now)
            return
        pause = self._policy.pause_after(due.rounds + 1)
        log.warning("notifications.round_failed", notification_id=due.notification_id, channel=due.channel,
                    error=str(outcome.error), rounds=due.rounds + 1, dead=pause is None)
        await self._log.failed(due, attempts=outcome.attempts, error=str(outcome.error), at=now,
                               retry_at=None if pause is None else now + timedelta(seconds=pause))
