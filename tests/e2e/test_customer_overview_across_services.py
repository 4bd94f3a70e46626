"""The one customer page across real service processes (leads, orders, aftersales; real PostgreSQL, Kafka and
tokens): a consultant's lead is quoted, contracted, paid in two parts and delivered in orders, after-sales opens
its care plan and takes a complaint — and the leads service's customer page shows the payments and the complaint
from the other services on its timeline, the order delivered with nothing left to pay and the points after-sales
holds; search finds the customer by the phone written another way and by part of the name; the timeline pages newest
first (a bad cursor or limit is 422 naming it). Nobody else opens it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.aftersales import create_module_database, drop_database
from tests.support.auth import auth_headers
from tests.support.infra import RUN_ID, Infra
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

TEAM = "page"
AMY = auth_headers("consultant", subject="amy", team=TEAM)
PRICE = 280_000_00
DEPOSIT = 30_000_00


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    databases = [await create_module_database(infra, name) for name in ("leads", "orders", "aftersales")]
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}custpage",
           "LEADS_DATABASE_URL": databases[0][1], "ORDERS_DATABASE_URL": databases[1][1],
           "AFTERSALES_DATABASE_URL": databases[2][1], "LEADS_RELAY_POLL_INTERVAL": "0.2",
           "ORDERS_RELAY_POLL_INTERVAL": "0.2", "AFTERSALES_RELAY_POLL_INTERVAL": "0.2"}
    started: dict[str, ServiceProcess] = {}
    try:
        for name in ("leads", "orders", "aftersales"):
            started[name] = await start_service(name, env)
        async with httpx.AsyncClient(timeout=20) as http:  # the sales team both tests sell in
            director = auth_headers("director")
            await post(http, f"{started['leads'].url}/v1/teams", {"team_id": TEAM, "name": "Page"}, director)
            for consultant in ("amy", "bob"):
                await post(http, f"{started['leads'].url}/v1/consultants", {
                    "consultant_id": consultant, "name": consultant, "team_id": TEAM}, director)
        yield started
    finally:
        for service in started.values():
            await stop_service(service)
        for name, _ in databases:
            await drop_database(infra, name)


async def post(client: httpx.AsyncClient, url: str, body: dict[str, Any],
               headers: dict[str, str] = AMY) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{url}: {response.text}"
    result: dict[str, Any] = response.json()
    return result


async def test_the_customer_page_shows_orders_payments_and_an_aftersales_complaint_and_search_finds_the_customer(
        services: dict[str, ServiceProcess]) -> None:
    leads, orders, aftersales = (services[n].url for n in ("leads", "orders", "aftersales"))
    director = auth_headers("director")
    async with httpx.AsyncClient(timeout=20) as http:
        lead = await post(http, f"{leads}/v1/leads", {"name": "欧阳小红", "phone": "137 0000 1234",
                                                      "channel": "website", "team_id": TEAM})
        customer = lead["customer_id"]
        owner = auth_headers("consultant", subject=lead["owner_id"], team=TEAM)
        valid_until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        quote = await post(http, f"{orders}/v1/quotes", {
            "consultant_id": lead["owner_id"], "currency": "CNY", "customer_name": "欧阳小红",
            "customer_phone": "13700001234", "lead_id": lead["lead_id"], "customer_id": customer,
            "valid_until": valid_until,
            "lines": [{"product": "MODEL-Y-LR", "quantity": 1, "unit_price_minor": PRICE}]}, owner)
        await post(http, f"{orders}/v1/quotes/{quote['quote_id']}/acceptance", {}, owner)
        order = await post(http, f"{orders}/v1/quotes/{quote['quote_id']}/contract",
                           {"payment_plan": "deposit_balance"}, owner)
        order_id = order["order_id"]
        for kind, amount in (("deposit", DEPOSIT), ("balance", order["total_minor"] - DEPOSIT)):
            await post(http, f"{orders}/v1/orders/{order_id}/payments",
                       {"kind": kind, "amount_minor": amount, "currency": "CNY"}, owner)
        await post(http, f"{orders}/v1/orders/{order_id}/delivered", {}, owner)
        await eventually(lambda: http.get(f"{aftersales}/v1/care-plans/{order_id}", headers=director),
                         until=lambda r: r.status_code == 200, what="the delivered order's care plan", timeout=180)
        complaint = await post(http, f"{aftersales}/v1/complaints", {
            "customer_id": customer, "order_id": order_id, "category": "delivery",
            "description": "交车时漆面有划痕"}, owner)
        loyalty = (await http.get(f"{aftersales}/v1/customers/{customer}/loyalty", headers=director)).json()
        assert loyalty["balance"] > 0  # the delivery's points, awarded with the care plan

        def shows_everything(response: httpx.Response) -> bool:
            types = {e["event_type"] for e in response.json().get("timeline", [])}
            return response.status_code == 200 and {"PaymentReceived", "Delivered", "ComplaintOpened"} <= types \
                and response.json()["summary"]["points"] == loyalty["balance"]

        page = (await eventually(lambda: http.get(f"{leads}/v1/customers/{customer}/overview", headers=owner),
                                 until=shows_everything, what="orders' and after-sales' events on the page",
                                 timeout=120)).json()
        bob = await http.get(f"{leads}/v1/customers/{customer}/overview",
                             headers=auth_headers("consultant", subject="bob" if lead["owner_id"] != "bob" else
                                                  "amy", team=TEAM))
        system = await http.get(f"{leads}/v1/customers/{customer}/overview",
                                headers=auth_headers(None, scopes=["leads:read"], client="bi"))
        by_phone = (await http.get(f"{leads}/v1/customers/search", params={"q": "+86 137-0000-1234"},
                                   headers=owner)).json()["customers"]
        by_part = (await http.get(f"{leads}/v1/customers/search", params={"q": "小红"},
                                  headers=owner)).json()["customers"]
        paged: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:  # the timeline a page of 3 at a time, newest first
            answer = await http.get(f"{leads}/v1/customers/{customer}/timeline", headers=owner,
                                    params={"limit": 3, **({"cursor": cursor} if cursor else {})})
            assert answer.status_code == 200, answer.text
            paged += answer.json()["timeline"]
            if (cursor := answer.json()["next_cursor"]) is None:
                break
        bad_cursor = await http.get(f"{leads}/v1/customers/{customer}/timeline", headers=owner,
                                    params={"cursor": "not-a-cursor"})
        too_long = await http.get(f"{leads}/v1/customers/{customer}/timeline", headers=owner,
                                  params={"limit": 201})
        bob_timeline = await http.get(f"{leads}/v1/customers/{customer}/timeline", headers=auth_headers(
            "consultant", subject="bob" if lead["owner_id"] != "bob" else "amy", team=TEAM))

    payments = [e["data"] for e in page["timeline"] if e["event_type"] == "PaymentReceived"]
    assert [(p["kind"], p["amount_minor"], p["paid_total_minor"]) for p in payments] == [
        ("deposit", DEPOSIT, DEPOSIT), ("balance", order["total_minor"] - DEPOSIT, order["total_minor"])]
    [opened] = [e for e in page["timeline"] if e["event_type"] == "ComplaintOpened"]
    assert (opened["source"], opened["subject"], opened["order_id"], opened["data"]["category"]) == (
        "aftersales", complaint["complaint_id"], order_id, "delivery")
    sources = [e["source"] for e in page["timeline"]]
    assert sources[0] == "leads"  # the capture comes first; time order throughout
    assert [e["at"] for e in page["timeline"]] == sorted((e["at"] for e in page["timeline"]),
                                                         key=datetime.fromisoformat)
    [summary_order] = page["summary"]["orders"]
    assert (summary_order["order_id"], summary_order["status"], summary_order["paid_minor"],
            summary_order["balance_minor"]) == (order_id, "delivered", order["total_minor"], 0)
    assert page["summary"]["open_leads"] == []  # the lead was delivered
    assert [(le["lead_id"], le["stage"]) for le in page["summary"]["leads"]] == [(lead["lead_id"], "delivered")]
    assert page["phone"] == "+8613700001234"
    assert (bob.status_code, system.status_code) == (404, 403)
    assert [(c["customer_id"], c["match"]) for c in by_phone] == [(customer, "phone")]
    assert [(c["customer_id"], c["match"]) for c in by_part] == [(customer, "name_part")]
    # Every entry of the page's timeline once (more may have arrived since), newest first.
    assert {e["id"] for e in page["timeline"]} <= {e["id"] for e in paged}
    assert len({e["id"] for e in paged}) == len(paged)
    keys = [(datetime.fromisoformat(e["at"]), e["id"]) for e in paged]
    assert keys == sorted(keys, reverse=True)
    assert (bad_cursor.status_code, bad_cursor.json()["error"]["fields"][0]["field"]) == (422, "cursor")
    assert too_long.status_code == 422
    assert "limit" in too_long.text
    assert bob_timeline.status_code == 404


async def test_search_finds_the_customer_by_the_vin_allocated_in_orders_and_the_plate_of_its_registration(
        services: dict[str, ServiceProcess]) -> None:
    from tests.e2e.test_orders_service import vin_with_check_digit

    leads, orders = services["leads"].url, services["orders"].url
    director = auth_headers("director")
    trim = f"MY-LR-{RUN_ID}"
    vin = vin_with_check_digit(int(RUN_ID, 16) % 900_000)
    async with httpx.AsyncClient(timeout=20) as http:
        await post(http, f"{orders}/v1/price-lists/CNY/versions", {
            "version_id": f"v-page-{RUN_ID}", "valid_from": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "items": [{"catalogue_id": "MY", "kind": "model", "name": "Model Y", "price_minor": 250_000_00},
                      {"catalogue_id": trim, "kind": "trim", "name": "长续航版", "price_minor": PRICE,
                       "model": "MY"}]}, director)
        await post(http, f"{orders}/v1/vehicles", {"vin": vin, "model": "MY", "trim": trim, "status": "pdi_done"},
                   director)
        lead = await post(http, f"{leads}/v1/leads", {"name": "郑小龙", "phone": "137 0000 5678",
                                                      "channel": "website", "team_id": TEAM})
        owner = auth_headers("consultant", subject=lead["owner_id"], team=TEAM)
        quote = await post(http, f"{orders}/v1/quotes", {
            "consultant_id": lead["owner_id"], "currency": "CNY", "customer_name": "郑小龙",
            "customer_phone": "13700005678", "lead_id": lead["lead_id"], "customer_id": lead["customer_id"],
            "valid_until": (datetime.now(UTC) + timedelta(days=7)).isoformat(), "lines": [{"catalogue_id": trim}]},
            owner)
        await post(http, f"{orders}/v1/quotes/{quote['quote_id']}/acceptance", {}, owner)
        order = await post(http, f"{orders}/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"},
                           owner)
        allocated = await post(http, f"{orders}/v1/orders/{order['order_id']}/vehicle", {}, owner)
        assert allocated["vin"] == vin
        await post(http, f"{orders}/v1/orders/{order['order_id']}/delivery-checklist/registration",
                   {"reference": "沪A·D5678"}, owner)

        def search(q: str) -> Any:
            return lambda: http.get(f"{leads}/v1/customers/search", params={"q": q}, headers=owner)

        def finds(match: str) -> Any:
            return lambda r: r.status_code == 200 and [(c["customer_id"], c["match"]) for c in r.json()[
                "customers"]] == [(lead["customer_id"], match)]

        await eventually(search(vin.lower()), until=finds("vin"), what="the customer by the allocated VIN",
                         timeout=120)
        await eventually(search("沪a d5678"), until=finds("plate"), what="the customer by the plate", timeout=120)
        page = (await http.get(f"{leads}/v1/customers/{lead['customer_id']}/overview", headers=owner)).json()
    assert [(o["order_id"], o["vin"], o["plate"]) for o in page["summary"]["orders"]] == [
        (order["order_id"], vin, "沪AD5678")]
    assert {"VehicleAllocated", "DeliveryChecklistItemCompleted"} <= {e["event_type"] for e in page["timeline"]}

    # The showroom changes its mind: the vehicle is swapped for another and the registration (its plate) reopened.
    # leads consumes both from Kafka: the old VIN and the old plate no longer find the customer, the new VIN does.
    swapped_in = vin_with_check_digit(int(RUN_ID, 16) % 900_000 + 1)
    async with httpx.AsyncClient(timeout=20) as http:
        await post(http, f"{orders}/v1/vehicles", {"vin": swapped_in, "model": "MY", "trim": trim,
                                                   "status": "pdi_done"}, director)
        swapped = await http.put(f"{orders}/v1/orders/{order['order_id']}/vehicle",
                                 json={"vin": swapped_in, "reason": "paint damage on the first"}, headers=owner)
        assert (swapped.status_code, swapped.json()["vin"]) == (200, swapped_in), swapped.text
        reopened = await post(http, f"{orders}/v1/orders/{order['order_id']}/delivery-checklist/registration/reopen",
                              {"reason": "the plate was issued for the swapped-out vehicle"}, owner)
        assert "registration" in reopened["open_items"]

        def finds_nobody(r: httpx.Response) -> bool:
            return r.status_code == 200 and r.json()["customers"] == []

        await eventually(search(swapped_in), until=finds("vin"), what="the customer by the swapped-in VIN",
                         timeout=120)
        await eventually(search(vin), until=finds_nobody, what="nobody by the swapped-out VIN", timeout=120)
        await eventually(search("沪A·D5678"), until=finds_nobody, what="nobody by the reopened plate", timeout=120)
        page = (await http.get(f"{leads}/v1/customers/{lead['customer_id']}/overview", headers=owner)).json()
    assert [(o["order_id"], o["vin"], o["plate"]) for o in page["summary"]["orders"]] == [
        (order["order_id"], swapped_in, None)]
    assert {"VehicleDeallocated", "DeliveryChecklistItemReopened"} <= {e["event_type"] for e in page["timeline"]}
