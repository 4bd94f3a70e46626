"""Campaign cost end to end: leads, orders and reporting as real processes talking only through Kafka. A manager
creates a campaign and records its spend; leads arrive with UTM links (one names the campaign by id, one has no
campaign), one is invalidated, one visits, one signs a contract in orders — and reporting's campaign report, its
CSV and XLSX exports and its ``as_of`` show exactly what the test computes itself from what it did."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest

from services.reporting.wiring import MIGRATIONS
from tests.support.auth import auth_headers
from tests.support.campaign_cost import expected_row, figures_of
from tests.support.infra import RUN_ID, Infra
from tests.support.orders_stack import create_orders_database
from tests.support.orders_stack import drop_database as drop_orders_database
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.reporting import drop_database, fresh_reporting_database
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

_phones = itertools.count(48_000_001)
MANAGER = auth_headers("manager", subject="mia", team="t1")
PRICE = 263_900_00
SPEND = (1_200_000, 300_000, -100_000)


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    leads_db, leads_dsn = await create_orders_database(infra, "leads_cmp", migrated=False)
    orders_db, orders_dsn = await create_orders_database(infra, "orders_cmp", migrated=False)
    reporting_dsn = await fresh_reporting_database(infra, "campaign_cost", MIGRATIONS)
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}campaigncost",
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


async def test_the_campaign_report_shows_what_the_campaign_cost_and_brought(
        services: dict[str, ServiceProcess]) -> None:
    leads, orders, reporting = services["leads"], services["orders"], services["reporting"]
    today = datetime.now(UTC).date()
    month = today.strftime("%Y-%m")
    code = f"spring-{RUN_ID}"
    async with httpx.AsyncClient(headers=auth_headers("director"), timeout=20) as client:
        campaign = await post(client, f"{leads.url}/v1/campaigns", {
            "code": code, "name": "春季车展", "kind": "exhibition", "channel": "website",
            "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=10)).isoformat(),
            "budget_minor": 5_000_000})
        campaign_id = campaign["campaign_id"]
        async with httpx.AsyncClient(headers=MANAGER, timeout=20) as manager:
            for amount in SPEND:
                await post(manager, f"{leads.url}/v1/campaigns/{campaign_id}/spend", {"amount_minor": amount})
        spent = sum(SPEND)

        async def report(**params: Any) -> dict[str, Any]:
            response = await client.get(f"{reporting.url}/v1/reports/campaigns", params={"period": month, **params})
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer

        def campaign_row(r: dict[str, Any]) -> dict[str, Any]:
            return next((row for row in r["campaigns"] if row["campaign_id"] == campaign_id), {})

        before_leads = await eventually(report, until=lambda r: campaign_row(r).get("spend_minor") == spent,
                                        what="the campaign's spend in reporting", timeout=40)
        moment = datetime.now(UTC)  # every spend entry is in, no lead is yet

        def phone() -> str:
            return f"135{next(_phones):08d}"

        numbers = [phone() for _ in range(5)]
        by_utm = [await post(client, f"{leads.url}/v1/leads", {
            "name": f"客户{n}", "phone": numbers[n], "channel": "website", "utm_source": "dongchedi",
            "utm_medium": "cpc", "utm_campaign": code, "utm_content": f"banner-{n}"}) for n in range(3)]
        by_id = await post(client, f"{leads.url}/v1/leads", {
            "name": "展台客户", "phone": numbers[3], "channel": "exhibition", "campaign_id": campaign_id})
        unattributed = await post(client, f"{leads.url}/v1/leads", {
            "name": "自然流量", "phone": numbers[4], "channel": "website"})
        assert [x["campaign_id"] for x in (*by_utm, by_id, unattributed)] == [campaign_id] * 4 + [None]
        await post(client, f"{leads.url}/v1/leads/{by_utm[1]['lead_id']}/invalidate", {"reason": "empty number"})
        await post(client, f"{leads.url}/v1/leads/{by_utm[2]['lead_id']}/stage", {"stage": "visited"})
        buyer = by_utm[0]
        quote = await post(client, f"{orders.url}/v1/quotes", {
            "consultant_id": "S-7", "role": "consultant", "currency": "CNY", "lead_id": buyer["lead_id"],
            "customer_id": buyer["customer_id"], "customer_name": "客户0", "customer_phone": numbers[0],
            "valid_until": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "lines": [{"product": "MODEL-Y", "unit_price_minor": PRICE}]})
        await post(client, f"{orders.url}/v1/quotes/{quote['quote_id']}/acceptance", {})
        await post(client, f"{orders.url}/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"})

        # What the test did, counted by the test: four leads of the campaign (three by its code, one by its id),
        # one of them invalidated, one visit, one contract at PRICE; the website channel has the three UTM leads
        # and the unattributed one, and all the spend (the campaign's channel); exhibition the lead named by id.
        campaign_expected = expected_row(leads=4, invalid=1, visits=1, contracts=1, revenue=PRICE, spend=spent)
        website_expected = expected_row(leads=4, invalid=1, visits=1, contracts=1, revenue=PRICE, spend=spent)
        exhibition_expected = expected_row(leads=1, invalid=0, visits=0, contracts=0, revenue=0, spend=0)
        now = await eventually(report, until=lambda r: figures_of(campaign_row(r) or {**campaign_expected,
                                                                                        "leads": -1})
                               == campaign_expected, what="the campaign's leads, visit and contract", timeout=60)
        channels = {c["channel"]: c for c in now["channels"]}
        row = campaign_row(now)
        assert figures_of(channels["website"]) == website_expected
        assert figures_of(channels["exhibition"]) == exhibition_expected
        assert channels["website"]["budget_minor"] == 5_000_000
        assert (row["code"], row["name"], row["kind"], row["channel"], row["budget_minor"]) == (
            code, "春季车展", "exhibition", "website", 5_000_000)
        # 1,400,000 fen over 4 leads and over 3 valid ones (466,666.67 rounds up);
        # ROI = (26,390,000 − 1,400,000) / 1,400,000.
        assert (row["cost_per_lead_minor"], row["cost_per_valid_lead_minor"], row["roi"]) == (
            350_000, 466_667, 17.85)

        # As of the moment before the first lead: the spend, and nothing it brought yet.
        then = await report(as_of=moment.isoformat())
        assert figures_of(campaign_row(then)) == expected_row(leads=0, invalid=0, visits=0, contracts=0, revenue=0,
                                                              spend=spent)
        assert figures_of(campaign_row(before_leads)) == figures_of(campaign_row(then))

        exported = await client.get(f"{reporting.url}/v1/reports/campaigns", params={"period": month,
                                                                                     "format": "csv"})
        assert exported.status_code == 200
        table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        header = table[0]
        csv_row = next(r for r in table[1:] if r[header.index("Campaign id / 活动编号")] == campaign_id)
        assert (int(csv_row[header.index("Spend (minor units) / 实际花费(分)")]),
                int(csv_row[header.index("Valid leads / 有效线索")]),
                float(csv_row[header.index("ROI / 投资回报率")])) == (spent, 3, campaign_expected["roi"])

        workbook = await client.get(f"{reporting.url}/v1/reports/campaigns", params={"period": month,
                                                                                     "format": "xlsx"})
        assert workbook.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        xlsx_row = next(r for r in rows[1:] if r[rows[0].index("Campaign id / 活动编号")] == campaign_id)
        assert xlsx_row[rows[0].index("Cost per sale / 成交成本(分)")] == campaign_expected["cost_per_sale_minor"]

        consultant = await client.get(f"{reporting.url}/v1/reports/campaigns",
                                      headers=auth_headers("consultant", subject="c1", team="t1"))
        assert consultant.status_code == 403
