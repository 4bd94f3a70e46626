"""The referral loop with every service it touches running as a real process — nothing simulated: after-sales
registers the referral, leads turns it into a referral lead, orders sells that lead a car (an online-shop
checkout, signed and paid in one step) and delivers it, and after-sales awards the referrer's and the buyer's
points from orders' own Delivered event."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.aftersales import create_module_database, drop_database, get_json
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

PREFIX = f"t{RUN_ID}asall"
SERVICES = ("aftersales", "leads", "orders")


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    databases = {name: await create_module_database(infra, name) for name in SERVICES}
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": PREFIX}
    for name, (_, dsn) in databases.items():
        env[f"{name.upper()}_DATABASE_URL"] = dsn
        env[f"{name.upper()}_RELAY_POLL_INTERVAL"] = "0.2"
    started: dict[str, ServiceProcess] = {}
    try:
        for name in SERVICES:
            started[name] = await start_service(name, env)
        yield started
    finally:
        for service in started.values():
            await stop_service(service)
        for db_name, _ in databases.values():
            await drop_database(infra, db_name)


async def test_a_referred_prospects_delivered_order_earns_the_referrer_points(
    services: dict[str, ServiceProcess],
) -> None:
    aftersales, leads, orders = (services[n] for n in SERVICES)
    referrer = f"C-{uuid.uuid4().hex[:8]}"
    phone = f"137{random.randrange(10**8):08d}"
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        registered = await client.post(f"{aftersales.url}/v1/referrals", json={
            "referrer_customer_id": referrer, "prospect_name": "赵六", "prospect_phone": phone,
            "interest": "Model Y"})
        assert registered.status_code == 201, registered.text
        referral_id = registered.json()["referral_id"]
        referral = await eventually(lambda: get_json(client, f"{aftersales.url}/v1/referrals/{referral_id}"),
                                    until=lambda r: r["lead_id"] is not None, timeout=30, what="referral lead")
        lead = await get_json(client, f"{leads.url}/v1/leads/{referral['lead_id']}")
        assert lead["channel"] == "referral"

        checkout = await client.post(f"{orders.url}/v1/checkouts", json={
            "shop_order_id": f"shop-{uuid.uuid4().hex[:8]}", "customer_name": "赵六", "customer_phone": phone,
            "lines": [{"product": "MODEL-Y", "quantity": 1, "unit_price_minor": 26_000_000}],
            "total_minor": 26_000_000, "paid_minor": 26_000_000, "currency": "CNY",
            "lead_id": lead["lead_id"], "customer_id": lead["customer_id"]})
        assert checkout.status_code == 201, checkout.text
        order_id = checkout.json()["order_id"]
        delivered = await client.post(f"{orders.url}/v1/orders/{order_id}/delivered", json={})
        assert delivered.status_code == 200, delivered.text

        points = await eventually(lambda: get_json(client, f"{aftersales.url}/v1/customers/{referrer}/loyalty"),
                                  until=lambda a: a["balance"] > 0, timeout=30, what="the referrer's points")
        plan = await get_json(client, f"{aftersales.url}/v1/care-plans/{order_id}")
        buyer = await get_json(client, f"{aftersales.url}/v1/customers/{lead['customer_id']}/loyalty")
    assert points["balance"] == 500
    assert plan["lead_id"] == lead["lead_id"]
    assert buyer["balance"] == 100 + 2_600
