"""The online shop and the call center writing to ``<prefix>.inbound.shop`` / ``<prefix>.inbound.calls`` as their
own Kafka principals (``User:shop``, ``User:call-center``, each allowed to write its topic and nothing else),
consumed by the leads and orders services running as processes: inquiries and abandoned carts become the same
captures as ``POST /v1/leads``, checkouts the same command as ``POST /v1/checkouts``, calls follow-ups, leads
and call-backs; idempotent on the senders' ids; what is invalid or refused is dead-lettered with the reason.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka.errors import TopicAuthorizationFailedError

from shared.contracts.base import IntegrationEvent
from shared.contracts.inbound import (
    INBOUND_CALLS,
    INBOUND_SHOP,
    CallRecordedV1,
    CartAbandonedV1,
    CartItemV1,
    InquirySubmittedV1,
    OrderCheckedOutV1,
    ShopOrderLineV1,
)
from shared.messaging.connection import KafkaConnection
from shared.messaging.headers import EventHeaders
from shared.messaging.topics import dead_letter_topic, ensure_topics
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka_acls import own_principal, publish_one, topic_acls
from tests.support.leads import publish, scratch_database
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPS = auth_headers("ops", subject="ops1", team=None)
_phones = itertools.count(40_000_001)


def a_phone() -> str:
    return f"137{next(_phones):08d}"


@dataclass
class Shop:
    """The simulated shop: writes its topic as User:shop; reads salesflow back over HTTP as a director."""

    kafka: KafkaConnection
    topic: str
    call_center: KafkaConnection
    calls_topic: str
    leads: ServiceProcess
    orders: ServiceProcess
    orders_dsn: str
    client: httpx.AsyncClient

    async def send(self, message: IntegrationEvent, key: str, *, event_id: uuid.UUID | None = None) -> uuid.UUID:
        return await publish(self.kafka, self.topic, message, key=key, source="shop", event_id=event_id)

    async def call(self, call: CallRecordedV1, *, key: str | None = None) -> uuid.UUID:
        return await publish(self.call_center, self.calls_topic, call, key=key or call.call_id,
                             source="call-center")

    async def leads_of(self, phone: str) -> list[dict[str, Any]]:
        response = await self.client.get(f"{self.leads.url}/v1/customers/leads", params={"phone": phone})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["leads"]
        return found

    async def history(self, lead_id: str) -> list[str]:
        lead = (await self.client.get(f"{self.leads.url}/v1/leads/{lead_id}")).json()
        return [entry["event_type"] for entry in lead["history"]]

    async def dead_letters(self, service: ServiceProcess, key: str) -> list[dict[str, Any]]:
        letters = (await self.client.get(f"{service.url}/admin/dead-letters", headers=OPS)).json()["dead_letters"]
        return [d for d in letters if d["message_key"] == key]

    async def order_of(self, shop_order_id: str) -> str | None:
        conn = await asyncpg.connect(self.orders_dsn)
        try:
            found: str | None = await conn.fetchval(
                "SELECT order_id FROM shop_checkouts WHERE shop_order_id = $1", shop_order_id)
            return found
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def shop(infra: Infra) -> AsyncIterator[Shop]:
    prefix = f"t{RUN_ID}inbound"
    topic, calls_topic = f"{prefix}.{INBOUND_SHOP}", f"{prefix}.{INBOUND_CALLS}"
    # Every topic the two consumers read exists before they subscribe (seen once under load: leads' subscription
    # missed <prefix>.orders, which leads itself had created just before, for the test's 20 s).
    read = [topic, calls_topic, f"{prefix}.orders", f"{prefix}.aftersales"]
    await ensure_topics(infra.kafka, [*read, *map(dead_letter_topic, read)])
    shop_principal, call_center = own_principal(infra, "shop"), own_principal(infra, "call-center")
    assert shop_principal.username is not None
    assert call_center.username is not None
    # The stack's rows of deploy/kafka/acls.tsv for the shop and the call center, for this run's prefix.
    async with scratch_database(infra, "inbound_leads") as leads_dsn, \
            scratch_database(infra, "inbound_orders") as orders_dsn, \
            topic_acls(infra, [(shop_principal.username, topic), (call_center.username, calls_topic)]):
        env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix}
        # Consumer groups of this run alone: a group shared with another run's services on other topics (the
        # broker is shared) rebalances over and over and consumes nothing meanwhile.
        leads = await start_service("leads", {**env, "LEADS_DATABASE_URL": leads_dsn,
                                              "LEADS_CONSUMER_GROUP": f"{prefix}-leads"})
        try:
            orders = await start_service("orders", {**env, "ORDERS_DATABASE_URL": orders_dsn,
                                                    "ORDERS_CONSUMER_GROUP": f"{prefix}-orders",
                                                    "ORDERS_RELAY_POLL_INTERVAL": "0.2"})
            try:
                async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
                    yield Shop(shop_principal, topic, call_center, calls_topic, leads, orders, orders_dsn, client)
            finally:
                await stop_service(orders)
        finally:
            await stop_service(leads)


async def test_an_inquiry_becomes_a_shop_lead_once_and_is_the_same_capture_as_over_http(shop: Shop) -> None:
    phone = a_phone()
    inquiry = InquirySubmittedV1(inquiry_id=f"Q-{RUN_ID}-1", name="王五", phone=phone, interest="Model Y",
                                 submitted_at=NOW)
    await shop.send(inquiry, inquiry.inquiry_id)
    leads = await eventually(lambda: shop.leads_of(phone), what="the inquiry's lead")
    assert [(x["channel"], x["interest"]) for x in leads] == [("online_shop", "Model Y")]

    # Sent again under a new message id: the shop's inquiry id is the key, so nothing more is recorded.
    await shop.send(inquiry, inquiry.inquiry_id)
    marker = a_phone()  # a later message on the same partition order: once it is applied, the repeat was too
    await shop.send(InquirySubmittedV1(inquiry_id=inquiry.inquiry_id + "-marker", name="x", phone=marker,
                                       submitted_at=NOW), inquiry.inquiry_id)
    await eventually(lambda: shop.leads_of(marker), what="the marker's lead")
    assert "DuplicateContactRecorded" not in await shop.history(leads[0]["lead_id"])
    assert len(await shop.leads_of(phone)) == 1

    # The shop posting the same inquiry over HTTP gets the lead the topic made: one rule set, one key.
    response = await shop.client.post(f"{shop.leads.url}/v1/leads", json={
        "name": "王五", "phone": phone, "channel": "online_shop", "source_system": "shop",
        "external_id": inquiry.inquiry_id})
    assert response.status_code == 200, response.text
    assert (response.json()["lead_id"], response.json()["outcome"]) == (leads[0]["lead_id"], "duplicate_request")


async def test_an_abandoned_cart_is_a_touchpoint_on_the_open_lead_or_else_a_new_lead(shop: Shop) -> None:
    known, unknown = a_phone(), a_phone()
    await shop.send(InquirySubmittedV1(inquiry_id=f"Q-{RUN_ID}-cart", name="赵六", phone=known, submitted_at=NOW),
                    f"Q-{RUN_ID}-cart")
    lead = (await eventually(lambda: shop.leads_of(known), what="the inquiry's lead"))[0]

    items = [CartItemV1(product="WALLBOX", quantity=2)]
    await shop.send(CartAbandonedV1(cart_id=f"C-{RUN_ID}-1", name="赵六", phone=known, items=items,
                                    abandoned_at=NOW), f"C-{RUN_ID}-1")
    await shop.send(CartAbandonedV1(cart_id=f"C-{RUN_ID}-2", name="钱七", phone=unknown, items=items,
                                    abandoned_at=NOW), f"C-{RUN_ID}-2")

    history = await eventually(lambda: shop.history(lead["lead_id"]),
                               until=lambda h: "DuplicateContactRecorded" in h, what="the cart's touchpoint")
    assert "OwnerReminded" in history or lead["owner_id"] is None
    assert len(await shop.leads_of(known)) == 1
    new = await eventually(lambda: shop.leads_of(unknown), what="the cart's lead")
    assert [(x["channel"], x["interest"]) for x in new] == [("online_shop", "abandoned cart: WALLBOX ×2")]


async def test_a_checkout_on_the_topic_is_an_order_and_a_conflicting_repeat_is_dead_lettered(shop: Shop) -> None:
    phone = a_phone()
    shop_order_id = f"SO-{RUN_ID}-1"
    checkout = OrderCheckedOutV1(
        shop_order_id=shop_order_id, customer_name="孙八", customer_phone=phone,
        lines=[ShopOrderLineV1(product="MUG", quantity=2, unit_price_minor=50_00)], total_minor=100_00,
        paid_minor=100_00, currency="CNY", checked_out_at=NOW)
    await shop.send(checkout, shop_order_id)
    order_id = await eventually(lambda: shop.order_of(shop_order_id), what="the order")
    # orders published ContractSigned; leads made the shop buyer's lead at contract_signed, linked to the order.
    leads = await eventually(lambda: shop.leads_of(phone), what="the buyer's lead")
    assert (leads[0]["stage"], leads[0]["order_id"]) == ("contract_signed", order_id)

    await shop.send(checkout, shop_order_id)  # the identical repeat: nothing
    changed = checkout.model_copy(update={"lines": [ShopOrderLineV1(product="MUG", quantity=3,
                                                                    unit_price_minor=50_00)],
                                          "total_minor": 150_00, "paid_minor": 150_00})
    await shop.send(changed, shop_order_id)
    letters = await eventually(lambda: shop.dead_letters(shop.orders, shop_order_id), what="the conflict's letter")
    assert len(letters) == 1
    assert letters[0]["event_type"] == OrderCheckedOutV1.event_type
    assert "CheckoutConflictError" in letters[0]["reason"]
    assert "different lines, paid_minor, total_minor" in letters[0]["reason"]
    assert order_id in letters[0]["reason"]
    assert await shop.dead_letters(shop.leads, shop_order_id) == []  # leads ignores checkouts


async def test_invalid_messages_are_dead_lettered_with_the_reason(shop: Shop) -> None:
    # A field missing: the contract refuses it before any command (poison).
    headers = EventHeaders(event_id=uuid.uuid4(), event_type=InquirySubmittedV1.event_type, schema_version=1,
                           source="shop", subject=f"Q-{RUN_ID}-nophone", time=NOW).encode()
    await publish_one(shop.kafka, shop.topic, orjson.dumps({"inquiry_id": f"Q-{RUN_ID}-nophone", "name": "x",
                                                            "submitted_at": NOW.isoformat()}),
                      key=f"Q-{RUN_ID}-nophone".encode(), headers=headers)
    # Valid JSON, but the capture refuses the phone (the same rule as over HTTP).
    await shop.send(InquirySubmittedV1(inquiry_id=f"Q-{RUN_ID}-badphone", name="x", phone="12345",
                                       submitted_at=NOW), f"Q-{RUN_ID}-badphone")

    missing = await eventually(lambda: shop.dead_letters(shop.leads, f"Q-{RUN_ID}-nophone"), what="the letter")
    assert "phone" in missing[0]["reason"]
    assert "Field required" in missing[0]["reason"]
    refused = await eventually(lambda: shop.dead_letters(shop.leads, f"Q-{RUN_ID}-badphone"), what="the letter")
    assert "phone" in refused[0]["reason"]


async def test_an_inquiry_carries_its_utm_link_to_the_campaign_and_an_unknown_campaign_is_dead_lettered(
        shop: Shop) -> None:
    today = NOW.date().isoformat()
    created = await shop.client.post(f"{shop.leads.url}/v1/campaigns", json={
        "code": f"shop-ads-{RUN_ID}", "name": "抖音套餐", "kind": "ad_platform", "channel": "online_shop",
        "starts_on": today, "ends_on": today, "budget_minor": 1_000_000})
    assert created.status_code == 201, created.text
    phone = a_phone()
    await shop.send(InquirySubmittedV1(inquiry_id=f"Q-{RUN_ID}-utm", name="周九", phone=phone, submitted_at=NOW,
                                       utm_source="douyin", utm_medium="cpc", utm_campaign=f"shop-ads-{RUN_ID}"),
                    f"Q-{RUN_ID}-utm")
    lead = (await eventually(lambda: shop.leads_of(phone), what="the inquiry's lead"))[0]
    detail = (await shop.client.get(f"{shop.leads.url}/v1/leads/{lead['lead_id']}")).json()
    capture = detail["history"][0]["data"]
    assert (capture["campaign_id"], capture["utm_source"], capture["utm_medium"]) == (
        created.json()["campaign_id"], "douyin", "cpc")

    await shop.send(InquirySubmittedV1(inquiry_id=f"Q-{RUN_ID}-nocampaign", name="吴十", phone=a_phone(),
                                       submitted_at=NOW, campaign_id="no-such-campaign"), f"Q-{RUN_ID}-nocampaign")
    refused = await eventually(lambda: shop.dead_letters(shop.leads, f"Q-{RUN_ID}-nocampaign"), what="the letter")
    assert "campaign_id" in refused[0]["reason"]


async def test_the_shop_and_the_call_center_may_write_their_own_inbound_topic_only(shop: Shop) -> None:
    prefix = shop.topic.removesuffix(f".{INBOUND_SHOP}")
    for foreign in (shop.calls_topic, f"{prefix}.leads", "salesflow.inbound.calls", "salesflow.leads"):
        with pytest.raises(TopicAuthorizationFailedError):
            await publish_one(shop.kafka, foreign)
    for foreign in (shop.topic, f"{prefix}.orders", "salesflow.inbound.shop", "salesflow.orders"):
        with pytest.raises(TopicAuthorizationFailedError):
            await publish_one(shop.call_center, foreign)


def a_call(call_id: str, number: str, *, outcome: str = "answered", seconds: int = 120,
           started_at: datetime = NOW, agent: str | None = "c1") -> CallRecordedV1:
    return CallRecordedV1(call_id=call_id, caller_number=number, direction="inbound", agent_id=agent,
                          started_at=started_at, duration_seconds=seconds, outcome=outcome,
                          recording_url=f"https://cc.example/rec/{call_id}" if seconds else None)


async def test_an_answered_call_is_a_follow_up_on_the_callers_open_lead_once(shop: Shop) -> None:
    phone = a_phone()
    await shop.send(InquirySubmittedV1(inquiry_id=f"Q-{RUN_ID}-call", name="吴九", phone=phone, submitted_at=NOW),
                    f"Q-{RUN_ID}-call")
    lead = (await eventually(lambda: shop.leads_of(phone), what="the inquiry's lead"))[0]

    call = a_call(f"CALL-{RUN_ID}-1", f"+86 {phone}")
    await shop.call(call)
    await shop.call(call)  # reported again under a new message id
    history = await eventually(lambda: shop.history(lead["lead_id"]), until=lambda h: "FollowUpLogged" in h,
                               what="the call's follow-up")
    # Another call on the same key (partition) after both: once it is applied, so were the two before it.
    marker = a_call(f"CALL-{RUN_ID}-1-marker", a_phone())
    await shop.call(marker, key=call.call_id)
    await eventually(lambda: shop.leads_of(marker.caller_number), what="the marker call's lead")
    history = await shop.history(lead["lead_id"])
    assert history.count("CallRecorded") == 1
    assert history.count("FollowUpLogged") == 1
    detail = (await shop.client.get(f"{shop.leads.url}/v1/leads/{lead['lead_id']}")).json()
    assert detail["stage"] == "contacted"
    logged = next(e for e in detail["history"] if e["event_type"] == "FollowUpLogged")
    assert (logged["data"]["kind"], logged["data"]["logged_by"]) == ("call", "c1")
    assert logged["actor"] == "system:call-center"


async def test_an_unknown_caller_becomes_a_call_center_lead(shop: Shop) -> None:
    phone = a_phone()
    await shop.call(a_call(f"CALL-{RUN_ID}-new", phone))
    leads = await eventually(lambda: shop.leads_of(phone), what="the caller's lead")
    assert [(x["channel"], x["stage"]) for x in leads] == [("call_center", "contacted")]


async def test_a_missed_call_opens_a_call_back_that_the_durable_timer_marks_overdue(shop: Shop) -> None:
    phone = a_phone()
    # Missed three hours ago: the call-back (due 2 h after the call, config/policy.json) is already late, so the
    # follow-up timer fires at once.
    started = datetime.now(UTC) - timedelta(hours=3)
    await shop.call(a_call(f"CALL-{RUN_ID}-missed", phone, outcome="missed", seconds=0, started_at=started,
                           agent=None))
    lead = (await eventually(lambda: shop.leads_of(phone), what="the caller's lead"))[0]
    history = await eventually(lambda: shop.history(lead["lead_id"]), until=lambda h: "FollowUpOverdue" in h,
                               timeout=30, what="the call-back going overdue")
    assert "FollowUpLogged" not in history
    detail = (await shop.client.get(f"{shop.leads.url}/v1/leads/{lead['lead_id']}")).json()
    recorded = next(e for e in detail["history"] if e["event_type"] == "CallRecorded")
    assert recorded["data"]["outcome"] == "missed"
    assert datetime.fromisoformat(recorded["data"]["call_back_due_at"]) == started + timedelta(hours=2)


async def test_a_call_with_an_unknown_outcome_is_dead_lettered_with_the_reason(shop: Shop) -> None:
    await shop.call(a_call(f"CALL-{RUN_ID}-odd", a_phone(), outcome="voicemail"))
    letters = await eventually(lambda: shop.dead_letters(shop.leads, f"CALL-{RUN_ID}-odd"), what="the letter")
    assert "outcome" in letters[0]["reason"]
