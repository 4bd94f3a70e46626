"""The after-sales service as a real process against real Kafka and PostgreSQL, driven as the orders and leads
services (Kafka) and the after-sales staff (HTTP) would drive it. One process serves the whole module."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.contracts.leads import LeadCreatedV1
from shared.contracts.orders import DeliveredV1
from tests.support.aftersales import create_module_database, drop_database, get_json
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka import header, read_topic
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.upstream import publish, upstream_message
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
OPS = auth_headers("ops", subject="ops1", team=None)  # the dead-letter admin API is for ops

PREFIX = f"t{RUN_ID}as"


@pytest.fixture(scope="module")
async def aftersales(infra: Infra) -> AsyncIterator[ServiceProcess]:
    name, dsn = await create_module_database(infra, "aftersales")
    service = await start_service("aftersales", {
        **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": PREFIX,
        "AFTERSALES_DATABASE_URL": dsn, "AFTERSALES_RELAY_POLL_INTERVAL": "0.2",
        "AFTERSALES_TIMER_POLL_INTERVAL": "0.2",
    })
    try:
        yield service
    finally:
        await stop_service(service)
        await drop_database(infra, name)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as c:
        yield c


def delivered(order_id: str, *, lead_id: str | None = None, customer_id: str = "C-1",
              ago: timedelta = timedelta(0)) -> DeliveredV1:
    return DeliveredV1(order_id=order_id, lead_id=lead_id, customer_id=customer_id, customer_name="张三",
                       customer_phone="+8613812345678", total_minor=15_000_000, currency="CNY",
                       delivered_at=datetime.now(UTC) - ago)


async def applied(client: httpx.AsyncClient, service: ServiceProcess) -> int:
    checks = (await client.get(f"{service.url}/health/ready")).json()["checks"]
    return int(checks["consumer"]["applied"])


async def published(infra: Infra, event_type: str, *, expect: int = 1, total: int = 1) -> list[Any]:
    records = await read_topic(infra.kafka, f"{PREFIX}.aftersales", expect=total)
    return [r for r in records if header(r, "ce_type") == f"salesflow.aftersales.{event_type}"]


async def test_a_delivered_event_published_twice_and_replayed_schedules_exactly_one_plan(
    infra: Infra, aftersales: ServiceProcess, client: httpx.AsyncClient,
) -> None:
    order = f"O-{uuid.uuid4().hex[:8]}"
    before = await applied(client, aftersales)
    event_id = uuid.uuid4()
    await publish(infra.kafka, f"{PREFIX}.orders", [
        upstream_message(delivered(order, customer_id=f"C-{order}"), key=order, event_id=event_id),
        upstream_message(delivered(order, customer_id=f"C-{order}"), key=order, event_id=event_id),  # same ce_id
        upstream_message(delivered(order, customer_id=f"C-{order}"), key=order),  # same delivery, new ce_id
    ])
    # Two distinct event ids are applied (the third one as a no-op); the duplicate id is skipped.
    await eventually(lambda: applied(client, aftersales), until=lambda n: n >= before + 2, what="both ids applied")
    plan = await get_json(client, f"{aftersales.url}/v1/care-plans/{order}")
    assert [h["event_type"] for h in plan["history"]] == ["CarePlanScheduled"]
    assert [(v["label"], v["assignee_role"], v["status"]) for v in plan["visits"]] == [
        ("D+1", "consultant", "pending"), ("D+3", "consultant", "pending"), ("D+7", "manager", "pending"),
        ("D+30", "consultant", "pending")]
    loyalty = await get_json(client, f"{aftersales.url}/v1/customers/C-{order}/loyalty")
    assert (loyalty["balance"], len(loyalty["history"])) == (100 + 1_500, 1)
    records = await eventually(lambda: published(infra, "CarePlanScheduled", total=1),
                               until=lambda rs: any(r.key == order.encode() for r in rs), what="published plan")
    assert sum(r.key == order.encode() for r in records) == 1
    letters = await get_json(client, f"{aftersales.url}/admin/dead-letters", OPS)
    assert [d for d in letters["dead_letters"] if d["message_key"] == order] == []


async def test_return_visits_are_scored_on_the_scale_and_low_scores_open_a_follow_up(
    infra: Infra, aftersales: ServiceProcess, client: httpx.AsyncClient,
) -> None:
    order = f"O-{uuid.uuid4().hex[:8]}"
    await publish(infra.kafka, f"{PREFIX}.orders", [upstream_message(delivered(order), key=order)])
    plan = await eventually(lambda: get_json(client, f"{aftersales.url}/v1/care-plans/{order}"), what="plan")
    url = f"{aftersales.url}/v1/care-plans/{order}/visits"
    out_of_range = await client.post(f"{url}/1/complete", json={"score": 9})
    assert (out_of_range.status_code, out_of_range.json()["error"]["code"]) == (422, "score_out_of_range")
    stale = await client.post(f"{url}/1/complete", json={"score": 2, "expected_version": plan["version"] + 5})
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "version_conflict")
    done = await client.post(f"{url}/1/complete", headers=auth_headers("consultant", subject="U-7"),
                             json={"score": 2, "answers": {"delivery": "slow"}, "notes": "unhappy",
                                   "expected_version": plan["version"]})
    assert done.status_code == 200, done.text
    assert done.json()["visits"][0]["follow_up_task_id"]
    again = await client.post(f"{url}/1/complete", json={"score": 5})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "visit_already_completed")
    missing = await client.post(f"{url}/9/complete", json={"score": 5})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "visit_not_found")
    history = (await get_json(client, f"{aftersales.url}/v1/care-plans/{order}"))["history"]
    assert [h["event_type"] for h in history] == ["CarePlanScheduled", "ReturnVisitCompleted",
                                                  "SatisfactionFollowUpOpened"]
    assert history[1]["actor"] == "U-7"
    summary = await get_json(client, f"{aftersales.url}/v1/satisfaction")
    assert summary["completed_visits"] >= 1
    assert summary["low_scores"] >= 1
    upcoming = await get_json(client, f"{aftersales.url}/v1/visits?state=upcoming&assignee_role=manager")
    assert any(v["plan_id"] == order and v["label"] == "D+7" for v in upcoming["visits"])
    follow_ups = await eventually(lambda: published(infra, "SatisfactionFollowUpOpened"),
                                  until=lambda rs: any(r.key == order.encode() for r in rs), what="follow-up")
    assert follow_ups
    task_id = done.json()["visits"][0]["follow_up_task_id"]
    open_tasks = (await get_json(client, f"{aftersales.url}/v1/follow-ups"))["follow_ups"]
    assert [(t["plan_id"], t["score"]) for t in open_tasks if t["task_id"] == task_id] == [(order, 2)]
    closed = await client.post(f"{url}/1/follow-up/close", headers=auth_headers("manager", subject="M-1"),
                               json={"outcome": "apologised, free car wash"})
    assert closed.status_code == 200, closed.text
    twice = await client.post(f"{url}/1/follow-up/close", json={"outcome": "again"})
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "follow_up_already_closed")
    still_open = (await get_json(client, f"{aftersales.url}/v1/follow-ups"))["follow_ups"]
    assert task_id not in [t["task_id"] for t in still_open]


async def test_complaints_move_through_their_lifecycle_with_specific_errors(
    aftersales: ServiceProcess, client: httpx.AsyncClient,
) -> None:
    base = f"{aftersales.url}/v1/complaints"
    bad = await client.post(base, json={"customer_id": "C-1", "category": "weather", "description": "x"})
    assert (bad.status_code, bad.json()["error"]["fields"][0]["field"]) == (422, "category")
    opened = await client.post(base, json={"customer_id": "C-1", "category": "product", "severity": "high",
                                           "description": "rattling noise"})
    assert opened.status_code == 201
    complaint = opened.json()
    cid = complaint["complaint_id"]
    assert complaint["sla_state"] == "on_track"
    listed = await get_json(client, f"{base}?sla_state=on_track")
    assert cid in [c["complaint_id"] for c in listed["complaints"]]
    assert (await client.post(f"{base}/{cid}/acknowledge", json={"expected_version": 1})).status_code == 200
    stale = await client.post(f"{base}/{cid}/resolve", json={"resolution": "fixed", "expected_version": 1})
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "version_conflict")
    resolved = await client.post(f"{base}/{cid}/resolve", json={"resolution": "fixed"})
    assert resolved.json()["status"] == "resolved"
    not_open = await client.post(f"{base}/{cid}/acknowledge")
    assert (not_open.status_code, not_open.json()["error"]["code"]) == (409, "complaint_not_open")
    reopened = await client.post(f"{base}/{cid}/reopen", json={"reason": "still rattles"})
    assert (reopened.json()["status"], reopened.json()["cycle"]) == ("open", 2)
    unknown = await client.post(f"{base}/nope/acknowledge")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "complaint_not_found")


async def test_a_complaint_sent_again_with_its_idempotency_key_is_opened_once_and_a_reused_key_is_refused(
    aftersales: ServiceProcess, client: httpx.AsyncClient,
) -> None:
    base = f"{aftersales.url}/v1/complaints"
    body = {"customer_id": f"C-{uuid.uuid4().hex[:8]}", "category": "product", "severity": "high",
            "description": "rattling noise"}
    key = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
    first = await client.post(base, json=body, headers=key)
    again = await client.post(base, json=body, headers=key)  # the client's retry after an answer it did not get
    assert (first.status_code, again.status_code) == (201, 200)
    cid = first.json()["complaint_id"]
    assert again.json()["complaint_id"] == cid
    # Attempts racing each other (a client retrying before the first answer) still open one complaint.
    raced_key = {"Idempotency-Key": f"race-{uuid.uuid4().hex}"}
    raced = await asyncio.gather(*(client.post(base, json=body, headers=raced_key) for _ in range(4)))
    assert sorted(r.status_code for r in raced) == [200, 200, 200, 201]
    assert len({r.json()["complaint_id"] for r in raced}) == 1
    history = (await get_json(client, f"{base}/{cid}"))["history"]
    assert [h["event_type"] for h in history] == ["ComplaintOpened"]
    reused = await client.post(base, json={**body, "description": "a different complaint"}, headers=key)
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert [h["event_type"] for h in (await get_json(client, f"{base}/{cid}"))["history"]] == ["ComplaintOpened"]
    bad = await client.post(base, json=body, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 422
    assert "Idempotency-Key" in str(bad.json()["error"]["fields"][0]["field"])


async def test_a_referral_is_published_and_its_delivered_lead_earns_the_referrer_points(
    infra: Infra, aftersales: ServiceProcess, client: httpx.AsyncClient,
) -> None:
    referral_id, referrer, lead_id, order = (f"{p}-{uuid.uuid4().hex[:8]}" for p in ("R", "C-REF", "L", "O"))
    body = {"referral_id": referral_id, "referrer_customer_id": referrer, "prospect_name": "李四",
            "prospect_phone": "138 0000 1111", "interest": "Model Y"}
    first = await client.post(f"{aftersales.url}/v1/referrals", json=body)
    again = await client.post(f"{aftersales.url}/v1/referrals", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    registered = await eventually(lambda: published(infra, "ReferralRegistered"),
                                  until=lambda rs: any(r.key == referral_id.encode() for r in rs),
                                  what="ReferralRegistered on the topic")
    assert sum(r.key == referral_id.encode() for r in registered) == 1
    # What the leads service publishes for it, then what orders publishes when that lead's order is delivered.
    lead = LeadCreatedV1(lead_id=lead_id, customer_id="C-NEW", name="李四", phone="+8613800001111",
                         channel="referral", captured_at=datetime.now(UTC), referral_id=referral_id,
                         referrer_customer_id=referrer)
    await publish(infra.kafka, f"{PREFIX}.leads", [upstream_message(lead, key=lead_id)])
    await eventually(lambda: get_json(client, f"{aftersales.url}/v1/referrals/{referral_id}"),
                     until=lambda r: r["lead_id"] == lead_id, what="referral linked to its lead")
    await publish(infra.kafka, f"{PREFIX}.orders",
                  [upstream_message(delivered(order, lead_id=lead_id, customer_id="C-NEW"), key=order)])
    loyalty = await eventually(lambda: get_json(client, f"{aftersales.url}/v1/customers/{referrer}/loyalty"),
                               until=lambda a: a["balance"] > 0, what="referrer's points")
    assert loyalty["balance"] == 500
    assert [h["data"]["reason"] for h in loyalty["history"]] == ["referral"]
    overdraft = await client.post(f"{aftersales.url}/v1/customers/{referrer}/loyalty/redemptions",
                                  json={"points": 501, "reason": "gift"})
    assert (overdraft.status_code, overdraft.json()["error"]["code"]) == (409, "insufficient_points")
    redemption = {"points": 200, "reason": "car wash", "reference": f"wash-{referrer}"}
    spent = await client.post(f"{aftersales.url}/v1/customers/{referrer}/loyalty/redemptions", json=redemption)
    retried = await client.post(f"{aftersales.url}/v1/customers/{referrer}/loyalty/redemptions", json=redemption)
    assert (spent.status_code, spent.json()["balance"]) == (201, 300)
    assert (retried.status_code, retried.json()["balance"]) == (200, 300)
    timeline = await get_json(client, f"{aftersales.url}/v1/customers/{referrer}/timeline")
    assert [t["event_type"] for t in timeline["timeline"]] == [
        "ReferralRegistered", "ReferralLeadLinked", "ReferralRewarded", "PointsAwarded", "PointsRedeemed"]


async def test_a_malformed_delivered_event_is_dead_lettered_not_fatal(
    infra: Infra, aftersales: ServiceProcess, client: httpx.AsyncClient,
) -> None:
    key, _, headers = upstream_message(delivered("O-poison"), key="O-poison")
    await publish(infra.kafka, f"{PREFIX}.orders", [(key, b'{"order_id": 1}', headers)])
    letters = await eventually(lambda: get_json(client, f"{aftersales.url}/admin/dead-letters", OPS),
                               until=lambda d: any(x["message_key"] == "O-poison" for x in d["dead_letters"]),
                               what="dead letter")
    assert letters["consumer"] == "aftersales"
    [letter] = [x for x in letters["dead_letters"] if x["message_key"] == "O-poison"]
    assert "Delivered" in letter["reason"]
    assert (await client.get(f"{aftersales.url}/health/ready")).status_code == 200


async def test_visits_are_listed_as_due_then_overdue_by_their_timer(
    infra: Infra, aftersales: ServiceProcess, client: httpx.AsyncClient,
) -> None:
    due_order, overdue_order = f"O-due-{uuid.uuid4().hex[:6]}", f"O-late-{uuid.uuid4().hex[:6]}"
    await publish(infra.kafka, f"{PREFIX}.orders", [
        # D+1 due half a day ago, overdue (due + 24 h grace) in half a day
        upstream_message(delivered(due_order, ago=timedelta(hours=36)), key=due_order),
        # D+1 overdue since a day, D+3 due but not yet overdue
        upstream_message(delivered(overdue_order, ago=timedelta(days=3)), key=overdue_order),
    ])

    async def listed(state: str) -> list[tuple[str, str]]:
        visits = (await get_json(client, f"{aftersales.url}/v1/visits?state={state}"))["visits"]
        return sorted((v["plan_id"], v["label"]) for v in visits if v["plan_id"] in (due_order, overdue_order))

    overdue = await eventually(lambda: listed("overdue"), until=lambda v: len(v) >= 1, what="overdue visit")
    assert overdue == [(overdue_order, "D+1")]
    assert await listed("due") == sorted([(due_order, "D+1"), (overdue_order, "D+3")])


@pytest.mark.parametrize("dead_letter_id", ["0", "-1", str(2**63), "99999999999999999999999"])
@pytest.mark.parametrize("action", ["retry", "skip"])
async def test_a_dead_letter_id_outside_its_range_is_a_422_naming_it(
    aftersales: ServiceProcess, dead_letter_id: str, action: str,
) -> None:
    async with httpx.AsyncClient(headers=OPS, timeout=10) as ops:
        response = await ops.post(f"{aftersales.url}/admin/dead-letters/{dead_letter_id}/{action}")
        in_range_unknown = await ops.post(f"{aftersales.url}/admin/dead-letters/{2**63 - 1}/{action}")
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["dead_letter_id"]
    assert in_range_unknown.status_code == 404, in_range_unknown.text
