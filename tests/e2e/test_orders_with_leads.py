"""Orders and leads running together as real processes, talking only through Kafka: a lead captured in the
leads service reaches contract signed and delivered through orders' events, and an online-shop checkout for a
customer with an open lead is linked to that lead instead of creating a second one."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.orders_stack import create_orders_database, drop_database
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

_phones = itertools.count(40_000_001)


def a_phone() -> str:
    return f"135{next(_phones):08d}"


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    leads_db, leads_dsn = await create_orders_database(infra, "leads_x", migrated=False)
    orders_db, orders_dsn = await create_orders_database(infra, "orders_x", migrated=False)
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}ordersleads",
           "LEADS_DATABASE_URL": leads_dsn, "ORDERS_DATABASE_URL": orders_dsn,
           "LEADS_RELAY_POLL_INTERVAL": "0.2", "ORDERS_RELAY_POLL_INTERVAL": "0.2"}
    started: dict[str, ServiceProcess] = {}
    try:
        for name in ("leads", "orders"):
            started[name] = await start_service(name, env)
        yield started
    finally:
        for service in started.values():
            await stop_service(service)
        await drop_database(infra, leads_db)
        await drop_database(infra, orders_db)


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def lead_state(client: httpx.AsyncClient, leads: ServiceProcess, lead_id: str) -> dict[str, Any]:
    result: dict[str, Any] = (await client.get(f"{leads.url}/v1/leads/{lead_id}")).json()
    return result


async def test_a_captured_lead_reaches_contract_signed_and_delivered_through_orders_events(
    services: dict[str, ServiceProcess],
) -> None:
    leads, orders = services["leads"], services["orders"]
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        phone = a_phone()  # the director's answer masks it (docs/security.md): the quote takes the real one
        lead = await post(client, f"{leads.url}/v1/leads",
                          {"name": "陈先生", "phone": phone, "channel": "showroom", "interest": "Model Y"})
        quote = await post(client, f"{orders.url}/v1/quotes", {
            "consultant_id": "S-1", "role": "consultant", "currency": "CNY", "lead_id": lead["lead_id"],
            "customer_id": lead["customer_id"], "customer_name": lead["name"], "customer_phone": phone,
            "valid_until": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "lines": [{"product": "MODEL-Y", "unit_price_minor": 263_900_00}]})
        await post(client, f"{orders.url}/v1/quotes/{quote['quote_id']}/acceptance", {})
        order = await post(client, f"{orders.url}/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"})

        signed = await eventually(lambda: lead_state(client, leads, lead["lead_id"]),
                                  until=lambda s: s["stage"] == "contract_signed", what="lead at contract_signed")
        assert signed["order_id"] == order["order_id"]

        await post(client, f"{orders.url}/v1/orders/{order['order_id']}/payments",
                   {"kind": "full", "amount_minor": 263_900_00, "currency": "CNY"})
        await post(client, f"{orders.url}/v1/orders/{order['order_id']}/delivered", {})
        delivered = await eventually(lambda: lead_state(client, leads, lead["lead_id"]),
                                     until=lambda s: s["stage"] == "delivered", what="lead at delivered")
        assert delivered["order_id"] == order["order_id"]


async def test_a_shop_checkout_links_the_customers_open_lead_instead_of_creating_a_second(
    services: dict[str, ServiceProcess],
) -> None:
    leads, orders = services["leads"], services["orders"]
    phone = a_phone()
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=10) as client:
        lead = await post(client, f"{leads.url}/v1/leads", {"name": "林女士", "phone": phone, "channel": "website"})
        checkout = {"shop_order_id": f"SHOP-{RUN_ID}-x", "customer_name": "林女士", "customer_phone": f"+86 {phone}",
                    "lines": [{"product": "CHARGER", "unit_price_minor": 3_999_00}], "total_minor": 3_999_00,
                    "paid_minor": 3_999_00, "currency": "CNY"}
        order = await post(client, f"{orders.url}/v1/checkouts", checkout)
        await post(client, f"{orders.url}/v1/checkouts", checkout)  # the shop retries: still one order

        linked = await eventually(lambda: lead_state(client, leads, lead["lead_id"]),
                                  until=lambda s: s["stage"] == "contract_signed", what="open lead linked")
        assert linked["order_id"] == order["order_id"]
        assert linked["channel"] == "website"  # the lead keeps its own acquisition channel
        same_phone = (await client.get(f"{leads.url}/v1/customers/leads", params={"phone": phone})).json()["leads"]
        assert [x["lead_id"] for x in same_phone] == [lead["lead_id"]]  # no duplicate lead for the customer
