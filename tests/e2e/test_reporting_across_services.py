"""Leads, orders and reporting as real processes, talking only through Kafka: a lead captured over HTTP and taken
through quote, contract, payment and delivery in orders appears in reporting's funnel and in target attainment."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.reporting.wiring import MIGRATIONS
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.orders_stack import create_orders_database
from tests.support.orders_stack import drop_database as drop_orders_database
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.reporting import drop_database, fresh_reporting_database
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

_phones = itertools.count(47_000_001)


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    leads_db, leads_dsn = await create_orders_database(infra, "leads_rep", migrated=False)
    orders_db, orders_dsn = await create_orders_database(infra, "orders_rep", migrated=False)
    reporting_dsn = await fresh_reporting_database(infra, "across", MIGRATIONS)
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}repacross",
           "LEADS_DATABASE_URL": leads_dsn, "ORDERS_DATABASE_URL": orders_dsn,
           "REPORTING_DATABASE_URL": reporting_dsn,
           "LEADS_RELAY_POLL_INTERVAL": "0.2", "ORDERS_RELAY_POLL_INTERVAL": "0.2"}
    started: dict[str, ServiceProcess] = {}
    try:
        for name in ("leads", "orders", "reporting"):
            started[name] = await start_service(name, env)
        yield started
    finally:
        for service in started.values():
            await stop_service(service)
        await drop_orders_database(infra, leads_db)
        await drop_orders_database(infra, orders_db)
        await drop_database(infra, reporting_dsn)


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(url, json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_lead_taken_through_orders_to_delivery_shows_in_the_funnel_and_in_attainment(
    services: dict[str, ServiceProcess],
) -> None:
    leads, orders, reporting = services["leads"], services["orders"], services["reporting"]
    month = datetime.now(UTC).strftime("%Y-%m")
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=20) as client:
        target = await client.put(f"{reporting.url}/v1/targets", json={
            "scope": "consultant", "scope_id": "S-9", "month": month, "metric": "contracts", "base": 4})
        assert target.status_code == 200, target.text
        phone = f"135{next(_phones):08d}"  # the director's answer masks it; the quote takes the real one
        lead = await post(client, f"{leads.url}/v1/leads", {"name": "陈先生", "phone": phone,
                                                            "channel": "showroom", "interest": "Model Y"})
        quote = await post(client, f"{orders.url}/v1/quotes", {
            "consultant_id": "S-9", "role": "consultant", "currency": "CNY", "lead_id": lead["lead_id"],
            "customer_id": lead["customer_id"], "customer_name": lead["name"], "customer_phone": phone,
            "valid_until": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "lines": [{"product": "MODEL-Y", "unit_price_minor": 263_900_00}]})
        await post(client, f"{orders.url}/v1/quotes/{quote['quote_id']}/acceptance", {})
        order = await post(client, f"{orders.url}/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"})
        await post(client, f"{orders.url}/v1/orders/{order['order_id']}/payments",
                   {"kind": "full", "amount_minor": 263_900_00, "currency": "CNY"})
        await post(client, f"{orders.url}/v1/orders/{order['order_id']}/delivered", {})

        async def funnel() -> dict[str, Any]:
            return (await client.get(f"{reporting.url}/v1/reports/funnel", params={"period": month})).json()

        report = await eventually(funnel, until=lambda r: r["total_leads"] == 1 and any(
            s["stage"] == "delivered" and s["reached"] == 1 for s in r["stages"]), what="the delivered lead",
            timeout=40)
        stages = {s["stage"]: s for s in report["stages"]}
        assert report["won"] == 1
        assert stages["contract_signed"]["entered"] == 1
        assert stages["presented"]["reached"] == 1  # skipped, but passed
        assert stages["delivered"]["current"] == 1

        attainment = (await client.get(f"{reporting.url}/v1/reports/attainment", params={"month": month})).json()
        (line,) = attainment["lines"]
        assert line["actual"] == 1
        assert line["attainment"] == 0.25
        assert line["variance_rate"] == -0.75
