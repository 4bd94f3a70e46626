"""The referral loop across real service processes: a customer's referral registered at after-sales is turned
into a referral lead by the leads service (over Kafka), after-sales learns that lead from leads' LeadCreated,
and when that lead's order is delivered the referrer earns points.

The leads and after-sales services run as processes; the Delivered event is published as the orders service
publishes it (header and payload contract), so this test does not depend on how orders reaches delivery."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from shared.contracts.orders import DeliveredV1
from tests.support.aftersales import create_module_database, drop_database, get_json
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.kafka import header, read_topic
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.upstream import publish, upstream_message
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

PREFIX = f"t{RUN_ID}asr"


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    databases = [await create_module_database(infra, name) for name in ("leads", "aftersales")]
    env = {
        **infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": PREFIX,
        "LEADS_DATABASE_URL": databases[0][1], "AFTERSALES_DATABASE_URL": databases[1][1],
        "LEADS_RELAY_POLL_INTERVAL": "0.2", "AFTERSALES_RELAY_POLL_INTERVAL": "0.2",
    }
    started: dict[str, ServiceProcess] = {}
    try:
        for name in ("aftersales", "leads"):
            started[name] = await start_service(name, env)
        yield started
    finally:
        for service in started.values():
            await stop_service(service)
        for name, _ in databases:
            await drop_database(infra, name)


async def test_a_referral_becomes_a_lead_and_its_delivery_earns_the_referrer_points(
    infra: Infra, services: dict[str, ServiceProcess],
) -> None:
    leads, aftersales = services["leads"], services["aftersales"]
    referrer = f"C-{uuid.uuid4().hex[:8]}"
    phone = f"139{random.randrange(10**8):08d}"
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        registered = await client.post(f"{aftersales.url}/v1/referrals", headers={"X-Correlation-Id": "ref-e2e"},
                                       json={"referrer_customer_id": referrer, "prospect_name": "王五",
                                             "prospect_phone": phone, "interest": "Model 3"})
        assert registered.status_code == 201, registered.text
        referral_id = registered.json()["referral_id"]

        referral = await eventually(lambda: get_json(client, f"{aftersales.url}/v1/referrals/{referral_id}"),
                                    until=lambda r: r["lead_id"] is not None, timeout=30,
                                    what="the leads service's referral lead, seen by after-sales")
        lead_id = referral["lead_id"]
        # A system with leads:read sees the full number (a director would see it masked: docs/security.md).
        reader = auth_headers(None, scopes=["leads:read"], client="call-center")
        lead = await get_json(client, f"{leads.url}/v1/leads/{lead_id}", reader)
        assert (lead["channel"], lead["phone"]) == ("referral", f"+86{phone}")

        order_id = f"O-{uuid.uuid4().hex[:8]}"
        delivered = DeliveredV1(order_id=order_id, lead_id=lead_id, customer_id=lead["customer_id"],
                                total_minor=30_000_000, currency="CNY", delivered_at=datetime.now(UTC))
        await publish(infra.kafka, f"{PREFIX}.orders", [upstream_message(delivered, key=order_id)])

        points = await eventually(lambda: get_json(client, f"{aftersales.url}/v1/customers/{referrer}/loyalty"),
                                  until=lambda a: a["balance"] > 0, what="the referrer's points")
        buyer = await get_json(client, f"{aftersales.url}/v1/customers/{lead['customer_id']}/loyalty")
    assert points["balance"] == 500
    assert [h["data"]["reference"] for h in points["history"]] == [f"referral:{referral_id}"]
    assert buyer["balance"] == 100 + 3_000
    records = await read_topic(infra.kafka, f"{PREFIX}.aftersales", expect=1)
    registered_record = next(r for r in records if header(r, "ce_type") == "salesflow.aftersales.ReferralRegistered")
    assert header(registered_record, "ce_correlationid") == "ref-e2e"
