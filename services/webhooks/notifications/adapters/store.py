"""The notifications' PostgreSQL side (migrations/0002): the directory, the recipients, and the notification log —
each notification a row (the queue and its current state) and an event stream in the kernel's event store
(``notification-<id>``), written together in one transaction with the stream's expected version."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from services.webhooks.notifications.app.ports import DueNotification, NewNotification
from services.webhooks.notifications.domain.quiet_hours import QuietHours
from services.webhooks.notifications.domain.recipients import Recipient
from services.webhooks.notifications.domain.rules import COMPLAINT_ESCALATED, LOSS_REQUESTED, Facts
from shared.db import Connection
from shared.eventstore import AppendRequest, NewEvent
from shared.eventstore.store import PostgresEventStore

STREAM_TYPE = "notification"

_LEADS = "salesflow.leads."
_UPSERT_LEAD = """INSERT INTO notify_leads (lead_id, owner_id, grade, team_id) VALUES ($1, $2, $3, $4)
                  ON CONFLICT (lead_id) DO UPDATE SET {set}"""


def stream_of(notification_id: str) -> str:
    return f"notification-{notification_id}"


class PostgresDirectory:
    async def record(self, conn: Connection, event_type: str, data: dict[str, Any]) -> None:
        kind = event_type.rsplit(".", 1)[-1]
        lead = data.get("lead_id")
        if kind == "LeadCreated":
            await conn.execute(_UPSERT_LEAD.format(set="owner_id = EXCLUDED.owner_id, grade = EXCLUDED.grade"),
                               lead, data.get("owner_id"), data.get("grade"), None)
        elif kind in ("LeadAssigned", "LeadClaimed"):
            await conn.execute(_UPSERT_LEAD.format(
                set="owner_id = EXCLUDED.owner_id, team_id = COALESCE(EXCLUDED.team_id, notify_leads.team_id)"),
                lead, data["owner_id"], None, data.get("team_id"))
        elif kind == "LeadGraded":
            await conn.execute(_UPSERT_LEAD.format(set="grade = EXCLUDED.grade"), lead, None, data["grade"], None)
        elif kind == "LeadReleasedToPool":
            await conn.execute(_UPSERT_LEAD.format(
                set="owner_id = NULL, team_id = COALESCE(EXCLUDED.team_id, notify_leads.team_id)"),
                lead, None, None, data.get("team_id"))
        elif kind == "ConsultantRegistered":
            await conn.execute(
                """INSERT INTO notify_people (person_id, team_id, role) VALUES ($1, $2, $3)
                   ON CONFLICT (person_id) DO UPDATE SET team_id = EXCLUDED.team_id, role = EXCLUDED.role,
                                                         active = true""",
                data["consultant_id"], data["team_id"], data["role"])
        elif kind == "ConsultantDeactivated":
            await conn.execute("UPDATE notify_people SET active = false WHERE person_id = $1", data["consultant_id"])
        elif kind == "ConsultantMovedTeam":
            await conn.execute("UPDATE notify_people SET team_id = $2 WHERE person_id = $1",
                               data["consultant_id"], data["to_team_id"])
        elif kind in ("Delivered", "CarePlanScheduled"):
            await conn.execute(
                """INSERT INTO notify_orders (order_id, consultant_id, team_id) VALUES ($1, $2, $3)
                   ON CONFLICT (order_id) DO UPDATE SET
                       consultant_id = COALESCE(EXCLUDED.consultant_id, notify_orders.consultant_id),
                       team_id = COALESCE(EXCLUDED.team_id, notify_orders.team_id)""",
                data["order_id"], data.get("consultant_id"), data.get("team_id"))
        elif kind == "LossRequested":
            await conn.execute(
                """INSERT INTO notify_loss_requests (lead_id, requested_by, requested_at) VALUES ($1, $2, $3)
                   ON CONFLICT (lead_id) DO UPDATE SET requested_by = EXCLUDED.requested_by,
                       requested_at = EXCLUDED.requested_at, open = true""",
                lead, data.get("requested_by"), datetime.fromisoformat(data["requested_at"]))
        elif kind in ("LossApproved", "LossRejected"):
            await conn.execute("UPDATE notify_loss_requests SET open = false WHERE lead_id = $1", lead)
        elif kind == "ComplaintOpened":
            await conn.execute("INSERT INTO notify_complaints (complaint_id, order_id) VALUES ($1, $2) "
                               "ON CONFLICT (complaint_id) DO NOTHING", data["complaint_id"], data.get("order_id"))

    async def facts(self, conn: Connection, event_type: str, data: dict[str, Any]) -> Facts:
        if event_type == COMPLAINT_ESCALATED:
            row = await conn.fetchrow(
                """SELECT o.consultant_id AS owner_id, NULL AS grade, COALESCE(o.team_id, p.team_id) AS team_id
                   FROM notify_complaints c JOIN notify_orders o USING (order_id)
                   LEFT JOIN notify_people p ON p.person_id = o.consultant_id
                   WHERE c.complaint_id = $1""", data["complaint_id"])
        else:
            row = await conn.fetchrow(
                """SELECT l.owner_id, l.grade, COALESCE(l.team_id, p.team_id) AS team_id
                   FROM notify_leads l LEFT JOIN notify_people p ON p.person_id = l.owner_id
                   WHERE l.lead_id = $1""", data.get("lead_id"))
        owner, grade, team = (row["owner_id"], row["grade"], row["team_id"]) if row else (None, None, None)
        if event_type == LOSS_REQUESTED and data.get("requested_by"):
            # The approval belongs to the requester's manager; the lead's team only if the requester is unknown.
            team = await conn.fetchval("SELECT team_id FROM notify_people WHERE person_id = $1",
                                       data["requested_by"]) or team
        managers: tuple[str, ...] = ()
        if team is not None:
            managers = tuple(r["person_id"] for r in await conn.fetch(
                "SELECT person_id FROM notify_people WHERE team_id = $1 AND role = 'manager' AND active "
                "ORDER BY person_id", team))
        return Facts(owner_id=owner, grade=grade, team_id=team, managers=managers)

    async def person(self, conn: Connection | asyncpg.Pool, person_id: str) -> dict[str, Any] | None:
        row = await conn.fetchrow("SELECT team_id, role, active FROM notify_people WHERE person_id = $1", person_id)
        return dict(row) if row else None


class PostgresDigestSource:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield conn

    async def managers(self, conn: Connection) -> list[tuple[str, str]]:
        rows = await conn.fetch("SELECT person_id, team_id FROM notify_people WHERE role = 'manager' AND active "
                                "ORDER BY person_id")
        return [(r["person_id"], r["team_id"]) for r in rows]

    async def team_counts(self, conn: Connection, team_id: str, since: datetime,
                          until: datetime) -> dict[str, int]:
        rows = await conn.fetch(
            """SELECT rule, count(DISTINCT source_event_id) AS events FROM notifications
               WHERE team_id = $1 AND raised_at >= $2 AND raised_at < $3 AND rule <> 'daily_digest'
               GROUP BY rule""", team_id, since, until)
        return {r["rule"]: int(r["events"]) for r in rows}

    async def pending_approvals(self, conn: Connection, team_id: str) -> int:
        found = await conn.fetchval(
            """SELECT count(*) FROM notify_loss_requests r
               LEFT JOIN notify_people p ON p.person_id = r.requested_by
               LEFT JOIN notify_leads l ON l.lead_id = r.lead_id
               LEFT JOIN notify_people o ON o.person_id = l.owner_id
               WHERE r.open AND COALESCE(p.team_id, l.team_id, o.team_id) = $1""", team_id)
        return int(found)


def _recipient(row: asyncpg.Record) -> Recipient:
    quiet = row["quiet_hours"]
    return Recipient(row["person_id"], row["wecom_webhook"], row["dingtalk_webhook"], row["dingtalk_secret"],
                     row["email"], QuietHours.parse(quiet) if quiet else None, quiet is None)


class PostgresRecipients:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, conn: Connection | None, person_id: str) -> Recipient | None:
        row = await (conn or self._pool).fetchrow("SELECT * FROM notification_recipients WHERE person_id = $1",
                                                  person_id)
        return _recipient(row) if row else None

    async def put(self, recipient: Recipient) -> None:
        quiet = (None if recipient.uses_department_quiet_hours
                 else str(recipient.quiet_hours) if recipient.quiet_hours else "")
        await self._pool.execute(
            """INSERT INTO notification_recipients AS r (person_id, wecom_webhook, dingtalk_webhook, dingtalk_secret,
                                                         email, quiet_hours)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (person_id) DO UPDATE SET wecom_webhook = EXCLUDED.wecom_webhook,
                   dingtalk_webhook = EXCLUDED.dingtalk_webhook, dingtalk_secret = EXCLUDED.dingtalk_secret,
                   email = EXCLUDED.email, quiet_hours = EXCLUDED.quiet_hours, updated_at = now()""",
            recipient.person_id, recipient.wecom_webhook, recipient.dingtalk_webhook, recipient.dingtalk_secret,
            recipient.email, quiet)


def _event(event_type: str, data: dict[str, Any], at: datetime, causation: str | None = None,
           correlation: str | None = None) -> NewEvent:
    metadata = {k: v for k, v in (("causation_id", causation), ("correlation_id", correlation),
                                   ("actor", "webhooks/notifications")) if v}
    return NewEvent(uuid.uuid4(), event_type, data, at, metadata=metadata)


class PostgresNotificationLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._events = PostgresEventStore(pool)

    async def raise_(self, conn: Connection, n: NewNotification) -> bool:
        inserted = await conn.fetchval(
            """INSERT INTO notifications (notification_id, source_event_id, source_event_type, rule, recipient_id,
                                          channel, team_id, lead_id, title, text, status, due_at, raised_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
               ON CONFLICT DO NOTHING RETURNING 1""",
            n.notification_id, n.source_event_id, n.source_event_type, n.rule, n.recipient_id, n.channel,
            n.team_id, n.lead_id, n.title, n.text, n.status, n.due_at, n.raised_at)
        if inserted is None:
            return False
        data = {"notification_id": n.notification_id, "rule": n.rule, "recipient_id": n.recipient_id,
                "channel": n.channel, "source_event_id": n.source_event_id,
                "source_event_type": n.source_event_type, "lead_id": n.lead_id, "team_id": n.team_id,
                "title": n.title, "text": n.text, "status": n.status, "due_at": n.due_at.isoformat()}
        await self._events.append([AppendRequest(stream_of(n.notification_id), STREAM_TYPE, 0, (
            _event("NotificationRaised", data, n.raised_at, n.source_event_id, n.correlation_id),))], conn=conn)
        return True

    async def claim_due(self, now: datetime, limit: int, lease_seconds: float) -> list[DueNotification]:
        # SKIP LOCKED + a lease (due_at moved past the round), as the webhook queue does: several dispatchers
        # share the queue, and a row whose dispatcher died is due again when its lease ends.
        rows = await self._pool.fetch(
            """UPDATE notifications n SET due_at = $1 + make_interval(secs => $3)
               WHERE n.notification_id IN (
                   SELECT notification_id FROM notifications
                   WHERE status IN ('held', 'pending') AND due_at <= $1
                   ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING n.notification_id, n.channel, n.recipient_id, n.title, n.text, n.rounds, n.version""",
            now, limit, lease_seconds)
        due = []
        for r in rows:
            recipient = await self._pool.fetchrow("SELECT * FROM notification_recipients WHERE person_id = $1",
                                                  r["recipient_id"])
            if recipient is None:  # the person's addresses were removed meanwhile: nothing to send to
                continue
            due.append(DueNotification(str(r["notification_id"]), r["channel"], _recipient(recipient), r["title"],
                                       r["text"], r["rounds"], r["version"]))
        return due

    async def delivered(self, due: DueNotification, *, attempts: int, at: datetime) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE notifications SET status = 'delivered', attempts = attempts + $2, delivered_at = $3, "
                "last_error = NULL, version = version + 1 WHERE notification_id = $1",
                due.notification_id, attempts, at)
            await self._append(conn, due, _event("NotificationDelivered", {
                "notification_id": due.notification_id, "channel": due.channel, "attempts": attempts,
                "delivered_at": at.isoformat()}, at))

    async def failed(self, due: DueNotification, *, attempts: int, error: str, at: datetime,
                     retry_at: datetime | None) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE notifications SET attempts = attempts + $2, rounds = rounds + 1, last_error = $3,
                       status = CASE WHEN $4::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
                       due_at = COALESCE($4::timestamptz, due_at), version = version + 1
                   WHERE notification_id = $1""", due.notification_id, attempts, error[:1000], retry_at)
            await self._append(conn, due, _event("NotificationDeliveryFailed", {
                "notification_id": due.notification_id, "channel": due.channel, "attempts": attempts,
                "round": due.rounds + 1, "error": error[:1000], "dead": retry_at is None,
                "retry_at": retry_at.isoformat() if retry_at else None}, at))

    async def _append(self, conn: Connection, due: DueNotification, event: NewEvent) -> None:
        await self._events.append([AppendRequest(stream_of(due.notification_id), STREAM_TYPE, due.version,
                                                 (event,))], conn=conn)

    async def page(self, *, after: int, limit: int, recipient_id: str | None, team_id: str | None,
                   status: str | None, rule: str | None, mine: str | None) -> list[dict[str, Any]]:
        """Notifications after the cursor (``seq``), oldest first. ``team_id``/``mine`` narrow to a data scope:
        a manager's team (and what was sent to them), a consultant's own."""
        rows = await self._pool.fetch(
            """SELECT notification_id, seq, source_event_id, source_event_type, rule, recipient_id, channel, team_id,
                      lead_id, title, text, status, due_at, attempts, rounds, last_error, raised_at, delivered_at
               FROM notifications
               WHERE seq > $1 AND ($3::text IS NULL OR recipient_id = $3) AND ($5::text IS NULL OR status = $5)
                 AND ($6::text IS NULL OR rule = $6)
                 AND ($4::text IS NULL AND $7::text IS NULL OR team_id = $4 OR recipient_id = $7)
               ORDER BY seq LIMIT $2""", after, limit, recipient_id, team_id, status, rule, mine)
        return [{**dict(r), "notification_id": str(r["notification_id"]),
                 "source_event_id": str(r["source_event_id"])} for r in rows]

    async def get(self, notification_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(
            """SELECT notification_id, source_event_id, source_event_type, rule, recipient_id, channel, team_id,
                      lead_id, title, text, status, due_at, attempts, rounds, last_error, raised_at, delivered_at
               FROM notifications WHERE notification_id = $1::uuid""", notification_id)
        if row is None:
            return None
        history = [e.audit_entry() for e in await self._events.load(stream_of(notification_id))]
        return {**dict(row), "notification_id": str(row["notification_id"]),
                "source_event_id": str(row["source_event_id"]), "history": history}
