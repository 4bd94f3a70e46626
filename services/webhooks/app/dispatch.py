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
from collections.abc import Awaitable, Callable
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
        async def attempt() -> int:
            timestamp = int(self._clock().timestamp())
            headers = signed_headers(secret=delivery.secret, delivery_id=delivery.delivery_id,
                                     timestamp=timestamp, body=delivery.body)
            return await self._send(delivery.url, headers, delivery.body)

        outcome = await run_round(self._policy, attempt)
        if outcome.error is not None:
            pause = self._policy.pause_after(delivery.rounds + 1)
            log.warning("webhooks.round_failed", delivery_id=delivery.delivery_id, error=str(outcome.error),
                        rounds=delivery.rounds + 1, dead=pause is None)
            await self._queue.failed(delivery.delivery_id, attempts=outcome.attempts, error=str(outcome.error),
                                     status=outcome.error.status, retry_in_seconds=pause)
            return
        assert outcome.status is not None
        await self._queue.delivered(delivery.delivery_id, attempts=outcome.attempts, status=outcome.status,
                                    at=self._clock())
        self.delivered += 1


@dataclass(frozen=True, slots=True)
class RoundOutcome:
    attempts: int
    status: int | None = None  # the 2xx answer of the attempt that succeeded
    error: DeliveryFailedError | None = None  # the last attempt's failure, when the round failed


async def run_round(policy: RetryPolicy, attempt: Callable[[], Awaitable[int]]) -> RoundOutcome:
    """One round: ``attempt`` (raising DeliveryFailedError on failure) retried by tenacity with a short exponential
    wait, up to ``attempts_per_round`` times. Shared by the webhook and the notification dispatchers."""
    attempts = 0

    async def counted() -> int:
        nonlocal attempts
        attempts += 1
        return await attempt()

    try:
        async for trial in AsyncRetrying(
                stop=stop_after_attempt(policy.attempts_per_round),
                wait=wait_exponential(multiplier=policy.attempt_wait_seconds, max=policy.attempt_wait_max_seconds),
                retry=retry_if_exception_type(DeliveryFailedError)):
            with trial:
                status = await counted()
    except RetryError as gave_up:
        error = gave_up.last_attempt.exception()
        assert isinstance(error, DeliveryFailedError)
        return RoundOutcome(attempts, error=error)
    return RoundOutcome(attempts, status=status)
