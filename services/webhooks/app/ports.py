"""What the webhook application needs from the outside: the delivery queue and an HTTP sender."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.webhooks.domain.subscriptions import Subscription


class DeliveryFailedError(Exception):
    """One attempt did not get a 2xx answer (``status`` None: no answer at all)."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class DueDelivery:
    delivery_id: str
    url: str
    secret: str
    body: bytes
    rounds: int  # rounds of attempts already failed


class Sender(Protocol):
    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        """POST ``body``; the status of a 2xx answer, else DeliveryFailedError."""


class DeliveryQueue(Protocol):
    async def claim_due(self, limit: int, lease_seconds: float) -> list[DueDelivery]:
        """Due pending deliveries, each leased (not due again) for ``lease_seconds``: no other dispatcher takes
        it meanwhile, and one whose dispatcher died is due again when the lease ends."""

    async def delivered(self, delivery_id: str, *, attempts: int, status: int, at: datetime) -> None: ...

    async def failed(self, delivery_id: str, *, attempts: int, error: str, status: int | None,
                     retry_in_seconds: float | None) -> None:
        """A round failed: due again in ``retry_in_seconds``, or dead (None)."""


class SubscriptionStore(Protocol):
    async def add(self, subscription: Subscription) -> None: ...
    async def of_client(self, client_id: str) -> list[dict[str, Any]]: ...
    async def get(self, client_id: str, subscription_id: str) -> dict[str, Any] | None: ...
    async def deactivate(self, client_id: str, subscription_id: str) -> bool: ...
    async def deliveries(self, client_id: str, subscription_id: str, status: str | None,
                         limit: int) -> list[dict[str, Any]]: ...
    async def redeliver(self, client_id: str, delivery_id: str) -> bool: ...

