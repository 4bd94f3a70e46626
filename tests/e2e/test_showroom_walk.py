"""One customer walked through the showroom across the leads, orders and reporting processes (real PostgreSQL,
Kafka and Keycloak tokens; the services talk only through Kafka): registered as a walk-in at reception, the
customer card filled during needs analysis, a test drive booked on a fleet vehicle and done with feedback, a quote
from the catalogue with accessories and insurance, the contract, a vehicle allocated from stock, the delivery
checklist completed, delivered — and what leads and reporting then show, against figures computed here.

The customer comes back once before signing (二次到店, the register's second entry: the monthly 二次到店率), on
the second of two invitations (the first a no-show: 邀约到店率 and 爽约率 with the test drive). The customer came
from a roadshow: a campaign with a budget, a period and a channel, and spend recorded (one entry a
correction), that the walk-in names at reception. Reporting's campaign report then shows the roadshow's
one lead, visit, test drive and sale against its spend — cost per lead / visit / sale and ROI computed
here from the reporting README's formulas (tests/support/campaign_cost.py) — now, as of two moments
during the walk, and in its exports."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest

from services.reporting.adapters.exports import label
from services.reporting.wiring import MIGRATIONS
from tests.support.auth import auth_headers
from tests.support.campaign_cost import FIGURES, expected_row, figures_of
from tests.support.infra import RUN_ID, Infra
from tests.support.orders_builders import valid_vin
from tests.support.orders_stack import create_orders_database
from tests.support.orders_stack import drop_database as drop_orders_database
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.reporting import drop_database, fresh_reporting_database
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

TEAM, CONSULTANT = "walk", "wc1"
SELLER = auth_headers("consultant", subject=CONSULTANT, team=TEAM)
DIRECTOR = auth_headers("director", subject="wd1")
CHECKLIST = ("pdi", "invoice", "insurance_policy", "registration", "documents_handed_over", "customer_confirmation")
# The catalogue the quote is priced from (fen).
TRIM, TRIM_LIST, TRIM_TYPED = f"MY-LR-{RUN_ID}", 280_000_00, 275_000_00
PAINT, PAINT_PRICE = "COL-WHITE", 6_000_00
MATS, MATS_PRICE, MATS_QUANTITY = "MAT", 800_00, 2
INSURANCE, INSURANCE_PRICE = "INS-1Y", 6_500_00
DISCOUNT = 1_000_00  # the quote's own discount, on top of the typed-down trim price (both within 3 % of the list)
# The roadshow the customer came from (fen): its budget and its spend entries, the last one correcting the first.
BUDGET, SPEND = 3_000_000, (1_500_000, 400_000, -150_000)


@pytest.fixture(scope="module")
async def services(infra: Infra) -> AsyncIterator[dict[str, ServiceProcess]]:
    leads_db, leads_dsn = await create_orders_database(infra, "leads_walk", migrated=False)
    orders_db, orders_dsn = await create_orders_database(infra, "orders_walk", migrated=False)
    reporting_dsn = await fresh_reporting_database(infra, "walk", MIGRATIONS)
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": f"t{RUN_ID}walk", "LEADS_DATABASE_URL": leads_dsn,
           "ORDERS_DATABASE_URL": orders_dsn, "REPORTING_DATABASE_URL": reporting_dsn,
           "LEADS_RELAY_POLL_INTERVAL": "0.2", "ORDERS_RELAY_POLL_INTERVAL": "0.2", "LEADS_DEFAULT_TEAM_ID": TEAM}
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


class Client:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def send(self, method: str, url: str, body: dict[str, Any] | None, who: dict[str, str],
                   status: int = 200) -> dict[str, Any]:
        response = await self.http.request(method, url, json=body, headers=who)
        assert response.status_code == status, f"{method} {url}: {response.status_code} {response.text}"
        result: dict[str, Any] = response.json()
        return result


async def test_one_customer_walks_from_reception_to_handover_and_every_service_shows_it(
        services: dict[str, ServiceProcess]) -> None:
    leads, orders, reporting = (services[n].url for n in ("leads", "orders", "reporting"))
    now = datetime.now(UTC)
    month, day = now.strftime("%Y-%m"), now.date().isoformat()
    async with httpx.AsyncClient(timeout=20) as http:
        c = Client(http)
        await c.send("POST", f"{leads}/v1/teams", {"team_id": TEAM, "name": "展厅"}, DIRECTOR, 201)
        await c.send("POST", f"{leads}/v1/consultants", {"consultant_id": CONSULTANT, "name": "小王",
                                                         "team_id": TEAM}, DIRECTOR, 201)

        # 0. The roadshow: a budget, a period, a channel, and what it has cost so far.
        code, ends_on = f"walk-roadshow-{RUN_ID}", (now + timedelta(days=14)).date().isoformat()
        campaign_id = (await c.send("POST", f"{leads}/v1/campaigns", {
            "code": code, "name": "周末巡展", "kind": "roadshow", "channel": "roadshow", "starts_on": day,
            "ends_on": ends_on, "budget_minor": BUDGET}, DIRECTOR, 201))["campaign_id"]
        for amount in SPEND:
            await c.send("POST", f"{leads}/v1/campaigns/{campaign_id}/spend", {"amount_minor": amount,
                                                                             "note": "展位与物料"}, DIRECTOR, 201)
        spent = sum(SPEND)

        async def campaigns(**params: str) -> dict[str, Any]:
            response = await http.get(f"{reporting}/v1/reports/campaigns", params={"period": month, **params},
                                      headers=DIRECTOR)
            assert response.status_code == 200, f"{response.status_code} {response.text}"
            answer: dict[str, Any] = response.json()
            return answer

        def roadshow(report: dict[str, Any]) -> dict[str, Any]:
            return next((r for r in report["campaigns"] if r["campaign_id"] == campaign_id), {})

        await eventually(campaigns, until=lambda r: roadshow(r).get("spend_minor") == spent,
                         what="the roadshow's spend in reporting", timeout=40)
        before_walk_in = datetime.now(UTC)  # the spend is in; the customer has not come yet

        # 1. Reception: a walk-in without a lead (one is created, channel showroom, owned by the only consultant),
        # who says the roadshow brought them.
        visit = await c.send("POST", f"{leads}/v1/showroom-visits", {
            "party_size": 2, "purpose": "first_look", "name": "周先生", "phone": "135 0000 4242",
            "interest": "Model Y", "campaign_id": campaign_id, "utm_source": "roadshow", "utm_medium": "flyer"},
            SELLER, 201)
        assert (visit["lead_outcome"], visit["first_visit"], visit["consultant_id"]) == ("created", True, CONSULTANT)
        lead_id, customer_id = visit["lead_id"], visit["customer_id"]

        # 2. Needs analysis fills the card.
        card = await c.send("PATCH", f"{leads}/v1/customers/{customer_id}/card", {"changes": {
            "payment_intention": "loan", "intended_model": "Model Y", "competitors": ["问界 M7"],
            "needs_analysis": {"passengers": "一家三口"}}}, SELLER)
        assert (card["fields"]["payment_intention"], card["fields"]["intended_model"]) == ("loan", "Model Y")

        # 3. A test drive on a fleet vehicle, done with feedback.
        await c.send("POST", f"{leads}/v1/test-drive-vehicles", {"vehicle_id": f"DEMO-{RUN_ID}",
                                                                 "model": "Model Y", "plate": "沪A42424"},
                     DIRECTOR, 201)
        drive = await c.send("POST", f"{leads}/v1/test-drives", {
            "vehicle_id": f"DEMO-{RUN_ID}", "lead_id": lead_id, "route": "city_short",
            "starts_at": (now + timedelta(hours=1)).replace(microsecond=0).isoformat()}, SELLER, 201)
        await c.send("POST", f"{leads}/v1/test-drives/{drive['booking_id']}/start",
                     {"licence_checked": True, "waiver_signed": True}, SELLER)
        done = await c.send("POST", f"{leads}/v1/test-drives/{drive['booking_id']}/completion",
                            {"feedback_score": 5, "feedback_note": "空间够用"}, SELLER)
        assert (done["status"], done["feedback_score"]) == ("completed", 5)

        # 3b. The consultant invites the customer back twice (邀约): the first invitation is a no-show, the second is
        # kept — the customer comes back to negotiate (二次到店), naming the same roadshow: the lead's own campaign is
        # accepted, the register numbers it the customer's second visit.
        async def invite(days: int) -> str:
            """Schedules a showroom visit; returns its id (the lead's one open showroom-visit appointment)."""
            answer = await c.send("POST", f"{leads}/v1/leads/{lead_id}/appointments", {
                "kind": "showroom_visit", "scheduled_for": (now + timedelta(days=days)).isoformat()}, SELLER)
            (open_invitation,) = [k for k, a in answer["appointments"].items()
                                  if a["kind"] == "showroom_visit" and a["outcome"] is None]
            return str(open_invitation)
        missed_invitation = await invite(1)
        await c.send("POST", f"{leads}/v1/leads/{lead_id}/appointments/{missed_invitation}/outcome",
                     {"attended": False}, SELLER)
        kept_invitation = await invite(2)
        back = await c.send("POST", f"{leads}/v1/showroom-visits", {
            "party_size": 3, "purpose": "negotiation", "lead_id": lead_id, "campaign_id": campaign_id}, SELLER, 201)
        assert (back["lead_outcome"], back["visit_number"], back["first_visit"], back["consultant_id"]) == (
            "existing", 2, False, CONSULTANT)
        await c.send("POST", f"{leads}/v1/leads/{lead_id}/appointments/{kept_invitation}/outcome",
                     {"attended": True}, SELLER)
        # Appointments with an outcome: the test drive (started) and the kept invitation attended, one no-show.
        invitations, invited_visits, appointments_kept, appointments_missed = 2, 1, 2, 1

        # 4. The catalogue, the stock, and a quote from the catalogue with accessories and insurance.
        await c.send("POST", f"{orders}/v1/price-lists/CNY/versions", {
            "version_id": f"walk-{RUN_ID}", "valid_from": (now - timedelta(days=1)).isoformat(), "items": [
                {"catalogue_id": "MY", "kind": "model", "name": "Model Y", "price_minor": 250_000_00},
                {"catalogue_id": TRIM, "kind": "trim", "name": "长续航版", "price_minor": TRIM_LIST, "model": "MY"},
                {"catalogue_id": PAINT, "kind": "colour", "name": "珍珠白", "price_minor": PAINT_PRICE},
                {"catalogue_id": MATS, "kind": "accessory", "name": "全包脚垫", "price_minor": MATS_PRICE},
                {"catalogue_id": INSURANCE, "kind": "insurance", "name": "商业险一年",
                 "price_minor": INSURANCE_PRICE}]}, DIRECTOR, 201)
        vin = valid_vin(int(RUN_ID, 16) % 1_000_000)
        await c.send("POST", f"{orders}/v1/vehicles", {"vin": vin, "model": "MY", "trim": TRIM, "colour": PAINT,
                                                       "status": "arrived"}, DIRECTOR, 201)
        quote = await c.send("POST", f"{orders}/v1/quotes", {
            "consultant_id": CONSULTANT, "currency": "CNY", "lead_id": lead_id, "customer_id": customer_id,
            "customer_name": "周先生", "customer_phone": "135 0000 4242",
            "valid_until": (now + timedelta(days=7)).isoformat(),
            "lines": [{"catalogue_id": TRIM, "unit_price_minor": TRIM_TYPED}, {"catalogue_id": PAINT},
                      {"catalogue_id": MATS, "quantity": MATS_QUANTITY}, {"catalogue_id": INSURANCE}],
            "discount": {"kind": "amount", "amount_minor": DISCOUNT}}, SELLER, 201)
        total = TRIM_TYPED + PAINT_PRICE + MATS_QUANTITY * MATS_PRICE + INSURANCE_PRICE - DISCOUNT
        assert (quote["total_minor"], quote["discount_minor"]) == (total, DISCOUNT)
        assert sorted(line["kind"] for line in quote["lines"]) == ["accessory", "colour", "insurance", "trim"]

        # 5. Contract, vehicle, payment, checklist, PDI, handover.
        before_contract = datetime.now(UTC)  # visited and test-driven, not signed yet
        await c.send("POST", f"{orders}/v1/quotes/{quote['quote_id']}/acceptance", {}, SELLER)
        order = await c.send("POST", f"{orders}/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"},
                             SELLER, 201)
        order_id = order["order_id"]
        assert (await c.send("POST", f"{orders}/v1/orders/{order_id}/vehicle", {}, SELLER))["vin"] == vin
        await c.send("POST", f"{orders}/v1/orders/{order_id}/payments",
                     {"kind": "full", "amount_minor": total, "currency": "CNY", "reference": f"PAY-{RUN_ID}"}, SELLER)
        for item in CHECKLIST:
            await c.send("POST", f"{orders}/v1/orders/{order_id}/delivery-checklist/{item}",
                         {"reference": f"{item}-{RUN_ID}"}, SELLER)
        not_yet = await http.post(f"{orders}/v1/orders/{order_id}/delivered", json={}, headers=SELLER)
        assert (not_yet.status_code, not_yet.json()["error"]["open_items"],
                not_yet.json()["error"]["vehicle_status"]) == (409, [], "arrived")  # the checklist is done, PDI not
        await c.send("POST", f"{orders}/v1/vehicles/{vin}/status", {"status": "pdi_done", "reference": "PDI-1"},
                     DIRECTOR)
        delivered = await c.send("POST", f"{orders}/v1/orders/{order_id}/delivered", {}, SELLER)
        assert (delivered["status"], delivered["vin"]) == ("delivered", vin)

        # Leads followed over Kafka: the lead went visited → test_driven → contract_signed → delivered.
        async def lead() -> dict[str, Any]:
            return await c.send("GET", f"{leads}/v1/leads/{lead_id}", None, SELLER)
        final = await eventually(lead, until=lambda s: s["stage"] == "delivered", what="the lead delivered",
                                 timeout=40)
        stages = [h["data"]["to_stage"] for h in final["history"] if h["event_type"] == "StageAdvanced"]
        assert stages == ["visited", "test_driven", "contract_signed", "delivered"]
        created = final["history"][0]
        assert (created["event_type"], created["data"]["campaign_id"], created["data"]["utm_source"],
                created["data"]["utm_medium"]) == ("LeadCreated", campaign_id, "roadshow", "flyer")

        # The one customer page (leads' read model of orders' events) and the search by the allocated VIN.
        def page_shows_the_handover(response: httpx.Response) -> bool:
            types = {e["event_type"] for e in response.json().get("timeline", [])}
            return response.status_code == 200 and {"ContractSigned", "PaymentReceived", "Delivered"} <= types

        page = (await eventually(lambda: http.get(f"{leads}/v1/customers/{customer_id}/overview", headers=SELLER),
                                 until=page_shows_the_handover, what="the customer page", timeout=60)).json()
        [summary_order] = page["summary"]["orders"]
        assert (summary_order["order_id"], summary_order["status"], summary_order["paid_minor"],
                summary_order["balance_minor"]) == (order_id, "delivered", total, 0)
        assert [(le["lead_id"], le["stage"]) for le in page["summary"]["leads"]] == [(lead_id, "delivered")]
        found = await c.send("GET", f"{leads}/v1/customers/search?q={vin.lower()}", None, SELLER)
        assert [x["customer_id"] for x in found["customers"]] == [customer_id]

        # Reporting: the funnel of the month, the consultant's day, a revenue target of twice the sale.
        await c.send("PUT", f"{reporting}/v1/targets", {"scope": "consultant", "scope_id": CONSULTANT,
                                                        "month": month, "metric": "revenue", "base": 2 * total},
                     DIRECTOR)

        async def funnel() -> dict[str, Any]:
            return await c.send("GET", f"{reporting}/v1/reports/funnel?period={month}", None, DIRECTOR)
        report = await eventually(funnel, until=lambda r: any(
            s["stage"] == "delivered" and s["reached"] == 1 for s in r["stages"]), what="the funnel", timeout=40)
        reached = {s["stage"]: s["reached"] for s in report["stages"]}
        assert report["total_leads"] == 1
        assert (report["won"], reached["visited"], reached["test_driven"], reached["contract_signed"]) == (1, 1, 1, 1)

        daily = await c.send("GET", f"{reporting}/v1/reports/daily?day={day}", None, DIRECTOR)
        row = next(r for r in daily["consultants"] if r["consultant_id"] == CONSULTANT)
        assert {k: row[k] for k in ("new_leads", "visits", "test_drives", "contracts", "deliveries")} == {
            "new_leads": 1, "visits": 1, "test_drives": 1, "contracts": 1, "deliveries": 1}

        attainment = await c.send("GET", f"{reporting}/v1/reports/attainment?month={month}", None, DIRECTOR)
        (line,) = [x for x in attainment["lines"] if x["metric"] == "revenue"]
        assert (line["actual"], line["attainment"]) == (total, 0.5)
        monthly = await c.send("GET", f"{reporting}/v1/reports/monthly?month={month}", None, DIRECTOR)
        kpis = monthly["kpis"]
        # Reporting's 平均优惠 counts the quote's discount and the trim typed 5,000 yuan below its list price, over
        # the contract's subtotal at list prices (the reporting README's formula).
        given_away = DISCOUNT + TRIM_LIST - TRIM_TYPED
        assert kpis["average_discount_minor"] == given_away
        listed = TRIM_LIST + PAINT_PRICE + MATS_QUANTITY * MATS_PRICE + INSURANCE_PRICE
        assert kpis["average_discount_rate"] == round(given_away / listed, 4)
        assert kpis["test_drive_rate"] == 1.0
        # 二次到店率 from the reception register: the walk-in was the customer's first entry, the return the second.
        assert (kpis["first_visits"], kpis["second_visits"], kpis["second_visit_rate"]) == (1, 1, 1.0)
        # 邀约到店率 and 爽约率 from the two invitations and the test drive (README formulas).
        assert (kpis["invitations"], kpis["invited_visits"], kpis["invitation_to_visit_rate"]) == (
            invitations, invited_visits, round(invited_visits / invitations, 4))
        assert (kpis["appointments_kept"], kpis["appointments_missed"], kpis["no_show_rate"]) == (
            appointments_kept, appointments_missed,
            round(appointments_missed / (appointments_kept + appointments_missed), 4))
        # The showroom KPIs of issue 18 item 7, from this one customer: the walk-in left a record (留档), the
        # test-driven lead signed, and the contract's quote had an accessory and insurance line but no financing
        # or plates line.
        assert {k: kpis[k] for k in ("walk_in_record_rate", "test_drive_to_contract_rate", "accessory_attach_rate",
                                     "insurance_attach_rate", "financing_attach_rate", "plates_attach_rate")} == {
            "walk_in_record_rate": 1.0, "test_drive_to_contract_rate": 1.0, "accessory_attach_rate": 1.0,
            "insurance_attach_rate": 1.0, "financing_attach_rate": 0.0, "plates_attach_rate": 0.0}

        # The roadshow's cost and what it brought: this customer is its one lead (valid), visit, test drive and
        # sale at the contract's total; its spend is the three entries. The lead's channel is showroom (a walk-in),
        # so the showroom channel row has the lead and the sale and no spend; the roadshow channel row has the spend
        # (the campaign's channel) and the budget, and no lead.
        expected = expected_row(leads=1, invalid=0, visits=1, test_drives=1, contracts=1, revenue=total, spend=spent)
        now_report = await eventually(
            campaigns, until=lambda r: bool(roadshow(r)) and figures_of(roadshow(r)) == expected,
            what="the roadshow's lead, visit, test drive and sale", timeout=60)
        row = roadshow(now_report)
        # 1,750,000 fen for one lead, one visit, one sale; ROI = (28,810,000 − 1,750,000) / 1,750,000 = 15.46286.
        assert (spent, total) == (1_750_000, 28_810_000)
        assert (row["cost_per_lead_minor"], row["cost_per_visit_minor"], row["cost_per_sale_minor"], row["roi"]) == (
            1_750_000, 1_750_000, 1_750_000, 15.4629)
        assert (row["code"], row["name"], row["kind"], row["channel"], row["starts_on"], row["ends_on"],
                row["budget_minor"]) == (code, "周末巡展", "roadshow", "roadshow", day, ends_on, BUDGET)
        channels = {ch["channel"]: ch for ch in now_report["channels"]}
        assert sorted(channels) == ["roadshow", "showroom"]
        assert figures_of(channels["showroom"]) == expected_row(leads=1, invalid=0, visits=1, test_drives=1,
                                                                contracts=1, revenue=total, spend=0)
        assert figures_of(channels["roadshow"]) == expected_row(leads=0, invalid=0, visits=0, contracts=0,
                                                                revenue=0, spend=spent)
        assert (channels["roadshow"]["budget_minor"], channels["showroom"]["budget_minor"]) == (BUDGET, 0)
        assert figures_of(now_report["totals"]) == expected

        # As of the moment before the walk-in: the spend and nothing it brought; before the contract: the lead, the
        # visit and the test drive, no sale yet.
        assert figures_of(roadshow(await campaigns(as_of=before_walk_in.isoformat()))) == expected_row(
            leads=0, invalid=0, visits=0, contracts=0, revenue=0, spend=spent)
        assert figures_of(roadshow(await campaigns(as_of=before_contract.isoformat()))) == expected_row(
            leads=1, invalid=0, visits=1, test_drives=1, contracts=0, revenue=0, spend=spent)

        # The exports: the roadshow's row, every figure as the JSON report has it (CSV: empty for none).
        exported = await http.get(f"{reporting}/v1/reports/campaigns", params={"period": month, "format": "csv"},
                                  headers=DIRECTOR)
        assert exported.status_code == 200, exported.text
        table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        header = table[0]
        [csv_row] = [r for r in table[1:] if r[header.index(label("campaign_id"))] == campaign_id]
        assert {k: csv_row[header.index(label(k))] for k in FIGURES} == {
            k: "" if v is None else str(v) for k, v in expected.items()}
        workbook = await http.get(f"{reporting}/v1/reports/campaigns", params={"period": month, "format": "xlsx"},
                                  headers=DIRECTOR)
        assert workbook.status_code == 200, workbook.text
        sheet = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        [xlsx_row] = [r for r in rows[1:] if r[rows[0].index(label("campaign_id"))] == campaign_id]
        assert {k: xlsx_row[rows[0].index(label(k))] for k in FIGURES} == expected
