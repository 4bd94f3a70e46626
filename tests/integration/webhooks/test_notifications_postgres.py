"""Notifications against a real PostgreSQL and real local receivers (HTTP robots on 127.0.0.1, aiosmtpd), with the
clock injected: quiet hours hold a notification until their end and it is delivered then; a robot that is down
gets it by a later retry round; the same source event raises nothing twice. Every step is an event on the
notification's stream. Kafka is left out here (tests/e2e/test_notifications_service.py has it): these tests move
time, which a service process cannot."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import pytest

from services.webhooks.app.dispatch import RetryPolicy
from services.webhooks.main import MIGRATIONS
from services.webhooks.notifications.adapters.channels import RobotSender, SmtpSender
from services.webhooks.notifications.adapters.store import (
    PostgresDigestSource,
    PostgresDirectory,
    PostgresNotificationLog,
    PostgresRecipients,
)
from services.webhooks.notifications.app.delivering import NotificationDispatcher
from services.webhooks.notifications.app.digests import DigestRunner
from services.webhooks.notifications.app.raising import NotificationRaiser
from services.webhooks.notifications.domain.digest import DigestSchedule
from services.webhooks.notifications.domain.messages import dingtalk_sign
from services.webhooks.notifications.domain.quiet_hours import QuietHours
from services.webhooks.notifications.domain.recipients import Recipient
from shared.contracts.base import IntegrationEvent
from shared.contracts.leads import (
    AppointmentMissedV1,
    ConsultantRegisteredV1,
    FollowUpOverdueV1,
    LeadAssignedV1,
    LeadCreatedV1,
    LeadGradedV1,
    LossApprovedV1,
    LossRequestedV1,
)
from shared.messaging.headers import EventHeaders
from shared.messaging.inbound import InboundEvent
from shared.runtime.bootstrap import prepare_database
from tests.conftest import CreateDatabase
from tests.support.mail_receiver import MailReceiver
from tests.support.processes import free_port
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.integration

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECRET = "SECnotify0123456789"
OK = b'{"errcode":0,"errmsg":"ok"}'
POLICY = RetryPolicy(attempts_per_round=2, attempt_wait_seconds=0.0, attempt_wait_max_seconds=0.0,
                     round_backoff_seconds=60.0, round_backoff_max_seconds=600.0, max_rounds=3)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Notifier:
    pool: asyncpg.Pool
    clock: Clock
    raiser: NotificationRaiser
    dispatcher: NotificationDispatcher
    recipients: PostgresRecipients
    log: PostgresNotificationLog
    digests: DigestRunner

    async def consume(self, payload: IntegrationEvent, *, key: str, event_id: uuid.UUID | None = None) -> None:
        """What the consumer does with one event: its handler in one transaction."""
        headers = EventHeaders(event_id=event_id or uuid.uuid4(), event_type=payload.event_type,
                               schema_version=payload.schema_version, source="salesflow/leads", subject=key,
                               time=self.clock())
        async with self.pool.acquire() as conn, conn.transaction():
            await self.raiser.handlers()[payload.event_type](conn, InboundEvent(headers, payload, "leads", 0, 0))

    async def rows(self) -> list[asyncpg.Record]:
        return list(await self.pool.fetch("SELECT * FROM notifications ORDER BY seq"))

    async def history(self, notification_id: str) -> list[str]:
        found = await self.log.get(notification_id)
        assert found is not None
        return [e["event_type"] for e in found["history"]]


@pytest.fixture
def wecom() -> Iterator[Receiver]:
    receiver = Receiver(free_port(), answer=OK)
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def dingtalk() -> Iterator[Receiver]:
    receiver = Receiver(free_port(), answer=OK)  # down until the test starts it
    yield receiver
    receiver.stop()


@pytest.fixture
def mail() -> Iterator[MailReceiver]:
    receiver = MailReceiver(free_port())
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
async def notifier(create_database: CreateDatabase, mail: MailReceiver) -> AsyncIterator[Notifier]:
    dsn = await create_database("notify")
    pool = await prepare_database(dsn, service="webhooks", migrations=MIGRATIONS, min_size=1, max_size=4)
    clock = Clock(datetime(2026, 12, 2, 23, 0, tzinfo=SHANGHAI))
    log, recipients = PostgresNotificationLog(pool), PostgresRecipients(pool)
    raiser = NotificationRaiser(directory=PostgresDirectory(), recipients=recipients, notifications=log,
                                clock=clock, zone=SHANGHAI, quiet_hours=QuietHours.parse("22:00-08:00"))
    async with httpx.AsyncClient(timeout=5) as client:
        dispatcher = NotificationDispatcher(
            notifications=log, clock=clock, policy=POLICY,
            channels={"wecom": RobotSender(client, "wecom"), "dingtalk": RobotSender(client, "dingtalk"),
                      "email": SmtpSender(host="127.0.0.1", port=mail.port, sender="salesflow@example.com")})
        digests = DigestRunner(source=PostgresDigestSource(pool), raiser=raiser,
                               schedule=DigestSchedule(time(18, 0)), clock=clock, zone=SHANGHAI)
        try:
            yield Notifier(pool, clock, raiser, dispatcher, recipients, log, digests)
        finally:
            await pool.close()


async def hot_lead(n: Notifier, lead_id: str) -> None:
    await n.consume(LeadCreatedV1(lead_id=lead_id, customer_id="C1", name="王先生", phone="+8613800000001",
                                  channel="website", owner_id="c1", captured_at=n.clock()), key=lead_id)
    await n.consume(LeadGradedV1(lead_id=lead_id, grade="H", previous_grade="N", reason="buys this week",
                                 graded_at=n.clock()), key=lead_id)


def overdue(n: Notifier, lead_id: str) -> FollowUpOverdueV1:
    return FollowUpOverdueV1(lead_id=lead_id, sequence=1, due_at=n.clock() - timedelta(hours=1), owner_id="c1",
                             detected_at=n.clock())


async def test_quiet_hours_hold_a_notification_until_they_end_and_a_person_without_them_gets_it_at_once(
    notifier: Notifier, wecom: Receiver, mail: MailReceiver,
) -> None:
    n = notifier
    await n.recipients.put(Recipient.create(person_id="c1", wecom_webhook=wecom.url, dingtalk_webhook=None,
                                            dingtalk_secret=None, email=None, quiet_hours=None))
    await n.recipients.put(Recipient.create(person_id="m1", wecom_webhook=None, dingtalk_webhook=None,
                                            dingtalk_secret=None, email="m1@example.com", quiet_hours=""))
    await n.pool.execute("INSERT INTO notify_people (person_id, team_id, role) VALUES ('c1', 't1', 'consultant'), "
                         "('m1', 't1', 'manager')")
    await hot_lead(n, "L-quiet")
    await n.consume(overdue(n, "L-quiet"), key="L-quiet")  # 23:00 in Shanghai: inside the department's 22–08

    rows = {r["recipient_id"]: r for r in await n.rows()}
    assert (rows["c1"]["rule"], rows["c1"]["status"], rows["c1"]["channel"]) == ("follow_up_overdue", "held", "wecom")
    assert rows["c1"]["due_at"] == datetime(2026, 12, 3, 8, 0, tzinfo=SHANGHAI)
    assert (rows["m1"]["rule"], rows["m1"]["status"], rows["m1"]["channel"]) == ("h_grade_overdue", "pending", "email")

    assert await n.dispatcher.deliver_due() == 1  # the manager opted out of quiet hours: the mail goes now
    assert [m["Subject"] for m in mail.to("m1@example.com")] == ["[salesflow] H-grade lead overdue"]
    assert "L-quiet" in mail.to("m1@example.com")[0].get_content()
    n.clock.now = datetime(2026, 12, 3, 7, 59, tzinfo=SHANGHAI)
    assert await n.dispatcher.deliver_due() == 0
    assert wecom.received == []  # still held

    n.clock.now = datetime(2026, 12, 3, 8, 0, tzinfo=SHANGHAI)  # quiet hours are over
    assert await n.dispatcher.deliver_due() == 1
    assert len(wecom.received) == 1
    body = orjson.loads(wecom.received[0].body)
    assert body["msgtype"] == "markdown"
    assert "L-quiet" in body["markdown"]["content"]
    held = str(rows["c1"]["notification_id"])
    assert await n.history(held) == ["NotificationRaised", "NotificationDelivered"]
    delivered = await n.log.get(held)
    assert delivered is not None
    assert delivered["status"] == "delivered"
    assert delivered["delivered_at"] == datetime(2026, 12, 3, 8, 0, tzinfo=SHANGHAI)


async def test_a_robot_that_is_down_gets_it_signed_by_a_later_round_and_one_that_stays_down_makes_it_dead(
    notifier: Notifier, dingtalk: Receiver, mail: MailReceiver,
) -> None:
    n = notifier
    n.clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)  # daytime
    await n.recipients.put(Recipient.create(person_id="c1", wecom_webhook=None, dingtalk_webhook=dingtalk.url,
                                            dingtalk_secret=SECRET, email=None, quiet_hours=None))
    await n.consume(LeadCreatedV1(lead_id="L-down", customer_id="C1", name="李女士", phone="+8613800000002",
                                  channel="website", owner_id="c1", captured_at=n.clock()), key="L-down")
    await n.consume(overdue(n, "L-down"), key="L-down")
    [row] = await n.rows()
    notification = str(row["notification_id"])

    assert await n.dispatcher.deliver_due() == 1  # refused twice (one round)
    after_one = await n.log.get(notification)
    assert after_one is not None
    assert (after_one["status"], after_one["rounds"], after_one["attempts"]) == ("pending", 1, 2)
    assert "ConnectError" in after_one["last_error"]
    assert after_one["due_at"] == n.clock() + timedelta(seconds=60)
    assert await n.dispatcher.deliver_due() == 0  # not due before its pause is over

    dingtalk.start()
    n.clock.now += timedelta(seconds=60)
    assert await n.dispatcher.deliver_due() == 1
    assert len(dingtalk.received) == 1
    query = parse_qs(urlsplit(dingtalk.received[0].path).query)
    timestamp = int(query["timestamp"][0])
    assert timestamp == int(n.clock().timestamp() * 1000)
    assert query["sign"] == [dingtalk_sign(SECRET, timestamp)]
    assert orjson.loads(dingtalk.received[0].body)["markdown"]["title"] == "Follow-up overdue"
    assert await n.history(notification) == ["NotificationRaised", "NotificationDeliveryFailed",
                                             "NotificationDelivered"]
    done = await n.log.get(notification)
    assert done is not None
    assert (done["status"], done["attempts"]) == ("delivered", 3)

    # A mail relay that never comes back: dead after the last round, each round an event.
    mail.stop()
    await n.recipients.put(Recipient.create(person_id="c1", wecom_webhook=None, dingtalk_webhook=None,
                                            dingtalk_secret=None, email="c1@example.com", quiet_hours=None))
    await n.consume(overdue(n, "L-down"), key="L-down")
    dead = next(str(r["notification_id"]) for r in await n.rows() if r["channel"] == "email")
    for _ in range(POLICY.max_rounds):
        assert await n.dispatcher.deliver_due() == 1
        n.clock.now += timedelta(seconds=600)
    found = await n.log.get(dead)
    assert found is not None
    assert (found["status"], found["rounds"], found["attempts"]) == ("dead", 3, 6)
    assert await n.history(dead) == ["NotificationRaised", *["NotificationDeliveryFailed"] * 3]
    assert await n.dispatcher.deliver_due() == 0


async def test_the_same_source_event_raises_each_notification_once(notifier: Notifier, wecom: Receiver) -> None:
    n = notifier
    n.clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)
    await n.recipients.put(Recipient.create(person_id="c1", wecom_webhook=wecom.url, dingtalk_webhook=None,
                                            dingtalk_secret=None, email="c1@example.com", quiet_hours=None))
    event_id = uuid.uuid4()
    for _ in range(2):  # as a replay under a new consumer group would deliver it again
        await n.consume(overdue(n, "L-twice"), key="L-twice", event_id=event_id)
    rows = await n.rows()
    assert sorted(r["channel"] for r in rows) == ["email", "wecom"]
    assert {r["source_event_id"] for r in rows} == {event_id}
    assert await n.dispatcher.deliver_due() == 2
    assert len(wecom.received) == 1
    assert await n.dispatcher.deliver_due() == 0


async def test_each_manager_gets_one_daily_digest_of_their_teams_day_at_the_configured_time(
    notifier: Notifier, mail: MailReceiver,
) -> None:
    n = notifier
    n.clock.now = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)
    for person, team, role in (("c1", "t1", "consultant"), ("m1", "t1", "manager"), ("m2", "t2", "manager")):
        await n.consume(ConsultantRegisteredV1(consultant_id=person, name=person, team_id=team, role=role,
                                               registered_at=n.clock()), key=person)
        await n.recipients.put(Recipient.create(person_id=person, wecom_webhook=None, dingtalk_webhook=None,
                                                dingtalk_secret=None, email=f"{person}@example.com",
                                                quiet_hours=None))
    for lead in ("L-d1", "L-d2", "L-d3"):
        await n.consume(LeadCreatedV1(lead_id=lead, customer_id="C1", name="赵先生", phone="+8613800000003",
                                      channel="website", captured_at=n.clock()), key=lead)
        await n.consume(LeadAssignedV1(lead_id=lead, owner_id="c1", team_id="t1", reason="round_robin",
                                       assigned_at=n.clock()), key=lead)
    await n.consume(overdue(n, "L-d1"), key="L-d1")
    await n.consume(overdue(n, "L-d2"), key="L-d2")
    await n.consume(AppointmentMissedV1(lead_id="L-d3", appointment_id="A1", kind="test_drive",
                                        recorded_at=n.clock()), key="L-d3")
    for lead in ("L-d1", "L-d2"):
        await n.consume(LossRequestedV1(lead_id=lead, reason="price", requested_by="c1", requested_at=n.clock()),
                        key=lead)
    await n.consume(LossApprovedV1(lead_id="L-d1", reason="price", approved_by="m1", approved_at=n.clock()),
                    key="L-d1")

    n.clock.now = datetime(2026, 12, 2, 17, 59, tzinfo=SHANGHAI)
    assert await n.digests.run_due() == 0
    n.clock.now = datetime(2026, 12, 2, 18, 0, tzinfo=SHANGHAI)
    assert await n.digests.run_due() == 2  # m1 and m2, one e-mail each
    assert await n.digests.run_due() == 0
    while await n.dispatcher.deliver_due():
        pass
    [digest] = [m for m in mail.to("m1@example.com") if m["Subject"] == "[salesflow] Daily digest 2026-12-02"]
    text = digest.get_content()
    assert "- overdue follow-ups: 2" in text
    assert "- no-shows: 1" in text
    assert "- loss requests: 2" in text
    assert "- loss requests waiting for your approval now: 1" in text
    [other] = [m for m in mail.to("m2@example.com") if "Daily digest" in m["Subject"]]
    assert "- overdue follow-ups: 0" in other.get_content()
    assert "waiting for your approval now: 0" in other.get_content()
    digests = [r for r in await n.rows() if r["rule"] == "daily_digest"]
    assert sorted((r["recipient_id"], r["team_id"], r["status"]) for r in digests) == [
        ("m1", "t1", "delivered"), ("m2", "t2", "delivered")]
