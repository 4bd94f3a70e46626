"""The leads service reacting to orders' and after-sales' events, produced onto Kafka as those services' relays
would: ContractSigned (with a lead, and online-shop checkouts without one), OrderCancelled, Delivered,
ReferralRegistered — idempotent on redelivery. One process for the whole module."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.contracts.aftersales import ReferralRegisteredV1
from shared.contracts.orders import ContractSignedV1, DeliveredV1, OrderCancelledV1, OrderLine
from shared.messaging.connection import KafkaConnection
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.leads import publish, scratch_database
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

_phones = itertools.count(30_000_001)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_phone() -> str:
    return f"136{next(_phones):08d}"


class Stack:
    def __init__(self, process: ServiceProcess, prefix: str, kafka: KafkaConnection) -> None:
        self.process, self.prefix, self.kafka = process, prefix, kafka

    async def orders(self, payload: Any, *, event_id: uuid.UUID | None = None) -> uuid.UUID:
        return await publish(self.kafka, f"{self.prefix}.orders", payload, key=payload.order_id,
                             source="salesflow/orders", event_id=event_id)

    async def aftersales(self, payload: ReferralRegisteredV1, *, event_id: uuid.UUID | None = None) -> uuid.UUID:
        return await publish(self.kafka, f"{self.prefix}.aftersales", payload,
                             key=payload.referrer_customer_id, source="salesflow/aftersales", event_id=event_id)


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    prefix = f"t{RUN_ID}leadsreact"
    async with scratch_database(infra, "leads_react") as dsn:
        process = await start_service("leads", {
            **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix,
            "LEADS_DATABASE_URL": dsn, "LEADS_RELAY_POLL_INTERVAL": "0.2",
        })
        try:
            yield Stack(process, prefix, infra.kafka)
        finally:
            await stop_service(process)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=auth_headers("director"), base_url=stack.process.url, timeout=10) as c:
        yield c


def signed(order_id: str, *, lead_id: str | None = None, phone: str | None = None) -> ContractSignedV1:
    return ContractSignedV1(
        order_id=order_id, lead_id=lead_id, customer_name="网购客户" if phone else None, customer_phone=phone,
        channel="online_shop" if phone else None, lines=[OrderLine(product="MY", quantity=1, unit_price_minor=1)],
        total_minor=1, currency="CNY", payment_plan="full", signed_at=NOW)


async def lead(client: httpx.AsyncClient, lead_id: str) -> dict[str, Any]:
    return (await client.get(f"/v1/leads/{lead_id}")).json()


async def test_contract_signed_then_cancelled_then_signed_and_delivered_move_the_lead(
    stack: Stack, client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/v1/leads", json={"name": "客户", "phone": a_phone(), "channel": "showroom"})).json()
    lead_id = created["lead_id"]

    await stack.orders(signed("O-A1", lead_id=lead_id))
    state = await eventually(lambda: lead(client, lead_id), until=lambda s: s["stage"] == "contract_signed",
                             what="contract_signed")
    assert state["order_id"] == "O-A1"

    await stack.orders(OrderCancelledV1(order_id="O-A1", reason="changed mind", refund_due_minor=0, currency="CNY",
                                        cancelled_at=NOW))
    state = await eventually(lambda: lead(client, lead_id), until=lambda s: s["stage"] == "negotiating",
                             what="back to negotiating")
    back = [h for h in state["history"] if h["event_type"] == "StageAdvanced"][-1]["data"]
    assert back["backwards"] is True
    assert back["reason"] == "order_cancelled"
    assert back["from_stage"] == "contract_signed"

    await stack.orders(signed("O-A2", lead_id=lead_id))
    await stack.orders(DeliveredV1(order_id="O-A2", total_minor=1, currency="CNY", delivered_at=NOW))
    state = await eventually(lambda: lead(client, lead_id), until=lambda s: s["stage"] == "delivered",
                             what="delivered (found by order id, the event has no lead id)")
    assert state["status"] == "open"
    assert state["order_id"] == "O-A2"
    closed = await client.post(f"/v1/leads/{lead_id}/follow-ups", json={"kind": "call", "outcome": "thanks"})
    assert closed.status_code == 409
    assert closed.json()["error"]["code"] == "lead_closed"


async def test_a_checkout_without_a_lead_creates_one_lead_at_contract_signed_once_even_when_redelivered(
    stack: Stack, client: httpx.AsyncClient,
) -> None:
    phone = a_phone()
    applied_before = await _consumer_applied(client)
    event_id = await stack.orders(signed("O-B1", phone=phone))
    await stack.orders(signed("O-B1", phone=phone), event_id=event_id)  # redelivery, same event id
    await stack.orders(signed("O-B1", phone=phone))  # a replay under a new id: the order is already linked

    found = await eventually(lambda: _find_by_order(client, "O-B1"), until=lambda r: r is not None,
                             what="the checkout's lead")
    assert found is not None
    assert found["stage"] == "contract_signed"
    assert found["channel"] == "online_shop"
    created = next(h for h in found["history"] if h["event_type"] == "LeadCreated")["data"]
    assert created["order_id"] == "O-B1"
    assert created["stage"] == "contract_signed"
    # Once applied, the later copies are consumed too; still one lead for the phone.
    await eventually(lambda: _consumer_applied(client), until=lambda n: n >= applied_before + 2,
                     what="both distinct event ids consumed (the redelivered copy is skipped as a duplicate)")
    assert len(await _leads_for_phone(client, phone)) == 1
    assert await _dead_letters(client, key="O-B1") == []


async def test_a_checkout_links_the_customers_open_lead_instead_of_creating_one(
    stack: Stack, client: httpx.AsyncClient,
) -> None:
    phone = a_phone()
    created = (await client.post("/v1/leads", json={"name": "客户", "phone": phone, "channel": "website"})).json()

    await stack.orders(signed("O-C1", phone="+86" + phone))

    state = await eventually(lambda: lead(client, created["lead_id"]),
                             until=lambda s: s["stage"] == "contract_signed", what="the open lead linked")
    assert state["order_id"] == "O-C1"
    assert len(await _leads_for_phone(client, phone)) == 1


async def test_a_referral_creates_a_referral_lead_once_and_a_known_prospect_gets_a_touchpoint(
    stack: Stack, client: httpx.AsyncClient,
) -> None:
    phone = a_phone()
    applied_before = await _consumer_applied(client)
    referral = ReferralRegisteredV1(referral_id="R-1", referrer_customer_id="CUST-9", prospect_name="朋友",
                                    prospect_phone=phone, interest="Model Y", registered_at=NOW)
    await stack.aftersales(referral)
    await stack.aftersales(referral)  # a second copy under a new event id: still one lead per referral

    found = await eventually(lambda: _leads_for_phone(client, phone), until=lambda r: len(r) == 1,
                             what="the referral lead")
    state = await lead(client, found[0]["lead_id"])
    created = state["history"][0]["data"]
    assert (state["channel"], created["referral_id"], created["referrer_customer_id"]) == (
        "referral", "R-1", "CUST-9")

    other = ReferralRegisteredV1(referral_id="R-2", referrer_customer_id="CUST-7", prospect_name="朋友",
                                 prospect_phone=phone, registered_at=NOW)
    await stack.aftersales(other)
    state = await eventually(lambda: lead(client, found[0]["lead_id"]),
                             until=lambda s: "DuplicateContactRecorded" in [h["event_type"] for h in s["history"]],
                             what="a touchpoint for the second referral")
    await eventually(lambda: _consumer_applied(client), until=lambda n: n >= applied_before + 3,
                     what="all three referral messages consumed")
    state = await lead(client, found[0]["lead_id"])
    assert [h["event_type"] for h in state["history"]].count("DuplicateContactRecorded") == 1
    touch = next(h for h in state["history"] if h["event_type"] == "DuplicateContactRecorded")["data"]
    assert (touch["referral_id"], touch["referrer_customer_id"], touch["channel"]) == ("R-2", "CUST-7", "referral")
    assert len(await _leads_for_phone(client, phone)) == 1
    assert await _dead_letters(client, key="CUST-9") == []
    assert await _dead_letters(client, key="CUST-7") == []


async def test_a_referral_with_an_unusable_phone_is_dead_lettered_with_the_reason(
    stack: Stack, client: httpx.AsyncClient,
) -> None:
    await stack.aftersales(ReferralRegisteredV1(referral_id="R-bad", referrer_customer_id="CUST-bad",
                                                prospect_name="朋友", prospect_phone="12", registered_at=NOW))

    letters = await eventually(lambda: _dead_letters(client, key="CUST-bad"), what="the dead letter")

    assert letters[0]["event_type"] == "salesflow.aftersales.ReferralRegistered"
    assert "phone" in letters[0]["reason"]


async def _dead_letters(client: httpx.AsyncClient, *, key: str) -> list[dict[str, Any]]:
    letters = (await client.get("/admin/dead-letters", headers=auth_headers("ops", subject="ops1", team=None))
               ).json()["dead_letters"]
    return [d for d in letters if d["message_key"] == key]


async def _consumer_applied(client: httpx.AsyncClient) -> int:
    return int((await client.get("/health/ready")).json()["checks"]["consumer"]["applied"])


async def _find_by_order(client: httpx.AsyncClient, order_id: str) -> dict[str, Any] | None:
    response = await client.get(f"/v1/orders/{order_id}/lead")
    return response.json() if response.status_code == 200 else None


async def _leads_for_phone(client: httpx.AsyncClient, phone: str) -> list[dict[str, Any]]:
    return (await client.get("/v1/customers/leads", params={"phone": phone})).json()["leads"]
