"""What the notifications application needs from the outside: the directory (facts from the public events), the
recipients' addresses, the notification log (queue + event streams) and the channels."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.webhooks.notifications.domain.recipients import Recipient
from services.webhooks.notifications.domain.rules import Facts


@dataclass(frozen=True, slots=True)
class NewNotification:
    notification_id: str
    source_event_id: str
    source_event_type: str
    rule: str
    recipient_id: str
    channel: str  # wecom | dingtalk | email | none (the person has no channel configured)
    team_id: str | None
    lead_id: str | None
    title: str
    text: str
    status: str  # held | pending | unaddressed
    due_at: datetime
    raised_at: datetime
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class DueNotification:
    notification_id: str
    channel: str
    recipient: Recipient
    title: str
    text: str
    rounds: int  # rounds of attempts already failed
    version: int  # the stream's version, for the next event's expected version


class Directory(Protocol):
    async def record(self, conn: Any, event_type: str, data: dict[str, Any]) -> None:
        """Keep what a directory event says (lead owner/grade/team, a person's team and role, an order's seller)."""

    async def facts(self, conn: Any, event_type: str, data: dict[str, Any]) -> Facts:
        """What the rules need to know about a trigger event's lead, complaint or requester."""


class Recipients(Protocol):
    async def get(self, conn: Any, person_id: str) -> Recipient | None: ...
    async def put(self, recipient: Recipient) -> None: ...


class NotificationLog(Protocol):
    async def raise_(self, conn: Any, notification: NewNotification) -> bool:
        """Queue the notification and start its stream with NotificationRaised (in the caller's transaction);
        False when this (source event, rule, person, channel) was raised before."""

    async def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[DueNotification]: ...

    async def delivered(self, due: DueNotification, *, attempts: int, at: datetime) -> None: ...

    async def failed(self, due: DueNotification, *, attempts: int, error: str, at: datetime,
                     retry_at: datetime | None) -> None:
        """A round failed: due again at ``retry_at``, or dead (None)."""


class ChannelSender(Protocol):
    async def __call__(self, due: DueNotification, now: datetime) -> int:
        """Send on the notification's channel: a success status, else DeliveryFailedError."""


class People(Protocol):
    async def person(self, conn: Any, person_id: str) -> dict[str, Any] | None:
        """What the directory knows of a person (team, role, active), None if nothing."""


class NotificationQueries(Protocol):
    async def page(self, *, after: int, limit: int, recipient_id: str | None, team_id: str | None,
                   status: str | None, rule: str | None, mine: str | None) -> list[dict[str, Any]]: ...

    async def get(self, notification_id: str) -> dict[str, Any] | None:
        """One notification with its history (the events of its stream)."""


class DigestSource(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """A connection in a transaction (the digests of one pass are raised together)."""

    async def managers(self, conn: Any) -> list[tuple[str, str]]:
        """(manager, team) of every active manager."""

    async def team_counts(self, conn: Any, team_id: str, since: datetime, until: datetime) -> dict[str, int]:
        """Per rule, how many source events raised notifications for the team in [since, until)."""

    async def pending_approvals(self, conn: Any, team_id: str) -> int:
        """Loss requests of the team not yet approved or rejected."""
