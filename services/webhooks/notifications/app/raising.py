"""From consumed public events to notifications: directory events keep the facts the rules need; trigger events
are run through the rules, and each (rule, person) becomes one notification per channel the person has — held
until the end of their quiet hours when it falls inside them. All in the consumer's transaction, with the
processed event id, so a redelivered event raises nothing twice; the ids are derived from (source event, rule,
person, channel), so even a replay under a new consumer group finds them already raised."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

import structlog

from services.webhooks.notifications.app.ports import Directory, NewNotification, NotificationLog, Recipients
from services.webhooks.notifications.domain.quiet_hours import QuietHours
from services.webhooks.notifications.domain.rules import TRIGGERS, Intent, intents
from shared.messaging.inbound import EventHandler, InboundEvent

log = structlog.get_logger(__name__)

NOTIFICATION_IDS = uuid.UUID("6c1c8f0e-4f8e-4d0c-9a55-0f1e2d3c4b5a")

DIRECTORY_EVENTS = (
    "salesflow.leads.LeadCreated", "salesflow.leads.LeadAssigned", "salesflow.leads.LeadGraded",
    "salesflow.leads.LeadClaimed", "salesflow.leads.LeadReleasedToPool", "salesflow.leads.ConsultantRegistered",
    "salesflow.leads.ConsultantDeactivated", "salesflow.leads.ConsultantMovedTeam", "salesflow.orders.Delivered",
    "salesflow.aftersales.CarePlanScheduled", "salesflow.aftersales.ComplaintOpened",
    "salesflow.leads.LossApproved", "salesflow.leads.LossRejected",
)


def notification_id(source_event_id: str, rule: str, recipient_id: str, channel: str) -> str:
    return str(uuid.uuid5(NOTIFICATION_IDS, f"{source_event_id}/{rule}/{recipient_id}/{channel}"))


class NotificationRaiser:
    def __init__(self, *, directory: Directory, recipients: Recipients, notifications: NotificationLog,
                 clock: Callable[[], datetime], zone: tzinfo, quiet_hours: QuietHours | None) -> None:
        self._directory, self._recipients, self._log = directory, recipients, notifications
        self._clock, self._zone, self._quiet_hours = clock, zone, quiet_hours

    def handlers(self) -> dict[str, EventHandler]:
        handlers: dict[str, EventHandler] = dict.fromkeys(DIRECTORY_EVENTS, self.on_directory_event)
        handlers.update(dict.fromkeys(TRIGGERS, self.on_trigger))
        return handlers

    async def on_directory_event(self, conn: Any, event: InboundEvent) -> None:
        await self._directory.record(conn, event.headers.event_type, event.payload.model_dump(mode="json"))

    async def on_trigger(self, conn: Any, event: InboundEvent) -> None:
        h = event.headers
        data = event.payload.model_dump(mode="json")
        await self._directory.record(conn, h.event_type, data)  # e.g. a loss request now waiting (the digest's)
        facts = await self._directory.facts(conn, h.event_type, data)
        for intent in intents(h.event_type, data, facts):
            await self.notify(conn, intent, source_event_id=str(h.event_id), source_event_type=h.event_type,
                              correlation_id=h.correlation_id)

    async def notify(self, conn: Any, intent: Intent, *, source_event_id: str, source_event_type: str,
                     correlation_id: str | None = None) -> int:
        """Raise ``intent`` on each of the person's channels (held inside their quiet hours); how many were new."""
        now = self._clock()
        recipient = await self._recipients.get(conn, intent.recipient_id)
        quiet = recipient.effective_quiet_hours(self._quiet_hours) if recipient else self._quiet_hours
        release = quiet.release_at(now, self._zone) if quiet else None
        raised = 0
        for channel in (recipient.channels() if recipient else []) or ["none"]:
            status = "unaddressed" if channel == "none" else "held" if release else "pending"
            if await self._log.raise_(conn, NewNotification(
                    notification_id=notification_id(source_event_id, intent.rule, intent.recipient_id, channel),
                    source_event_id=source_event_id, source_event_type=source_event_type, rule=intent.rule,
                    recipient_id=intent.recipient_id, channel=channel, team_id=intent.team_id,
                    lead_id=intent.lead_id, title=intent.title, text=intent.text, status=status,
                    due_at=release or now, raised_at=now, correlation_id=correlation_id)):
                raised += 1
                log.info("notifications.raised", rule=intent.rule, recipient_id=intent.recipient_id,
                         channel=channel, status=status)
        return raised
