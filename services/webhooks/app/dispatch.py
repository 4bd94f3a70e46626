"""The dispatcher: takes due deliveries from the queue and POSTs them, signed, to the subscribers' URLs.

Retries come in two layers. Within a *round*, tenacity retries a failing POST a few times with a short
exponential wait (a blip: a restart, a dropped connection). A round that fails leaves the delivery in the queue,
due again after an exponentially growing pause (``round_backoff`` × 2^rounds, capped), so a receiver that is down
for minutes or hours gets it when it is back without a worker sleeping on it; after ``max_rounds`` the delivery
is dead — the subscription's dead letter, listed and redelivered over the API. Every attempt is signed anew
(a fresh timestamp), so a late retry still passes the receiver's replay window; the delivery id stays the same,
for the receiver to deduplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.webhooks.app.ports import DeliveryFailedError, DeliveryQueue, DueDelivery, Sender
from services.webhooks.domain.signing import signed_headers

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts_per_round: int = 3
    attempt_wait_seconds: float = 0.2  # tenacity's exponential multiplier within a round
    attempt_wait_max_seconds: float = 2.0
    round_backoff_seconds: float = 5.0
    round_backoff_max_seconds: float = 3600.0
    max_rounds: int = 8

    def pause_after(self, failed_rounds: int) -> float | None:
        """How long until the next round after ``failed_rounds`` rounds failed; None: give up (dead)."""
        if failed_rounds >= self.max_rounds:
            return None
        return float(min(self.round_backoff_seconds * 2 ** (failed_rounds - 1), self.round_backoff_max_seconds))

    def lease_seconds(self) -> float:
        """Longer than one round can take, so a round in progress is never taken twice."""
        return self.attempts_per_round * (self.attempt_wait_max_seconds + 30.0)


class Dispatcher:
    def __init__(self, *, queue: DeliveryQueue, send: Sender, clock: Callable[[], datetime],
                 policy: RetryPolicy, batch_size: int = 50, poll_interval: float = 0.5) -> None:
        self._queue, self._send, self._clock, self._policy = queue, send, clock, policy
        self._batch_size, self._poll_interval = batch_size, poll_interval
        self.delivered = 0

    async def run(self) -> None:
        """Deliver forever: whatever is due, then wait a poll interval when nothing was."""
        while True:
            try:
                attempted = await self.deliver_due()
            except Exception as exc:  # the loop must outlive an outage of its database
                # Whatever was leased and not yet recorded is due again when its lease ends: nothing is lost.
                log.warning("webhooks.dispatch_failed", error=repr(exc))
                attempted = 0
            if not attempted:
                await asyncio.sleep(self._poll_interval)

    async def deliver_due(self) -> int:
        """One pass over what is due now (attempted side by side); how many were attempted."""
        due = await self._queue.claim_due(self._batch_size, self._policy.lease_seconds())
        await asyncio.gather(*(self._deliver(d) for d in due))
        return len(due)

    async def _deliver(self, delivery: DueDelivery) -> None:
        attempts = 0

        async def attempt() -> int:
            nonlocal attempts
            attempts += 1
            timestamp = int(self._clock().timestamp())
            headers = signed_headers(secret=delivery.secret, delivery_id=delivery.delivery_id,
                                     timestamp=timestamp, body=delivery.body)
            return await self._send(delivery.url, headers, delivery.body)

        p = self._policy
        try:
            async for trial in AsyncRetrying(
                    stop=stop_after_attempt(p.attempts_per_round),
                    wait=wait_exponential(multiplier=p.attempt_wait_seconds, max=p.attempt_wait_max_seconds),
                    retry=retry_if_exception_type(DeliveryFailedError)):
                with trial:
                    status = await attempt()
        except RetryError as gave_up:
            error = gave_up.last_attempt.exception()
            assert isinstance(error, DeliveryFailedError)
            pause = p.pause_after(delivery.rounds + 1)
            log.warning("webhooks.round_failed", delivery_id=delivery.delivery_id, error=str(error),
                        rounds=delivery.rounds + 1, dead=pause is None)
            await self._queue.failed(delivery.delivery_id, attempts=attempts, error=str(error),
                                     status=error.status, retry_in_seconds=pause)
            return
        await self._queue.delivered(delivery.delivery_id, attempts=attempts, status=status, at=self._clock())
        self.delivered += 1
