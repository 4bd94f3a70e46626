"""The dispatcher's retry rounds, with a scripted sender and an in-memory queue: a blip is retried within the
round; a failed round is due again after an exponentially growing pause; after the last round the delivery is
dead; every attempt carries a fresh signature under the same delivery id."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.webhooks.app.dispatch import Dispatcher, RetryPolicy
from services.webhooks.app.ports import DeliveryFailedError, DueDelivery
from services.webhooks.domain.signing import ID_HEADER, verify
from tests.support.waiting import eventually

SECRET = "s3cret-s3cret-s3cret"
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts_per_round=3, attempt_wait_seconds=0.0, attempt_wait_max_seconds=0.0,
                   round_backoff_seconds=5.0, round_backoff_max_seconds=60.0, max_rounds=3)


@dataclass
class Queue:
    due: list[DueDelivery]
    outcomes: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    async def claim_due(self, limit: int, lease_seconds: float) -> list[DueDelivery]:
        taken, self.due = self.due[:limit], self.due[limit:]
        return taken

    async def delivered(self, delivery_id: str, *, attempts: int, status: int, at: datetime) -> None:
        self.outcomes.append(("delivered", {"attempts": attempts, "status": status}))

    async def failed(self, delivery_id: str, *, attempts: int, error: str, status: int | None,
                     retry_in_seconds: float | None) -> None:
        self.outcomes.append(("failed", {"attempts": attempts, "error": error, "retry_in": retry_in_seconds}))


class Receiver:
    """Answers the scripted statuses in turn (None: no answer), checking each signature."""

    def __init__(self, *statuses: int | None) -> None:
        self.statuses = list(statuses)
        self.ids: list[str] = []

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        verify(secret=SECRET, headers=headers, body=body, now=NOW.timestamp())
        self.ids.append(headers[ID_HEADER])
        status = self.statuses.pop(0)
        if status is None:
            raise DeliveryFailedError("ConnectError: refused")
        if status >= 300:
            raise DeliveryFailedError(f"answered {status}", status=status)
        return status


def dispatcher(queue: Queue, receiver: Receiver) -> Dispatcher:
    return Dispatcher(queue=queue, send=receiver, clock=lambda: NOW, policy=FAST)


def due(rounds: int = 0) -> DueDelivery:
    return DueDelivery("d-1", "http://127.0.0.1:9/hook", SECRET, b'{"x":1}', rounds)


async def test_a_blip_is_retried_within_the_round_under_the_same_delivery_id() -> None:
    queue, receiver = Queue([due()]), Receiver(None, 503, 204)
    assert await dispatcher(queue, receiver).deliver_due() == 1
    assert queue.outcomes == [("delivered", {"attempts": 3, "status": 204})]
    assert receiver.ids == ["d-1", "d-1", "d-1"]


async def test_a_failed_round_is_due_again_after_a_growing_pause_and_the_last_one_is_dead() -> None:
    pauses = []
    for rounds in range(FAST.max_rounds):
        queue = Queue([due(rounds)])
        await dispatcher(queue, Receiver(500, 500, 500)).deliver_due()
        (outcome, details), = queue.outcomes
        assert (outcome, details["attempts"], details["error"]) == ("failed", 3, "answered 500")
        pauses.append(details["retry_in"])
    assert pauses == [5.0, 10.0, None]  # None: dead, the subscription's dead letter


def test_the_pause_is_capped() -> None:
    policy = RetryPolicy(round_backoff_seconds=5.0, round_backoff_max_seconds=30.0, max_rounds=20)
    assert [policy.pause_after(n) for n in (1, 2, 3, 4, 5)] == [5.0, 10.0, 20.0, 30.0, 30.0]


class FlakyQueue(Queue):
    """Its database is away for the first claim."""

    def __init__(self, due: list[DueDelivery]) -> None:
        super().__init__(due)
        self.claims = 0

    async def claim_due(self, limit: int, lease_seconds: float) -> list[DueDelivery]:
        self.claims += 1
        if self.claims == 1:
            raise OSError("connection refused")
        return await super().claim_due(limit, lease_seconds)


async def test_the_dispatcher_outlives_an_outage_of_its_queue() -> None:
    queue = FlakyQueue([due()])
    running = Dispatcher(queue=queue, send=Receiver(204), clock=lambda: NOW, policy=FAST, poll_interval=0.01)
    task = asyncio.create_task(running.run())
    try:
        await eventually(lambda: _delivered(running), what="the delivery after the outage")
    finally:
        task.cancel()
    assert queue.claims >= 2
    assert queue.outcomes == [("delivered", {"attempts": 1, "status": 204})]


async def _delivered(dispatcher: Dispatcher) -> int:
    return dispatcher.delivered
