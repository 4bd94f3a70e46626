"""Notifications end to end: the webhooks service as a process reads the public events from a real Kafka (produced
as the leads, orders and after-sales relays would), keeps its directory (who owns a lead, who manages a team)
from them, and delivers each rule's notification to the right person at real local receivers — a WeCom-style
robot, a DingTalk-style robot (signed) and an SMTP server (aiosmtpd). A robot that is down gets its notification
after a retry; a redelivered event notifies once. Quiet hours are off here (the department's default is set to
none), and so is the daily digest: holding and releasing, and the digest at its time, are tested with a moved
clock in tests/integration/webhooks. A poison trigger is the consumer's dead letter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import orjson
import pytest

from services.webhooks.notifications.domain.messages import dingtalk_sign
from shared.contracts import showroom
from shared.contracts.aftersales import ComplaintEscalatedV1, ComplaintOpenedV1
from shared.contracts.base import IntegrationEvent
from shared.contracts.leads import (
    AppointmentMissedV1,
    ConsultantRegisteredV1,
    FollowUpOverdueV1,
    LeadAssignedV1,
    LeadCreatedV1,
    LeadGradedV1,
    LossRequestedV1,
    OwnerRemindedV1,
)
from shared.contracts.orders import DeliveredV1
from shared.messaging.headers import EventHeaders
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka_acls import publish_one
from tests.support.leads import publish, scratch_database
from tests.support.mail_receiver import MailReceiver
from tests.support.processes import ServiceProcess, free_port, start_service, stop_service
from tests.support.waiting import eventually
from tests.support.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

OK = b'{"errcode":0,"errmsg":"ok"}'
SECRET = "SECe2e0123456789abcdef"
OPS = auth_headers("ops", subject="ops1", team=None)
TEAM = f"T-{RUN_ID}"


@dataclass
class Receivers:
    consultant: Receiver  # c1's WeCom group robot
    manager: Receiver  # m1's DingTalk robot (signed)
    flaky: Receiver  # c2's WeCom robot, down at first
    mail: MailReceiver


@dataclass
class Stack:
    service: ServiceProcess
    infra: Infra
    prefix: str
    client: httpx.AsyncClient
    people: dict[str, str]  # c1/m1/c2 → this run's person ids
    dsn: str  # the service's database: only to wait for its directory, never as proof of delivery

    async def publish(self, topic: str, payload: IntegrationEvent, *, key: str,
                      event_id: uuid.UUID | None = None) -> uuid.UUID:
        return await publish(self.infra.kafka, f"{self.prefix}.{topic}", payload, key=key,
                             source=f"salesflow/{topic}", event_id=event_id)

    async def lead(self, *, owner: str, grade: str | None = None) -> str:
        lead_id = f"L-{uuid.uuid4().hex[:8]}"
        now = datetime.now(UTC)
        await self.publish("leads", LeadCreatedV1(lead_id=lead_id, customer_id=f"C-{lead_id}", name="王先生",
                                                  phone="+8613800000001", channel="website", captured_at=now),
                           key=lead_id)
        await self.publish("leads", LeadAssignedV1(lead_id=lead_id, owner_id=owner, team_id=TEAM,
                                                   reason="round_robin", assigned_at=now), key=lead_id)
        if grade:
            await self.publish("leads", LeadGradedV1(lead_id=lead_id, grade=grade, previous_grade="N",
                                                     reason="buys this week", graded_at=now), key=lead_id)
        return lead_id

    async def notifications(self, **filters: str) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/notifications", params={"limit": "500", **filters})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["notifications"]
        return found


def robot_texts(receiver: Receiver) -> list[str]:
    """The markdown text of every message the robot got (WeCom's ``content``, DingTalk's ``text``)."""
    bodies = [orjson.loads(r.body)["markdown"] for r in receiver.received]
    return [b.get("content") or b["text"] for b in bodies]


async def arrives(receiver: Receiver, needle: str, *, what: str) -> str:
    """Wait until the robot got a message containing ``needle``; that message's text."""

    async def texts() -> list[str]:
        return robot_texts(receiver)

    found = await eventually(texts, until=lambda ts: any(needle in t for t in ts), timeout=30, what=what)
    return next(t for t in found if needle in t)


async def mails(receiver: MailReceiver, to: str, needle: str) -> list[EmailMessage]:
    return [m for m in receiver.to(to) if needle in m.get_content()]


@pytest.fixture(scope="module")
def receivers() -> Iterator[Receivers]:
    started = Receivers(Receiver(free_port(), answer=OK), Receiver(free_port(), answer=OK),
                        Receiver(free_port(), answer=OK), MailReceiver(free_port()))
    started.consultant.start()
    started.manager.start()
    started.mail.start()
    yield started
    for robot in (started.consultant, started.manager, started.flaky):
        robot.stop()
    started.mail.stop()


@pytest.fixture(scope="module")
async def stack(infra: Infra, receivers: Receivers) -> AsyncIterator[Stack]:
    prefix = f"t{RUN_ID}notify{uuid.uuid4().hex[:6]}"
    people = {p: f"{p}-{RUN_ID}" for p in ("c1", "m1", "c2")}
    async with scratch_database(infra, "notify") as dsn:
        service = await start_service("webhooks", {
            **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix, "WEBHOOKS_DATABASE_URL": dsn,
            "WEBHOOKS_CONSUMER_GROUP": f"{prefix}-webhooks",
            "WEBHOOKS_POLL_INTERVAL": "0.1", "WEBHOOKS_ATTEMPTS_PER_ROUND": "2",
            "WEBHOOKS_ATTEMPT_WAIT_SECONDS": "0.05", "WEBHOOKS_ATTEMPT_WAIT_MAX_SECONDS": "0.1",
            "WEBHOOKS_ROUND_BACKOFF_SECONDS": "0.5", "WEBHOOKS_ROUND_BACKOFF_MAX_SECONDS": "1",
            "WEBHOOKS_MAX_ROUNDS": "100", "WEBHOOKS_HTTP_TIMEOUT": "2",
            "WEBHOOKS_NOTIFY_QUIET_HOURS": "", "WEBHOOKS_NOTIFY_DIGEST_AT": "",  # digests: the integration test's
            "WEBHOOKS_SMTP_HOST": "127.0.0.1",
            "WEBHOOKS_SMTP_PORT": str(receivers.mail.port), "WEBHOOKS_SMTP_SENDER": "salesflow@example.com",
        })
        try:
            async with httpx.AsyncClient(base_url=service.url, headers=OPS, timeout=10) as client:
                stack = Stack(service, infra, prefix, client, people, dsn)
                await configure(stack, receivers)
                yield stack
        finally:
            await stop_service(service)


async def configure(stack: Stack, receivers: Receivers) -> None:
    c1, m1, c2 = stack.people["c1"], stack.people["m1"], stack.people["c2"]
    addresses = {
        c1: {"wecom_webhook": receivers.consultant.url, "email": f"{c1}@example.com"},
        m1: {"dingtalk_webhook": receivers.manager.url + "?access_token=tok", "dingtalk_secret": SECRET,
             "email": f"{m1}@example.com"},
        c2: {"wecom_webhook": receivers.flaky.url},
    }
    for person, body in addresses.items():
        response = await stack.client.put(f"/v1/notification-recipients/{person}", json=body)
        assert response.status_code == 200, response.text
        assert "dingtalk_secret" not in response.json()
    now = datetime.now(UTC)
    for person, role in ((c1, "consultant"), (m1, "manager"), (c2, "consultant")):
        await stack.publish("leads", ConsultantRegisteredV1(consultant_id=person, name=person, team_id=TEAM,
                                                            role=role, registered_at=now), key=person)

    async def directory() -> list[Any]:
        return [(await stack.client.get(f"/v1/notification-recipients/{p}")).json()["directory"]
                for p in (c1, m1, c2)]

    # The people's events are keyed by person, the leads' by lead: wait until the team is known before any rule.
    await eventually(directory, until=lambda ds: all(ds), timeout=30, what="the team in the directory")


async def test_an_overdue_follow_up_reaches_its_owner_by_wecom_and_mail(stack: Stack, receivers: Receivers) -> None:
    c1 = stack.people["c1"]
    lead = await stack.lead(owner=c1, grade="A")
    await stack.publish("leads", FollowUpOverdueV1(lead_id=lead, sequence=1, due_at=datetime.now(UTC),
                                                   owner_id=c1, detected_at=datetime.now(UTC)), key=lead)
    text = await arrives(receivers.consultant, lead, what="the owner's WeCom message")
    assert text.startswith("**Follow-up overdue**")
    mail = await eventually(lambda: mails(receivers.mail, f"{c1}@example.com", lead), timeout=30,
                            what="the owner's mail")
    assert mail[0]["Subject"] == "[salesflow] Follow-up overdue"
    assert not any(lead in t for t in robot_texts(receivers.manager))  # an A-grade lead: not the manager's
    delivered = await eventually(lambda: stack.notifications(rule="follow_up_overdue", recipient_id=c1),
                                 until=lambda ns: sum(n["lead_id"] == lead and n["status"] == "delivered"
                                                      for n in ns) == 2, what="both delivered")
    assert {n["channel"] for n in delivered if n["lead_id"] == lead} == {"wecom", "email"}


async def test_an_h_grade_leads_overdue_reaches_the_owners_manager_by_signed_dingtalk(
    stack: Stack, receivers: Receivers,
) -> None:
    c1 = stack.people["c1"]
    lead = await stack.lead(owner=c1, grade="H")
    await stack.publish("leads", FollowUpOverdueV1(lead_id=lead, sequence=1, due_at=datetime.now(UTC),
                                                   owner_id=c1, detected_at=datetime.now(UTC)), key=lead)
    text = await arrives(receivers.manager, lead, what="the manager's DingTalk message")
    assert text.startswith("### H-grade lead overdue")
    request = next(r for r in receivers.manager.received if lead in r.body.decode())
    query = parse_qs(urlsplit(request.path).query)
    assert query["access_token"] == ["tok"]
    assert query["sign"] == [dingtalk_sign(SECRET, int(query["timestamp"][0]))]
    await arrives(receivers.consultant, lead, what="the owner's own overdue message")


async def test_no_shows_reach_the_owner(stack: Stack, receivers: Receivers) -> None:
    c1 = stack.people["c1"]
    visit, drive = await stack.lead(owner=c1), await stack.lead(owner=c1)
    now = datetime.now(UTC)
    await stack.publish("leads", AppointmentMissedV1(lead_id=visit, appointment_id="A1", kind="showroom_visit",
                                                     recorded_at=now), key=visit)
    await stack.publish("leads", showroom.TestDriveMissedV1(vehicle_id="V1", booking_id="B1", lead_id=drive,
                                                   recorded_at=now), key="V1")
    assert "showroom visit" in await arrives(receivers.consultant, visit, what="the visit's no-show")
    assert "test drive" in await arrives(receivers.consultant, drive, what="the test drive's no-show")


async def test_a_loss_request_reaches_the_requesters_manager(stack: Stack, receivers: Receivers) -> None:
    c1 = stack.people["c1"]
    lead = await stack.lead(owner=c1)
    await stack.publish("leads", LossRequestedV1(lead_id=lead, reason="price", requested_by=c1,
                                                 requested_at=datetime.now(UTC)), key=lead)
    text = await arrives(receivers.manager, lead, what="the manager's approval request")
    assert "Loss approval pending" in text
    assert c1 in text
    assert not any(lead in t for t in robot_texts(receivers.consultant))


async def test_a_duplicate_contact_reaches_the_owner_once_even_when_the_event_is_delivered_twice(
    stack: Stack, receivers: Receivers,
) -> None:
    c1 = stack.people["c1"]
    lead = await stack.lead(owner=c1)
    reminded = OwnerRemindedV1(lead_id=lead, owner_id=c1, reason="duplicate_contact", reminded_at=datetime.now(UTC))
    event_id = await stack.publish("leads", reminded, key=lead)
    await stack.publish("leads", reminded, key=lead, event_id=event_id)  # Kafka's at-least-once, made explicit
    marker = OwnerRemindedV1(lead_id=lead, owner_id=c1, reason="after_the_repeat", reminded_at=datetime.now(UTC))
    await stack.publish("leads", marker, key=lead)  # same key: consumed after the repeat
    await arrives(receivers.consultant, "after_the_repeat", what="the marker after the repeat")
    texts = [t for t in robot_texts(receivers.consultant) if lead in t and "duplicate_contact" in t]
    assert len(texts) == 1
    assert texts[0].startswith("**Customer came back**")
    raised = [n for n in await stack.notifications(rule="duplicate_contact") if n["source_event_id"] == str(event_id)]
    assert sorted(n["channel"] for n in raised) == ["email", "wecom"]


async def test_an_escalated_complaint_reaches_the_seller_and_at_level_two_their_manager(
    stack: Stack, receivers: Receivers,
) -> None:
    c1 = stack.people["c1"]
    order, complaint = f"O-{uuid.uuid4().hex[:8]}", f"K-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await stack.publish("orders", DeliveredV1(order_id=order, consultant_id=c1, team_id=TEAM, total_minor=1,
                                              currency="CNY", delivered_at=now), key=order)
    await stack.publish("aftersales", ComplaintOpenedV1(
        complaint_id=complaint, customer_id="C1", order_id=order, category="delivery", severity="high",
        opened_at=now, acknowledge_due_at=now + timedelta(days=1), resolve_due_at=now + timedelta(days=2)),
        key=complaint)
    # The order (orders topic) and the complaint (aftersales topic) travel apart: escalate once both are known.
    conn = await asyncpg.connect(stack.dsn)
    try:
        await eventually(lambda: conn.fetchval(
            "SELECT o.consultant_id FROM notify_complaints c JOIN notify_orders o USING (order_id) "
            "WHERE c.complaint_id = $1", complaint), timeout=30, what="the complaint's seller in the directory")
    finally:
        await conn.close()
    await stack.publish("aftersales", ComplaintEscalatedV1(
        complaint_id=complaint, level=2, escalated_to="general_manager", reason="resolve SLA missed",
        escalated_at=datetime.now(UTC)), key=complaint)
    await arrives(receivers.consultant, complaint, what="the seller's escalation message")
    text = await arrives(receivers.manager, complaint, what="the manager's escalation message")
    assert "level 2" in text


async def test_a_robot_that_is_down_gets_the_notification_after_a_retry(stack: Stack, receivers: Receivers) -> None:
    c2 = stack.people["c2"]
    lead = await stack.lead(owner=c2)
    await stack.publish("leads", OwnerRemindedV1(lead_id=lead, owner_id=c2, reason="duplicate_contact",
                                                 reminded_at=datetime.now(UTC)), key=lead)
    failed = await eventually(lambda: stack.notifications(recipient_id=c2),
                              until=lambda ns: any(n["lead_id"] == lead and n["rounds"] >= 1 for n in ns),
                              timeout=30, what="a failed round while the robot is down")
    assert "ConnectError" in next(n for n in failed if n["lead_id"] == lead)["last_error"]
    receivers.flaky.start()
    await arrives(receivers.flaky, lead, what="the notification after the robot came back")
    [done] = await eventually(lambda: stack.notifications(recipient_id=c2, status="delivered"),
                              until=lambda ns: any(n["lead_id"] == lead for n in ns), what="delivered")
    detail = (await stack.client.get(f"/v1/notifications/{done['notification_id']}")).json()
    events = [e["event_type"] for e in detail["history"]]
    assert events[0] == "NotificationRaised"
    assert events[-1] == "NotificationDelivered"
    assert "NotificationDeliveryFailed" in events


async def test_a_poison_trigger_is_dead_lettered_with_the_reason_and_the_next_one_still_notifies(
    stack: Stack, receivers: Receivers,
) -> None:
    c1 = stack.people["c1"]
    poisoned = f"L-poison-{uuid.uuid4().hex[:6]}"
    headers = EventHeaders(event_id=uuid.uuid4(), event_type=FollowUpOverdueV1.event_type, schema_version=1,
                           source="salesflow/leads", subject=poisoned, time=datetime.now(UTC))
    await publish_one(stack.infra.kafka, f"{stack.prefix}.leads", orjson.dumps({"lead_id": poisoned}),
                      key=poisoned.encode(), headers=headers.encode())  # no sequence, due_at, detected_at

    async def letters() -> list[dict[str, Any]]:
        found = (await stack.client.get("/admin/dead-letters")).json()["dead_letters"]
        return [d for d in found if d["message_key"] == poisoned]

    [letter] = await eventually(letters, timeout=30, what="the poison trigger's dead letter")
    assert letter["event_type"] == FollowUpOverdueV1.event_type
    assert "due_at" in letter["reason"]
    lead = await stack.lead(owner=c1)
    await stack.publish("leads", OwnerRemindedV1(lead_id=lead, owner_id=c1, reason="duplicate_contact",
                                                 reminded_at=datetime.now(UTC)), key=lead)
    await arrives(receivers.consultant, lead, what="a notification after the poison message")
    assert [n for n in await stack.notifications() if n["lead_id"] == poisoned] == []


async def test_who_sees_and_configures_what(stack: Stack) -> None:
    c1, m1 = stack.people["c1"], stack.people["m1"]
    await eventually(lambda: stack.notifications(recipient_id=c1), what="some notification of c1")
    consultant = auth_headers("consultant", subject=c1, team=TEAM)
    own = (await stack.client.get("/v1/notifications", headers=consultant, params={"limit": "500"})).json()
    assert own["notifications"]
    assert {n["recipient_id"] for n in own["notifications"]} == {c1}
    manager = auth_headers("manager", subject=m1, team=TEAM)
    team = (await stack.client.get("/v1/notifications", headers=manager, params={"limit": "500"})).json()
    assert {n["recipient_id"] for n in team["notifications"]} >= {c1, m1}
    other_team = auth_headers("manager", subject="m9", team="T-other")
    assert (await stack.client.get("/v1/notifications", headers=other_team)).json()["notifications"] == []

    first = await stack.client.get("/v1/notifications", params={"limit": "1"})
    second = await stack.client.get("/v1/notifications", params={"limit": "1",
                                                                 "cursor": str(first.json()["next_cursor"])})
    assert first.json()["notifications"][0]["seq"] < second.json()["notifications"][0]["seq"]

    refused = await stack.client.put(f"/v1/notification-recipients/{c1}", json={"email": "not-an-address"})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "email"
    bad_hours = await stack.client.put(f"/v1/notification-recipients/{c1}",
                                       json={"email": "a@example.com", "quiet_hours": "late"})
    assert bad_hours.json()["error"]["fields"][0]["field"] == "quiet_hours"
    assert (await stack.client.put(f"/v1/notification-recipients/{m1}", headers=consultant,
                                   json={"email": "x@example.com"})).status_code == 403
    assert (await stack.client.get(f"/v1/notification-recipients/{c1}")).json()["email"] == f"{c1}@example.com"
    system = auth_headers(None, scopes=["webhooks:manage"], client="shop")
    assert (await stack.client.get("/v1/notifications", headers=system)).status_code == 403
