"""The orders service as a real process against real PostgreSQL and Kafka, driven over HTTP like a consultant's
app and the online shop would: the sales path, financing, cancellation, shop checkouts, errors and queries,
with what was published checked on the orders topic."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from shared.messaging.connection import KafkaConnection
from tests.support.auth import auth_headers
from tests.support.browser import CHROMIUM, chromium_page
from tests.support.infra import RUN_ID, Infra
from tests.support.orders_stack import create_orders_database, drop_database, read_by_keys
from tests.support.processes import ServiceProcess, start_service, stop_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

IN_A_WEEK = (datetime.now(UTC) + timedelta(days=7)).isoformat()
IN_TWO_WEEKS = (datetime.now(UTC) + timedelta(days=14)).isoformat()


@dataclass
class Orders:
    service: ServiceProcess
    client: httpx.AsyncClient
    topic: str
    kafka: KafkaConnection
    dsn: str

    async def post(self, path: str, body: dict[str, Any], status: int = 200, **headers: str) -> dict[str, Any]:
        response = await self.client.post(path, json=body, headers=headers)
        assert response.status_code == status, response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def error(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, str]:
        response = await self.client.request(method, path, json=body)
        assert response.status_code >= 400, response.text
        return response.status_code, response.json()["error"]["code"]

    async def event_count(self) -> int:
        conn = await asyncpg.connect(self.dsn)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM events"))
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def orders(infra: Infra) -> AsyncIterator[Orders]:
    name, dsn = await create_orders_database(infra, "orders_e2e", migrated=False)
    prefix = f"t{RUN_ID}e2eorders"
    env = {**infra.kafka_env(), "SALESFLOW_TOPIC_PREFIX": prefix,
           "ORDERS_DATABASE_URL": dsn, "ORDERS_RELAY_POLL_INTERVAL": "0.2",
           "ORDERS_TIMER_POLL_INTERVAL": "0.2"}
    service = await start_service("orders", env)
    try:
        # A manager (discount limit 10 %, services/orders/config/discounts.json); consultants are tested apart.
        async with httpx.AsyncClient(headers=auth_headers("manager", subject="M-1"), base_url=service.url,
                                     timeout=10) as client:
            yield Orders(service, client, f"{prefix}.orders", infra.kafka, dsn)
    finally:
        await stop_service(service)
        await drop_database(infra, name)


def quote_body(consultant_id: str = "S-7", **changes: Any) -> dict[str, Any]:
    body = {
        "consultant_id": consultant_id, "role": "consultant", "currency": "CNY", "lead_id": "L-42",
        "customer_name": "王小明", "customer_phone": "+86 138-1234-5678", "valid_until": IN_A_WEEK,
        "lines": [{"product": "MODEL-Y-LR", "quantity": 1, "unit_price_minor": 300_000_00,
                   "options": [{"code": "pearl-white", "price_minor": 8_000_00}]}],
    }
    body.update(changes)
    return body


async def signed_order(orders: Orders, plan: str, consultant_id: str = "S-7") -> dict[str, Any]:
    quote = await orders.post("/v1/quotes", quote_body(consultant_id), 201)
    await orders.post(f"/v1/quotes/{quote['quote_id']}/acceptance", {})
    return await orders.post(f"/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": plan}, 201)


async def test_quote_revise_accept_sign_deposit_balance_deliver_is_published_in_order(orders: Orders) -> None:
    quote = await orders.post("/v1/quotes", quote_body(), 201, **{"X-Correlation-Id": "deal-1"})
    assert (quote["revision"], quote["total_minor"], quote["customer_phone"]) == (1, 308_000_00, "+8613812345678")
    revised = await orders.post(f"/v1/quotes/{quote['quote_id']}/revisions", {
        "role": "consultant", "valid_until": IN_TWO_WEEKS, "reason": "customer asked for a discount",
        "lines": quote_body()["lines"], "discount": {"kind": "percent", "percent": "2.5"},
        "expected_version": 1,
    })
    assert (revised["revision"], revised["discount_minor"], revised["total_minor"]) == (2, 7_700_00, 300_300_00)
    await orders.post(f"/v1/quotes/{quote['quote_id']}/acceptance", {"revision": 2})
    order = await orders.post(f"/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "deposit_balance"}, 201)
    order_id = order["order_id"]
    assert (order["status"], order["total_minor"], order["outstanding_minor"]) == ("signed", 300_300_00, 300_300_00)

    deposit = {"kind": "deposit", "amount_minor": 50_000_00, "currency": "CNY", "method": "card", "reference": "TX-1"}
    await orders.post(f"/v1/orders/{order_id}/payments", deposit)
    retried = await orders.post(f"/v1/orders/{order_id}/payments", deposit)  # the client retries: recorded once
    assert retried["paid_minor"] == 50_000_00
    await orders.post(f"/v1/orders/{order_id}/delivery", {"scheduled_for": IN_A_WEEK, "location": "Showroom"})
    await orders.post(f"/v1/orders/{order_id}/payments",
                      {"kind": "balance", "amount_minor": 250_300_00, "currency": "CNY"})
    delivered = await orders.post(f"/v1/orders/{order_id}/delivered", {})
    assert (delivered["status"], delivered["outstanding_minor"], delivered["paid_minor"]) == (
        "delivered", 0, 300_300_00)

    detail = await orders.get(f"/v1/orders/{order_id}")
    assert [h["event_type"] for h in detail["history"]] == [
        "ContractSigned", "PaymentReceived", "DeliveryScheduled", "PaymentReceived", "Delivered"]
    quote_history = await orders.get(f"/v1/quotes/{quote['quote_id']}")
    assert [h["event_type"] for h in quote_history["history"]] == [
        "QuoteIssued", "QuoteRevised", "QuoteAccepted", "QuoteConverted"]
    assert quote_history["history"][0]["correlation_id"] == "deal-1"

    published = await read_by_keys(orders.kafka, orders.topic, {quote["quote_id"], order_id}, expect=8)
    assert [p.type for p in published if p.key == quote["quote_id"]] == [
        "QuoteIssued", "QuoteRevised", "QuoteAccepted"]  # QuoteConverted is private
    by_order = [p for p in published if p.key == order_id]
    assert [p.type for p in by_order] == [
        "ContractSigned", "PaymentReceived", "DeliveryScheduled", "PaymentReceived", "Delivered"]
    signed = by_order[0].body
    assert (signed["lead_id"], signed["quote_id"], signed["total_minor"], signed["currency"]) == (
        "L-42", quote["quote_id"], 300_300_00, "CNY")
    assert signed["lines"][0]["unit_price_minor"] == 308_000_00  # options included
    assert by_order[3].body["paid_total_minor"] == 300_300_00
    assert (by_order[4].body["lead_id"], by_order[4].body["customer_phone"]) == ("L-42", "+8613812345678")


async def test_the_financing_path_delivers_once_the_bank_covers_the_rest(orders: Orders) -> None:
    order_id = (await signed_order(orders, "financing"))["order_id"]
    await orders.post(f"/v1/orders/{order_id}/payments",
                      {"kind": "down_payment", "amount_minor": 108_000_00, "currency": "CNY"})
    await orders.post(f"/v1/orders/{order_id}/financing/decline", {"provider": "Bank A", "reason": "credit score"})
    assert await orders.error("POST", f"/v1/orders/{order_id}/delivered", {}) == (409, "order_not_paid")
    await orders.post(f"/v1/orders/{order_id}/financing/approval",
                      {"provider": "Bank B", "amount_minor": 200_000_00, "currency": "CNY"})
    delivered = await orders.post(f"/v1/orders/{order_id}/delivered", {})
    assert (delivered["financing"], delivered["financed_minor"], delivered["status"]) == (
        "approved", 200_000_00, "delivered")
    published = await read_by_keys(orders.kafka, orders.topic, {order_id}, expect=5)
    assert [p.type for p in published] == [
        "ContractSigned", "PaymentReceived", "FinancingDeclined", "FinancingApproved", "Delivered"]


async def test_a_cancelled_order_owes_the_refund_takes_no_payment_and_is_not_delivered(orders: Orders) -> None:
    order_id = (await signed_order(orders, "deposit_balance"))["order_id"]
    await orders.post(f"/v1/orders/{order_id}/payments", {"kind": "deposit", "amount_minor": 20_000_00,
                                                         "currency": "CNY"})
    cancelled = await orders.post(f"/v1/orders/{order_id}/cancellation", {"reason": "bought elsewhere"})
    assert (cancelled["status"], cancelled["refund_due_minor"]) == ("cancelled", 20_000_00)
    assert await orders.error("POST", f"/v1/orders/{order_id}/payments",
                              {"kind": "balance", "amount_minor": 1, "currency": "CNY"}) == (409, "order_cancelled")
    assert await orders.error("POST", f"/v1/orders/{order_id}/delivered", {}) == (409, "order_cancelled")
    refunded = await orders.post(f"/v1/orders/{order_id}/refunds",
                                 {"amount_minor": 20_000_00, "currency": "CNY", "reason": "cancellation"})
    assert (refunded["refund_due_minor"], refunded["paid_minor"]) == (0, 0)
    published = await read_by_keys(orders.kafka, orders.topic, {order_id}, expect=4)
    assert [p.type for p in published] == ["ContractSigned", "PaymentReceived", "OrderCancelled", "RefundIssued"]
    assert (published[2].body["refund_due_minor"], published[2].body["reason"], published[2].body["lead_id"]) == (
        20_000_00, "bought elsewhere", "L-42")


async def test_a_shop_checkout_sent_twice_is_one_order_with_one_contract_signed(orders: Orders) -> None:
    body = {"shop_order_id": f"SHOP-{RUN_ID}-1", "customer_name": "李四", "customer_phone": "139 0000 1111",
            "lines": [{"product": "WALLBOX", "quantity": 2, "unit_price_minor": 4_000_00}],
            "total_minor": 8_000_00, "paid_minor": 8_000_00, "currency": "CNY"}
    first = await orders.post("/v1/checkouts", body, 201)
    events_after_first = await orders.event_count()
    second = await orders.post("/v1/checkouts", body, 200)
    assert second["order_id"] == first["order_id"]
    assert await orders.event_count() == events_after_first  # the repeat stored nothing
    assert (first["channel"], first["lead_id"], first["customer_phone"], first["outstanding_minor"]) == (
        "online_shop", None, "+8613900001111", 0)

    # A later order's events are published after anything the repeat could have produced (commit order), so once
    # the marker is on the topic, the shop order's messages are complete.
    marker = await orders.post("/v1/checkouts", {**body, "shop_order_id": f"SHOP-{RUN_ID}-marker"}, 201)
    published = await read_by_keys(orders.kafka, orders.topic, {first["order_id"], marker["order_id"]},
                                    expect=4)
    mine = [p for p in published if p.key == first["order_id"]]
    assert [p.type for p in mine] == ["ContractSigned", "PaymentReceived"]
    signed = mine[0].body
    assert (signed["lead_id"], signed["channel"], signed["customer_name"], signed["customer_phone"]) == (
        None, "online_shop", "李四", "+8613900001111")
    assert signed["shop_order_id"] == f"SHOP-{RUN_ID}-1"


async def test_a_quote_sent_again_with_its_idempotency_key_is_issued_once_and_a_reused_key_is_refused(
    orders: Orders,
) -> None:
    key = f"quote-{RUN_ID}-{uuid.uuid4().hex}"
    first = await orders.post("/v1/quotes", quote_body(), 201, **{"Idempotency-Key": key})
    events_after_first = await orders.event_count()
    again = await orders.post("/v1/quotes", quote_body(), 200, **{"Idempotency-Key": key})  # the client's retry
    assert again["quote_id"] == first["quote_id"]
    assert await orders.event_count() == events_after_first  # the repeat stored nothing
    reused = await orders.client.post("/v1/quotes", json=quote_body(consultant_id="S-8"),
                                      headers={"Idempotency-Key": key})
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert await orders.event_count() == events_after_first
    # Without a key, the same body is a second quote, as before.
    other = await orders.post("/v1/quotes", quote_body(), 201)
    assert other["quote_id"] != first["quote_id"]
    # An integer beyond 64 bits with a key is a 4xx naming the problem, not a 500 (schemathesis found it).
    huge = quote_body(lines=[{"product": "X", "quantity": 2**70, "unit_price_minor": 100}])
    refused = await orders.client.post("/v1/quotes", json=huge, headers={"Idempotency-Key": f"{key}-huge"})
    assert refused.status_code == 422, refused.text


async def test_a_shop_checkout_repeated_with_different_content_answers_409_naming_both_versions(
    orders: Orders
) -> None:
    body = {"shop_order_id": f"SHOP-{RUN_ID}-changed", "customer_name": "李四", "customer_phone": "139 0000 1111",
            "lines": [{"product": "WALLBOX", "quantity": 2, "unit_price_minor": 4_000_00}],
            "total_minor": 8_000_00, "paid_minor": 8_000_00, "currency": "CNY"}
    first = await orders.post("/v1/checkouts", body, 201)
    events_after_first = await orders.event_count()
    changed = {**body, "lines": [{"product": "WALLBOX", "quantity": 3, "unit_price_minor": 4_000_00}],
               "total_minor": 12_000_00, "paid_minor": 12_000_00}
    response = await orders.client.post("/v1/checkouts", json=changed)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert (error["code"], error["order_id"], error["shop_order_id"]) == (
        "checkout_conflict", first["order_id"], f"SHOP-{RUN_ID}-changed")
    assert error["differing_fields"] == ["lines", "paid_minor", "total_minor"]
    assert (error["recorded"]["lines"][0]["quantity"], error["received"]["lines"][0]["quantity"]) == (2, 3)
    assert error["recorded"]["customer_phone"] == error["received"]["customer_phone"] == "+8613900001111"
    assert await orders.event_count() == events_after_first  # nothing of the conflicting repeat was stored
    # the identical repeat is still the first order
    assert (await orders.post("/v1/checkouts", body, 200))["order_id"] == first["order_id"]


async def test_a_shop_checkout_may_name_its_lead(orders: Orders) -> None:
    order = await orders.post("/v1/checkouts", {
        "shop_order_id": f"SHOP-{RUN_ID}-lead", "customer_name": "赵六", "customer_phone": "13700001111",
        "lead_id": "L-shop", "lines": [{"product": "MUG", "unit_price_minor": 99_00}], "total_minor": 99_00,
        "paid_minor": 99_00, "currency": "CNY"}, 201)
    published = await read_by_keys(orders.kafka, orders.topic, {order["order_id"]}, expect=2)
    assert published[0].body["lead_id"] == "L-shop"


async def test_rule_violations_answer_4xx_with_a_code_and_store_nothing(orders: Orders) -> None:
    quote = await orders.post("/v1/quotes", quote_body(), 201)
    qid = quote["quote_id"]
    before = await orders.event_count()
    assert await orders.error("POST", f"/v1/quotes/{qid}/contract", {"payment_plan": "full"}) == (
        409, "quote_not_accepted")
    assert await orders.error("POST", "/v1/quotes", quote_body(discount={"kind": "percent", "percent": "15"})) == (
        403, "discount_needs_approval")
    assert await orders.error("POST", f"/v1/quotes/{qid}/acceptance", {"expected_version": 7}) == (
        409, "version_conflict")
    assert await orders.error("POST", "/v1/quotes", quote_body(currency="XYZ")) == (422, "validation_error")
    assert await orders.error("POST", f"/v1/orders/nope/payments",  # noqa: F541
                              {"kind": "deposit", "amount_minor": 1, "currency": "CNY"}) == (404, "order_not_found")
    assert await orders.event_count() == before

    # 8 %: above a consultant's 3 %, within a manager's 10 %. The approval is the manager's own call; one
    # written into the body (as the outsider did, "approved_by anyone, general_manager") counts for nothing.
    as_consultant = auth_headers("consultant", subject="S-7")
    forged = quote_body(discount={"kind": "percent", "percent": "8"},
                        approval={"approved_by": "anyone", "role": "general_manager"}, role="general_manager")
    refused = await orders.client.post("/v1/quotes", json=forged, headers=as_consultant)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "discount_needs_approval")
    approved = await orders.post("/v1/quotes", quote_body(discount={"kind": "percent", "percent": "8"}), 201)
    assert approved["discount_minor"] == 24_640_00

    order_id = (await signed_order(orders, "deposit_balance"))["order_id"]
    before = await orders.event_count()
    for body, expected in (
        ({"kind": "deposit", "amount_minor": 10.5, "currency": "CNY"}, (422, "validation_error")),
        ({"kind": "deposit", "amount_minor": -5, "currency": "CNY"}, (422, "validation_error")),
        ({"kind": "deposit", "amount_minor": 100, "currency": "USD"}, (422, "currency_mismatch")),
        ({"kind": "deposit", "amount_minor": 308_000_01, "currency": "CNY"}, (422, "overpayment")),
    ):
        assert await orders.error("POST", f"/v1/orders/{order_id}/payments", body) == expected
    assert await orders.error("POST", f"/v1/orders/{order_id}/delivered", {}) == (409, "order_not_paid")
    assert await orders.error("POST", f"/v1/orders/{order_id}/financing/approval",
                              {"provider": "B", "amount_minor": 1, "currency": "CNY"}) == (409, "financing_not_in_plan")
    assert await orders.event_count() == before


async def test_queries_list_open_orders_awaiting_delivery_and_receivables(orders: Orders) -> None:
    consultant = f"S-{RUN_ID}-q"
    paid = (await signed_order(orders, "full", consultant))["order_id"]
    owing = (await signed_order(orders, "deposit_balance", consultant))["order_id"]
    cancelled = (await signed_order(orders, "full", consultant))["order_id"]
    await orders.post(f"/v1/orders/{paid}/payments", {"kind": "full", "amount_minor": 308_000_00, "currency": "CNY"})
    await orders.post(f"/v1/orders/{owing}/payments", {"kind": "deposit", "amount_minor": 8_000_00,
                                                      "currency": "CNY"})
    await orders.post(f"/v1/orders/{cancelled}/cancellation", {"reason": "r"})

    mine = await orders.get("/v1/orders", consultant_id=consultant)
    assert {o["order_id"] for o in mine["orders"]} == {paid, owing}
    awaiting = {o["order_id"]: o for o in (await orders.get("/v1/orders/awaiting-delivery"))["orders"]}
    assert (awaiting[paid]["ready"], awaiting[owing]["ready"]) == (True, False)
    assert cancelled not in awaiting
    receivables = await orders.get("/v1/receivables")
    owed = {o["order_id"]: o["outstanding_minor"] for o in receivables["orders"]}
    assert owed[owing] == 300_000_00
    assert paid not in owed
    cny = next(t for t in receivables["totals"] if t["currency"] == "CNY")
    assert cny["owed_minor"] >= 300_000_00

    rebuilt = await orders.post("/admin/order-summaries/rebuild", {}, **auth_headers("ops", subject="ops1", team=None))
    assert rebuilt["rebuilt"] >= 3
    assert await orders.get("/v1/receivables") == receivables  # the same answers from the rebuilt table


async def test_a_quote_expires_by_its_timer_in_the_running_service_and_can_no_longer_be_signed(
    orders: Orders,
) -> None:
    # Real clock, short validity: we wait (with a deadline) for the service's timer runner to record the expiry.
    # The fake-clock version of this is tests/integration/orders/test_orders_store.py.
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    quote = await orders.post("/v1/quotes", quote_body(valid_until=soon), 201)
    qid = quote["quote_id"]
    expired = await eventually(lambda: orders.get(f"/v1/quotes/{qid}"), until=lambda q: q["status"] == "expired",
                               what="the quote expired by its timer")
    assert [h["event_type"] for h in expired["history"]] == ["QuoteIssued", "QuoteExpired"]
    assert expired["history"][1]["actor"] == "system:quote-expiry"
    assert await orders.error("POST", f"/v1/quotes/{qid}/acceptance", {}) == (409, "quote_expired")
    assert await orders.error("POST", f"/v1/quotes/{qid}/contract", {"payment_plan": "full"}) == (
        409, "quote_expired")
    published = await read_by_keys(orders.kafka, orders.topic, {qid}, expect=2)
    assert [p.type for p in published] == ["QuoteIssued", "QuoteExpired"]


async def test_the_service_publishes_health_openapi_and_its_configuration(orders: Orders) -> None:
    ready = await orders.client.get("/health/ready")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert set(checks) == {"database", "relay", "timers", "consumer", "commands"}  # consumer: inbound.shop
    assert checks["commands"] == {"ok": True, "in_flight": 0, "max_in_flight": 64, "refused": 0}  # the default
    paths = (await orders.get("/openapi.json"))["paths"]
    assert {"/v1/quotes", "/v1/checkouts", "/v1/receivables", "/v1/orders/{order_id}"} <= set(paths)
    assert "/admin/order-summaries/rebuild" in paths
    config = await orders.get("/v1/configuration")
    assert config["discount_limits_bp"]["consultant"] == 300
    assert "CNY" in config["currencies"]


CATALOGUE = [
    {"catalogue_id": "MY", "kind": "model", "name": "Model Y", "price_minor": 250_000_00},
    {"catalogue_id": "MY-LR", "kind": "trim", "name": "Model Y 长续航版", "price_minor": 280_000_00, "model": "MY"},
    {"catalogue_id": "MAT", "kind": "accessory", "name": "全包脚垫", "price_minor": 800_00},
    {"catalogue_id": "INS-1Y", "kind": "insurance", "name": "商业险一年", "price_minor": 6_000_00},
    {"catalogue_id": "PLATE", "kind": "plates", "name": "上牌服务", "price_minor": 500_00},
]


async def test_a_quote_from_the_catalogue_is_priced_at_the_list_in_force_and_carries_kinds_to_the_contract(
        orders: Orders) -> None:
    director = auth_headers("director", subject="d1")
    now = datetime.now(UTC)
    # The version in force now, and a dearer one from next month: today's quote takes today's list.
    published = await orders.post("/v1/price-lists/CNY/versions", {
        "version_id": f"v-now-{RUN_ID}", "valid_from": (now - timedelta(days=1)).isoformat(), "items": CATALOGUE},
        201, **director)
    assert (published["version_id"], published["published_by"], len(published["items"])) == (
        f"v-now-{RUN_ID}", "d1", 5)
    dearer = [{**item, "price_minor": item["price_minor"] + 1_000_00} for item in CATALOGUE]
    await orders.post("/v1/price-lists/CNY/versions", {
        "version_id": f"v-next-{RUN_ID}", "valid_from": (now + timedelta(days=30)).isoformat(), "items": dearer},
        201, **director)
    refused = await orders.client.post("/v1/price-lists/CNY/versions", json={
        "valid_from": now.isoformat(), "items": CATALOGUE})  # a manager may not
    assert refused.status_code == 403, refused.text
    in_force = await orders.get("/v1/catalogue", currency="CNY")
    assert in_force["version_id"] == f"v-now-{RUN_ID}"
    later = await orders.get("/v1/catalogue", currency="CNY", on=(now + timedelta(days=31)).isoformat())
    assert later["version_id"] == f"v-next-{RUN_ID}"

    lines = [{"catalogue_id": "MY-LR", "unit_price_minor": 270_000_00}, {"catalogue_id": "MAT", "quantity": 2},
             {"catalogue_id": "INS-1Y"}, {"catalogue_id": "PLATE"}]
    body = {**quote_body("S-7"), "lines": lines}
    quote = await orders.post("/v1/quotes", body, 201)
    expected_total = 270_000_00 + 2 * 800_00 + 6_000_00 + 500_00
    assert quote["total_minor"] == expected_total
    assert [(x["kind"], x["list_price_minor"]) for x in quote["lines"]] == [
        ("trim", 280_000_00), ("accessory", 800_00), ("insurance", 6_000_00), ("plates", 500_00)]
    # 10 000 yuan typed off plus a 7 % discount is more than a manager's 10 % against the list: refused, nothing kept.
    events_before = await orders.event_count()
    over = await orders.client.post("/v1/quotes", json={**body, "discount": {"kind": "percent", "percent": "7"}})
    assert (over.status_code, over.json()["error"]["code"]) == (403, "discount_needs_approval")
    unknown = await orders.client.post("/v1/quotes", json={**body, "lines": [{"catalogue_id": "NOPE"}]})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "catalogue_item_unknown")
    assert await orders.event_count() == events_before

    await orders.post(f"/v1/quotes/{quote['quote_id']}/acceptance", {})
    order = await orders.post(f"/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"}, 201)
    messages = await read_by_keys(orders.kafka, orders.topic, {quote["quote_id"], order["order_id"]}, expect=3)
    issued = next(m.body for m in messages if m.type == "QuoteIssued")
    signed = next(m.body for m in messages if m.type == "ContractSigned")
    assert [(x["catalogue_id"], x["kind"], x["list_price_minor"]) for x in issued["lines"]] == [
        ("MY-LR", "trim", 280_000_00), ("MAT", "accessory", 800_00), ("INS-1Y", "insurance", 6_000_00),
        ("PLATE", "plates", 500_00)]
    assert [x["kind"] for x in signed["lines"]] == ["trim", "accessory", "insurance", "plates"]
    assert signed["total_minor"] == expected_total
    versions = await orders.get("/v1/price-lists/CNY")
    assert [v["version_id"] for v in versions["versions"]] == [f"v-now-{RUN_ID}", f"v-next-{RUN_ID}"]


async def test_a_quote_prints_as_a_chinese_page_that_chromium_renders_with_its_lines_and_total(
        orders: Orders, tmp_path: Any) -> None:
    lines = [{"product": "MODEL-Y-LR", "description": "Model Y 长续航版 <b>全轮驱动</b>", "quantity": 1,
              "unit_price_minor": 300_000_00, "options": [{"code": "pearl-white", "price_minor": 8_000_00}]},
             {"product": "MAT", "description": "全包脚垫", "quantity": 2, "unit_price_minor": 800_00}]
    quote = await orders.post("/v1/quotes", {**quote_body("S-7"), "lines": lines,
                                             "discount": {"kind": "amount", "amount_minor": 5_000_00}}, 201)
    assert quote["total_minor"] == 308_000_00 + 1_600_00 - 5_000_00
    url = f"{orders.service.url}/v1/quotes/{quote['quote_id']}/print"
    page_answer = await orders.client.get(url)
    assert page_answer.status_code == 200, page_answer.text
    assert page_answer.headers["content-type"].startswith("text/html")
    assert "&lt;b&gt;全轮驱动&lt;/b&gt;" in page_answer.text  # the customer's text is shown, never run as markup
    unknown = await orders.client.get(f"{orders.service.url}/v1/quotes/Q-nope-{RUN_ID}/print")
    assert unknown.status_code == 404, unknown.text

    if CHROMIUM is None:
        pytest.fail("chromium is not installed (make browser)")
    async with chromium_page() as page:
        token = orders.client.headers["authorization"]
        await page.call("Network.setExtraHTTPHeaders", headers={"Authorization": token})
        await page.goto(url)
        total = await page.wait_for("(e => e && e.textContent)(document.getElementById('total'))",
                                    what="the printed quote's total")
        assert total == "¥304,600.00"
        assert await page.evaluate("document.title") == f"报价单 {quote['quote_id']}"
        assert await page.evaluate("document.getElementById('discount').textContent") == "-¥5,000.00"
        cells = await page.evaluate("[...document.querySelectorAll('#lines tbody tr')].map(r => r.cells[2].innerText)")
        assert cells == ["Model Y 长续航版 <b>全轮驱动</b>\nMODEL-Y-LR", "全包脚垫\nMAT"]
        assert await page.evaluate("document.querySelectorAll('#lines b').length") == 0
        shot = await page.call("Page.captureScreenshot", format="png")
        image = tmp_path / "quote-print.png"
        image.write_bytes(base64.b64decode(shot["data"]))
        assert image.stat().st_size > 1000


# ---- vehicle stock, allocation and the delivery checklist (issue 18, item 5) -----------------------------------


async def publish_trim_price_list(orders: Orders, trim: str, *, version_id: str, valid_for: timedelta) -> None:
    """A price-list version in force since ``valid_for`` ago: the catalogue, the trim ``trim`` of model MY at
    280,000 yuan and the white paint (what the vehicle tests allocate against)."""
    await orders.post("/v1/price-lists/CNY/versions", {
        "version_id": version_id, "valid_from": (datetime.now(UTC) - valid_for).isoformat(),
        "items": [*CATALOGUE, {"catalogue_id": trim, "kind": "trim", "name": "长续航版", "price_minor": 280_000_00,
                               "model": "MY"},
                  {"catalogue_id": "COL-WHITE", "kind": "colour", "name": "珍珠白", "price_minor": 6_000_00}]},
        201, **auth_headers("director", subject="d1"))


def vin_with_check_digit(serial: int) -> str:
    """A Chinese VIN (WMI LRW) whose position 9 is the GB 16735 check digit, computed here independently."""
    values = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
              **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
              **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
    draft = f"LRW3E7FA0PC{serial:06d}"
    total = sum(values[c] * w for c, w in zip(draft, (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2),
                                              strict=True))
    return draft[:8] + ("X" if total % 11 == 10 else str(total % 11)) + draft[9:]


async def test_a_vehicle_is_allocated_on_contract_the_checklist_gates_delivery_and_all_of_it_is_published(
        orders: Orders) -> None:
    trim = f"MY-LR-{RUN_ID}"
    await publish_trim_price_list(orders, trim, version_id=f"v-vehicles-{RUN_ID}", valid_for=timedelta(hours=1))
    serial = int(RUN_ID, 16) % 900_000
    vins = [vin_with_check_digit(serial + n) for n in range(3)]

    # Bad VINs: 422 naming the field; nothing stored.
    events_before = await orders.event_count()
    for bad in (vins[0][:16], vins[0][:10] + "O" + vins[0][11:], vins[0][:8] + ("1" if vins[0][8] != "1" else "2")
                + vins[0][9:]):
        response = await orders.client.post("/v1/vehicles", json={"vin": bad, "model": "MY"})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["fields"][0]["field"] == "vin"
    assert await orders.event_count() == events_before

    # Stock: a white one in transit, a white one PDI done, a red one PDI done.
    for vin, colour, status in ((vins[0], "COL-WHITE", "in_transit"), (vins[1], "COL-WHITE", "arrived"),
                                (vins[2], "COL-RED", "pdi_done")):
        registered = await orders.post("/v1/vehicles", {"vin": vin.lower(), "model": "MY", "trim": trim,
                                                        "colour": colour, "status": status}, 201)
        assert (registered["vin"], registered["status"]) == (vin, status)
    assert await orders.error("POST", "/v1/vehicles", {"vin": vins[0], "model": "MY"}) == (
        409, "vehicle_already_registered")
    await orders.post(f"/v1/vehicles/{vins[1]}/status", {"status": "pdi_done", "reference": "PDI-77"})
    assert await orders.error("POST", f"/v1/vehicles/{vins[1]}/status", {"status": "arrived"}) == (
        409, "vehicle_status_backwards")

    async def vehicle_contract() -> str:
        body = {**quote_body("S-7"), "lines": [{"catalogue_id": trim}, {"catalogue_id": "COL-WHITE"},
                                               {"catalogue_id": "MAT"}]}
        quote = await orders.post("/v1/quotes", body, 201)
        await orders.post(f"/v1/quotes/{quote['quote_id']}/acceptance", {})
        return str((await orders.post(f"/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"},
                                      201))["order_id"])

    first, second, third = [await vehicle_contract() for _ in range(3)]
    # Two concurrent allocations of the best white vehicle: each gets one of the two white ones, never the same.
    answers = await asyncio.gather(orders.client.post(f"/v1/orders/{first}/vehicle", json={}),
                                   orders.client.post(f"/v1/orders/{second}/vehicle", json={}))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert sorted(a.json()["vin"] for a in answers) == sorted(vins[:2])
    # The third white order finds none (the red one does not match): 409; nor may it take the first's by VIN.
    assert await orders.error("POST", f"/v1/orders/{third}/vehicle", {}) == (409, "no_vehicle_available")
    taken = next(a.json()["vin"] for a in answers if a.json()["order_id"] == first)
    assert await orders.error("POST", f"/v1/orders/{third}/vehicle", {"vin": taken}) == (
        409, "vehicle_already_allocated")
    assert await orders.error("POST", f"/v1/orders/{third}/vehicle", {"vin": vins[2]}) == (
        409, "vehicle_does_not_match")
    # Cancelling the second frees its vehicle; the third takes it.
    cancelled = await orders.post(f"/v1/orders/{second}/cancellation", {"reason": "customer withdrew"})
    assert cancelled["vin"] is None
    freed = next(a.json()["vin"] for a in answers if a.json()["order_id"] == second)
    assert (await orders.post(f"/v1/orders/{third}/vehicle", {}))["vin"] == freed

    # Delivery of the first: paid, but the checklist is open and its vehicle is PDI done only if it was vins[1].
    total = (await orders.get(f"/v1/orders/{first}"))["total_minor"]
    await orders.post(f"/v1/orders/{first}/payments", {"kind": "full", "amount_minor": total, "currency": "CNY"})
    refused = await orders.client.post(f"/v1/orders/{first}/delivered", json={})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "delivery_not_ready"
    items = ["pdi", "invoice", "insurance_policy", "registration", "documents_handed_over", "customer_confirmation"]
    assert error["open_items"] == items
    for n, item in enumerate(items):
        checklist = await orders.post(f"/v1/orders/{first}/delivery-checklist/{item}", {"reference": f"REF-{n}"})
        assert checklist["open_items"] == items[n + 1:]
    done = {i["item"]: i for i in (await orders.get(f"/v1/orders/{first}/delivery-checklist"))["items"]}
    assert (done["invoice"]["completed_by"], done["invoice"]["reference"]) == ("M-1", "REF-1")
    assert await orders.error("POST", f"/v1/orders/{first}/delivery-checklist/invoice", {}) == (
        409, "checklist_item_already_completed")
    unknown = await orders.client.post(f"/v1/orders/{first}/delivery-checklist/car_wash", json={})
    assert (unknown.status_code, unknown.json()["error"]["fields"][0]["field"]) == (422, "item")
    if taken == vins[0]:  # still in transit: refused until PDI is done
        refused = await orders.client.post(f"/v1/orders/{first}/delivered", json={})
        assert refused.status_code == 409
        assert (refused.json()["error"]["open_items"], refused.json()["error"]["vehicle_status"]) == ([],
                                                                                                      "in_transit")
        await orders.post(f"/v1/vehicles/{taken}/status", {"status": "pdi_done", "reference": "PDI-78"})
    delivered = await orders.post(f"/v1/orders/{first}/delivered", {})
    assert (delivered["status"], delivered["vin"]) == ("delivered", taken)
    vehicle = await orders.get(f"/v1/vehicles/{taken}")
    assert (vehicle["status"], vehicle["order_id"]) == ("delivered", first)
    assert vehicle["history"][-1]["event_type"] == "VehicleHandedOver"
    stock = await orders.get("/v1/vehicles", model="MY")
    assert {v["vin"]: v["status"] for v in stock["vehicles"] if v["vin"] in vins} == {
        taken: "delivered", freed: "reserved" if freed == vins[1] else "in_transit", vins[2]: "pdi_done"}

    published = await read_by_keys(orders.kafka, orders.topic, {first, taken}, expect=12)
    by_order = [m for m in published if m.key == first]
    assert [m.type for m in by_order] == ["ContractSigned", "VehicleAllocated", "PaymentReceived",
                                          *["DeliveryChecklistItemCompleted"] * 6, "Delivered"]
    assert by_order[-1].body["vin"] == taken
    assert [m.body["item"] for m in by_order if m.type == "DeliveryChecklistItemCompleted"] == items
    assert [m.type for m in published if m.key == taken] == ["VehicleRegistered", "VehicleStatusChanged"]


async def test_a_vehicle_is_swapped_and_released_and_a_checklist_item_reopened_and_all_of_it_is_published(
        orders: Orders) -> None:
    trim = f"MY-SW-{RUN_ID}"
    await publish_trim_price_list(orders, trim, version_id=f"v-swap-{RUN_ID}", valid_for=timedelta(minutes=30))
    serial = int(RUN_ID, 16) % 900_000 + 50
    vins = [vin_with_check_digit(serial + n) for n in range(3)]
    for vin in vins:
        await orders.post("/v1/vehicles", {"vin": vin, "model": "MY", "trim": trim, "colour": "COL-WHITE",
                                           "status": "pdi_done"}, 201)
    contracts = []
    for _ in range(2):
        quote = await orders.post("/v1/quotes", {**quote_body("S-7"), "lines": [{"catalogue_id": trim},
                                                                             {"catalogue_id": "COL-WHITE"}]}, 201)
        await orders.post(f"/v1/quotes/{quote['quote_id']}/acceptance", {})
        contracts.append(str((await orders.post(f"/v1/quotes/{quote['quote_id']}/contract",
                                                {"payment_plan": "full"}, 201))["order_id"]))
    order, other = contracts
    assert (await orders.post(f"/v1/orders/{order}/vehicle", {"vin": vins[0]}))["vin"] == vins[0]

    # Bad input: 422 naming the field, nothing stored.
    events_before = await orders.event_count()
    missing = await orders.client.put(f"/v1/orders/{order}/vehicle", json={"reason": "x"})
    assert (missing.status_code, [f["field"] for f in missing.json()["error"]["fields"]]) == (422, ["vin"])
    for path, method, body in ((f"/v1/orders/{order}/vehicle/release", "POST", {}),
                               (f"/v1/orders/{order}/vehicle/release", "POST", {"reason": "  "}),
                               (f"/v1/orders/{order}/vehicle", "PUT", {"vin": vins[1], "reason": ""})):
        response = await orders.client.request(method, path, json=body)
        assert response.status_code == 422, response.text
        assert [f["field"] for f in response.json()["error"]["fields"]] == ["reason"]
    bad_vin = await orders.client.put(f"/v1/orders/{order}/vehicle", json={"vin": vins[1][:16], "reason": "x"})
    assert (bad_vin.status_code, bad_vin.json()["error"]["fields"][0]["field"]) == (422, "vin")
    assert await orders.event_count() == events_before
    # An order without a vehicle has none to release or swap.
    assert await orders.error("POST", f"/v1/orders/{other}/vehicle/release", {"reason": "x"}) == (
        409, "no_vehicle_allocated")
    assert await orders.error("PUT", f"/v1/orders/{other}/vehicle", {"vin": vins[1], "reason": "x"}) == (
        409, "no_vehicle_allocated")

    # The swap: the order holds the new vehicle, the old one is free stock; the same request again records nothing.
    swapped = await orders.client.put(f"/v1/orders/{order}/vehicle",
                                      json={"vin": vins[1].lower(), "reason": "scratch on the tailgate"})
    assert swapped.status_code == 200, swapped.text
    assert swapped.json()["vin"] == vins[1]
    again = await orders.client.put(f"/v1/orders/{order}/vehicle",
                                    json={"vin": vins[1], "reason": "scratch on the tailgate"})
    assert (again.status_code, again.json()["version"]) == (200, swapped.json()["version"])
    old, new = (await orders.get(f"/v1/vehicles/{vins[0]}")), (await orders.get(f"/v1/vehicles/{vins[1]}"))
    assert (old["status"], old["order_id"], new["status"], new["order_id"]) == ("pdi_done", None, "reserved", order)
    assert [e["event_type"] for e in old["history"]][-1] == "VehicleReleased"
    # The other order takes the freed one; swapping to a vehicle another order holds is refused.
    await orders.post(f"/v1/orders/{other}/vehicle", {"vin": vins[0]})
    assert await orders.error("PUT", f"/v1/orders/{order}/vehicle", {"vin": vins[0], "reason": "x"}) == (
        409, "vehicle_already_allocated")
    assert await orders.error("PUT", f"/v1/orders/{order}/vehicle", {"vin": vin_with_check_digit(serial + 9),
                                                                     "reason": "x"}) == (404, "vehicle_not_found")

    # The release: the order goes on without a vehicle (not deliverable), then takes one again and is delivered.
    released = await orders.post(f"/v1/orders/{order}/vehicle/release", {"reason": "customer waits for a new one"})
    assert (released["status"], released["vin"]) == ("signed", None)
    assert (await orders.get(f"/v1/vehicles/{vins[1]}"))["order_id"] is None
    total = released["total_minor"]
    await orders.post(f"/v1/orders/{order}/payments", {"kind": "full", "amount_minor": total, "currency": "CNY"})
    items = ["pdi", "invoice", "insurance_policy", "registration", "documents_handed_over", "customer_confirmation"]
    for item in items:
        await orders.post(f"/v1/orders/{order}/delivery-checklist/{item}", {})
    refused = await orders.client.post(f"/v1/orders/{order}/delivered", json={})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "delivery_not_ready")
    await orders.post(f"/v1/orders/{order}/vehicle", {"vin": vins[2]})

    # Undoing a checklist item: open again, it gates delivery until completed anew.
    reopen = f"/v1/orders/{order}/delivery-checklist/registration/reopen"
    events_before = await orders.event_count()
    blank = await orders.client.post(reopen, json={"reason": " "})
    assert (blank.status_code, blank.json()["error"]["fields"][0]["field"]) == (422, "reason")
    unknown = await orders.client.post(f"/v1/orders/{order}/delivery-checklist/car_wash/reopen", json={"reason": "x"})
    assert (unknown.status_code, unknown.json()["error"]["fields"][0]["field"]) == (422, "item")
    assert await orders.event_count() == events_before
    checklist = await orders.post(reopen, {"reason": "plate issued for the first vehicle"})
    assert checklist["open_items"] == ["registration"]
    reopened = next(i for i in checklist["items"] if i["item"] == "registration")
    assert (reopened["completed"], reopened["reopened"]["by"], reopened["reopened"]["reason"]) == (
        False, "M-1", "plate issued for the first vehicle")
    assert await orders.error("POST", reopen, {"reason": "again"}) == (409, "checklist_item_not_completed")
    refused = await orders.client.post(f"/v1/orders/{order}/delivered", json={})
    assert (refused.status_code, refused.json()["error"]["open_items"]) == (409, ["registration"])
    await orders.post(f"/v1/orders/{order}/delivery-checklist/registration", {"reference": "沪A·S0001"})
    assert (await orders.post(f"/v1/orders/{order}/delivered", {}))["vin"] == vins[2]
    # After the handover none of it is possible.
    assert await orders.error("POST", f"/v1/orders/{order}/vehicle/release", {"reason": "x"}) == (
        409, "order_delivered")
    assert await orders.error("PUT", f"/v1/orders/{order}/vehicle", {"vin": vins[1], "reason": "x"}) == (
        409, "order_delivered")
    assert await orders.error("POST", reopen, {"reason": "x"}) == (409, "order_delivered")

    published = await read_by_keys(orders.kafka, orders.topic, {order}, expect=16)
    assert [m.type for m in published] == [
        "ContractSigned", "VehicleAllocated", "VehicleDeallocated", "VehicleAllocated", "VehicleDeallocated",
        "PaymentReceived", *["DeliveryChecklistItemCompleted"] * 6, "VehicleAllocated",
        "DeliveryChecklistItemReopened", "DeliveryChecklistItemCompleted", "Delivered"]
    assert (published[13].body["item"], published[13].body["reason"], published[13].body["reopened_by"]) == (
        "registration", "plate issued for the first vehicle", "M-1")
    swap_out, swap_in, release = published[2].body, published[3].body, published[4].body
    assert (swap_out["vin"], swap_out["reason"], swap_out["replaced_by"], swap_out["note"],
            swap_out["deallocated_by"]) == (vins[0], "swapped", vins[1], "scratch on the tailgate", "M-1")
    assert swap_in["vin"] == vins[1]
    assert (release["vin"], release["reason"], release["replaced_by"], release["note"]) == (
        vins[1], "released", None, "customer waits for a new one")
