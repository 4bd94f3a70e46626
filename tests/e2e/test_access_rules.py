"""The access table of docs/security.md, row by row, over HTTP against every service: for every operation one
caller who may (the call gets past authorisation: not 401/403, and not 404 where the id is real) and one who may
not (403 for the wrong role, 404 for an id outside the caller's scope). The table, these cases and the services'
OpenAPI documents must list the same operations, so a new route without a rule (or a rule without a test) fails."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.all_services import all_services
from tests.support.auth import auth_headers
from tests.support.infra import REPO, RUN_ID, Infra
from tests.support.orders_builders import valid_vin
from tests.support.processes import ServiceProcess
from tests.support.waiting import eventually

STOCK_VIN = valid_vin(int(RUN_ID, 16) % 1_000_000)  # a vehicle the allowed manager registers

pytestmark = pytest.mark.e2e

TABLE = REPO / "docs" / "security.md"
SOON = (datetime.now(UTC) + timedelta(days=3)).isoformat()
LATER = (datetime.now(UTC) + timedelta(days=3, hours=2)).isoformat()

WHO: dict[str, dict[str, str]] = {
    "c1": auth_headers("consultant", subject="c1", team="t1"),
    "c2": auth_headers("consultant", subject="c2", team="t1"),
    "c3": auth_headers("consultant", subject="c3", team="t2"),
    "m1": auth_headers("manager", subject="m1", team="t1"),
    "m2": auth_headers("manager", subject="m2", team="t2"),
    "d1": auth_headers("director", subject="d1", team=None),
    "m0": auth_headers("manager", subject="m0", team=None),  # a misconfigured account: a manager without a team
    "ops1": auth_headers("ops", subject="ops1", team=None),
    "shop": auth_headers(None, scopes=["leads:capture", "orders:checkout"], client="shop"),
    "cc": auth_headers(None, scopes=["leads:capture"], client="call-center"),
    # two systems that manage webhook subscriptions: each sees its own only
    "hooks": auth_headers(None, scopes=["webhooks:manage"], client="shop-hooks"),
    "hooks2": auth_headers(None, scopes=["webhooks:manage"], client="crm-hooks"),
}

# The not-found codes an out-of-scope id answers with (a real id must not get them when the caller may see it).
OUT_OF_SCOPE = {"lead_not_found", "quote_not_found", "order_not_found", "consultant_not_found", "visit_not_found",
                "test_drive_not_found", "care_plan_not_found", "complaint_not_found", "customer_not_found",
                "subscription_not_found", "not_found"}
# A subscription to an event no row below causes (quotes expire in days), at a loopback port nothing listens on.
HOOK = {"url": "http://127.0.0.1:9/hooks", "event_types": ["salesflow.orders.QuoteExpired"],
        "secret": "access-rules-secret-0123456789"}
LINES = [{"product": "MODEL-Y-LR", "quantity": 1, "unit_price_minor": 300_000_00}]
CUSTOMER = f"C-t1-{RUN_ID}"  # c1's customer: a delivered order, so a care plan of team t1

PRICE_LIST = {"valid_from": "2026-01-01T00:00:00+00:00",
              "items": [{"catalogue_id": "MY", "kind": "model", "name": "Model Y", "price_minor": 250_000_00}]}
# "METHOD /path" (as in the OpenAPI document) -> (service, concrete path, body, allowed, refused, refused status)
Case = tuple[str, str, dict[str, Any] | None, str, str, int]


def cases(ids: dict[str, str]) -> dict[str, Case]:
    lead, quote, order, visit = ids["lead"], ids["quote"], ids["order"], ids["visit"]
    vehicle, drive, campaign = ids["vehicle"], ids["test_drive"], ids["campaign"]
    lead_customer, walk_in_customer = ids["lead_customer"], ids["walk_in_customer"]
    plan, customer, complaint, referral = ids["plan"], ids["customer"], ids["complaint"], ids["referral"]
    subscription, survivor, duplicate = ids["subscription"], ids["survivor"], ids["duplicate"]
    return {
        # leads
        "POST /v1/leads": ("leads", "/v1/leads", {"name": "王五", "phone": "13900001234", "channel": "online_shop",
                                                   "team_id": "t1"}, "cc", "ops1", 403),
        "GET /v1/leads/{lead_id}": ("leads", f"/v1/leads/{lead}", None, "c1", "c3", 404),
        # The order's lead is shown under the lead's own rule (GET /v1/leads/{lead_id} above).
        "GET /v1/orders/{order_id}/lead": ("leads", "/v1/orders/none/lead", None, "c1", "nobody", 401),
        "GET /v1/customers/leads": ("leads", "/v1/customers/leads?phone=13800001111", None, "m1", "shop", 200),
        "GET /v1/leads": ("leads", "/v1/leads?owner_id=c1", None, "c1", "c3", 200),
        "GET /v1/follow-ups": ("leads", "/v1/follow-ups?owner_id=c1", None, "c1", "m2", 200),
        "GET /v1/pool": ("leads", "/v1/pool", None, "c1", "shop", 200),
        "GET /v1/work-queue": ("leads", "/v1/work-queue", None, "c1", "shop", 403),
        "GET /v1/work-queue/team": ("leads", "/v1/work-queue/team", None, "m1", "c1", 403),
        # Allowed answers 422 (the due time is past) before anything is selected or written.
        "POST /v1/outreach-batches": ("leads", "/v1/outreach-batches", {
            "filters": {"audience": "lost"}, "consultant_ids": ["c1"], "due_at": "2020-01-01T00:00:00+00:00"},
            "m1", "c1", 403),
        "GET /v1/outreach-batches/{batch_id}": ("leads", "/v1/outreach-batches/none", None, "m1", "nobody", 401),
        "POST /v1/leads/{lead_id}/assignment": ("leads", f"/v1/leads/{lead}/assignment", {"owner_id": "c1"},
                                                "m1", "c1", 403),
        "POST /v1/leads/{lead_id}/grade": ("leads", f"/v1/leads/{lead}/grade", {"grade": "H", "reason": "ready"},
                                           "m1", "m2", 404),
        "POST /v1/leads/{lead_id}/follow-ups": ("leads", f"/v1/leads/{lead}/follow-ups",
                                                {"kind": "call", "outcome": "ok"}, "m1", "c3", 404),
        "POST /v1/leads/{lead_id}/appointments": ("leads", f"/v1/leads/{lead}/appointments",
                                                  {"kind": "test_drive", "scheduled_for": SOON}, "m1", "c3", 404),
        "POST /v1/leads/{lead_id}/appointments/{appointment_id}/outcome": (
            "leads", f"/v1/leads/{lead}/appointments/none/outcome", {"attended": True}, "m1", "m2", 404),
        "POST /v1/leads/{lead_id}/stage": ("leads", f"/v1/leads/{lead}/stage", {"stage": "contacted"}, "m1",
                                           "m2", 404),
        "POST /v1/leads/{lead_id}/loss-request": ("leads", f"/v1/leads/{lead}/loss-request",
                                                  {"reason": "bought_competitor"}, "m1", "c3", 404),
        "POST /v1/leads/{lead_id}/loss-request/approve": ("leads", f"/v1/leads/{lead}/loss-request/approve", {},
                                                          "m1", "m2", 404),
        "POST /v1/leads/{lead_id}/loss-request/reject": ("leads", f"/v1/leads/{lead}/loss-request/reject", {},
                                                         "d1", "c1", 403),
        "POST /v1/leads/{lead_id}/invalidate": ("leads", f"/v1/leads/{lead}/invalidate", {"reason": "spam"},
                                                "d1", "c3", 404),
        "POST /v1/leads/{lead_id}/claim": ("leads", f"/v1/leads/{lead}/claim", {"consultant_id": "c1"}, "c1",
                                           "c2", 404),
        "POST /v1/teams": ("leads", "/v1/teams", {"team_id": f"t9{RUN_ID}", "name": "九组"}, "d1", "m1", 403),
        "POST /v1/consultants": ("leads", "/v1/consultants", {"consultant_id": "c9", "name": "新人", "team_id": "t1"},
                                 "m1", "m2", 403),
        "GET /v1/consultants": ("leads", "/v1/consultants", None, "c1", "shop", 403),
        "POST /v1/consultants/{consultant_id}/team": ("leads", "/v1/consultants/c3/team", {"team_id": "t1"}, "d1",
                                                      "m1", 404),
        "POST /v1/consultants/{consultant_id}/deactivate": ("leads", "/v1/consultants/c2/deactivate", None, "m1",
                                                            "c1", 403),
        "GET /v1/channels": ("leads", "/v1/channels", None, "c1", "nobody", 401),
        "GET /v1/loss-reasons": ("leads", "/v1/loss-reasons", None, "c1", "nobody", 401),
        "POST /v1/showroom-visits": ("leads", "/v1/showroom-visits", {
            "party_size": 2, "purpose": "first_look", "name": "孙八", "phone": "13500002222", "team_id": "t1"},
            "c1", "shop", 403),
        "POST /v1/showroom-visits/{visit_id}/departure": ("leads", f"/v1/showroom-visits/{visit}/departure", {},
                                                          "c2", "c3", 404),
        "GET /v1/showroom-visits/{visit_id}": ("leads", f"/v1/showroom-visits/{visit}", None, "m1", "m2", 404),
        "GET /v1/showroom-visits": ("leads", "/v1/showroom-visits", None, "c1", "shop", 403),
        "GET /v1/visit-purposes": ("leads", "/v1/visit-purposes", None, "c1", "nobody", 401),
        "GET /v1/customers/{customer_id}/card": ("leads", f"/v1/customers/{lead_customer}/card", None, "c1", "c3",
                                                 404),
        "PATCH /v1/customers/{customer_id}/card": ("leads", f"/v1/customers/{lead_customer}/card",
                                                   {"changes": {"payment_intention": "loan"}}, "c1", "c2", 404),
        # The walk-in's customer, so the lead above keeps the phone the masking test checks.
        "POST /v1/customers/{customer_id}/phone": ("leads", f"/v1/customers/{walk_in_customer}/phone",
                                                   {"phone": "13500003333"}, "m1", "c3", 404),
        "POST /v1/customers/{customer_id}/merge": ("leads", f"/v1/customers/{survivor}/merge",
                                                   {"merged_customer_id": duplicate}, "m1", "c3", 404),
        "GET /v1/customers/{customer_id}/overview": ("leads", f"/v1/customers/{lead_customer}/overview", None, "c1",
                                                     "c3", 404),
        "GET /v1/customers/{customer_id}/timeline@leads": ("leads", f"/v1/customers/{lead_customer}/timeline", None,
                                                           "c1", "c3", 404),
        "GET /v1/customers/search": ("leads", "/v1/customers/search?q=13812345678", None, "c1", "shop", 403),
        "GET /v1/customer-card/fields": ("leads", "/v1/customer-card/fields", None, "c1", "nobody", 401),
        # The list is the body (CSV/XLSX): none here, so the allowed call is a 422 past the access rule.
        "POST /v1/imports": ("leads", "/v1/imports?team_id=t1", None, "m1", "c1", 403),
        "GET /v1/imports/{job_id}": ("leads", f"/v1/imports/{ids['import_job']}", None, "m1", "m2", 404),
        "POST /v1/test-drive-vehicles": ("leads", "/v1/test-drive-vehicles", {
            "vehicle_id": f"V2-{RUN_ID}", "model": "Model 3", "plate": "沪B22222"}, "m1", "c1", 403),
        "GET /v1/test-drive-vehicles": ("leads", "/v1/test-drive-vehicles", None, "c1", "shop", 403),
        "GET /v1/test-drive-vehicles/{vehicle_id}/calendar": ("leads", f"/v1/test-drive-vehicles/{vehicle}/calendar",
                                                              None, "c1", "shop", 403),
        "GET /v1/test-drive-routes": ("leads", "/v1/test-drive-routes", None, "c1", "nobody", 401),
        "POST /v1/campaigns": ("leads", "/v1/campaigns", {
            "code": f"access-2-{RUN_ID}", "name": "车展", "kind": "exhibition", "channel": "exhibition",
            "starts_on": "2026-03-01", "ends_on": "2026-03-02", "budget_minor": 1}, "m1", "c1", 403),
        "PATCH /v1/campaigns/{campaign_id}": ("leads", f"/v1/campaigns/{campaign}", {"budget_minor": 2}, "d1", "c1",
                                              403),
        "POST /v1/campaigns/{campaign_id}/spend": ("leads", f"/v1/campaigns/{campaign}/spend", {"amount_minor": 1},
                                                   "m1", "c1", 403),
        "GET /v1/campaigns": ("leads", "/v1/campaigns", None, "c1", "shop", 403),
        "GET /v1/campaigns/{campaign_id}": ("leads", f"/v1/campaigns/{campaign}", None, "c1", "shop", 403),
        "GET /v1/campaign-kinds": ("leads", "/v1/campaign-kinds", None, "c1", "nobody", 401),
        "POST /v1/test-drives": ("leads", "/v1/test-drives", {"vehicle_id": vehicle, "lead_id": lead,
                                                              "starts_at": LATER, "route": "city_short"},
                                 "c1", "c2", 404),
        "GET /v1/test-drives/{booking_id}": ("leads", f"/v1/test-drives/{drive}", None, "c1", "c2", 404),
        "POST /v1/test-drives/{booking_id}/start": ("leads", f"/v1/test-drives/{drive}/start",
                                                    {"licence_checked": True, "waiver_signed": True}, "c1", "c3", 404),
        "POST /v1/test-drives/{booking_id}/completion": ("leads", f"/v1/test-drives/{drive}/completion",
                                                         {"feedback_score": 5}, "m1", "c2", 404),
        "POST /v1/test-drives/{booking_id}/no-show": ("leads", f"/v1/test-drives/{drive}/no-show", None, "m1", "c3",
                                                      404),
        "POST /v1/test-drives/{booking_id}/cancellation": ("leads", f"/v1/test-drives/{drive}/cancellation",
                                                           {"reason": "postponed"}, "c1", "c2", 404),
        "POST /v1/test-drives/{booking_id}/move": ("leads", f"/v1/test-drives/{drive}/move", {"starts_at": LATER},
                                                   "m1", "c3", 404),
        # orders
        "POST /v1/quotes": ("orders", "/v1/quotes", quote_body("c1"), "c1", "c2x", 403),
        "POST /v1/quotes/{quote_id}/revisions": ("orders", f"/v1/quotes/{quote}/revisions",
                                                 {"lines": LINES, "valid_until": SOON}, "c1", "c2", 404),
        "POST /v1/quotes/{quote_id}/acceptance": ("orders", f"/v1/quotes/{quote}/acceptance", {}, "m1", "m2", 404),
        "POST /v1/quotes/{quote_id}/contract": ("orders", f"/v1/quotes/{quote}/contract", {"payment_plan": "full"},
                                                "c1", "m2", 404),
        "GET /v1/quotes/{quote_id}": ("orders", f"/v1/quotes/{quote}", None, "c1", "c2", 404),
        "GET /v1/quotes/{quote_id}/print": ("orders", f"/v1/quotes/{quote}/print", None, "c1", "c2", 404),
        "GET /v1/quotes/{quote_id}/print.pdf": ("orders", f"/v1/quotes/{quote}/print.pdf", None, "c1", "c2", 404),
        "POST /v1/orders/{order_id}/payments": ("orders", f"/v1/orders/{order}/payments",
                                                {"kind": "deposit", "amount_minor": 1000_00, "currency": "CNY"},
                                                "c1", "c2", 404),
        "POST /v1/orders/{order_id}/financing/approval": (
            "orders", f"/v1/orders/{order}/financing/approval",
            {"provider": "bank", "amount_minor": 1, "currency": "CNY"}, "m1", "shop", 403),
        "POST /v1/orders/{order_id}/financing/decline": ("orders", f"/v1/orders/{order}/financing/decline",
                                                         {"provider": "bank", "reason": "no"}, "c1", "m2", 404),
        "POST /v1/orders/{order_id}/refunds": ("orders", f"/v1/orders/{order}/refunds",
                                               {"amount_minor": 1, "currency": "CNY", "reason": "x"}, "m1", "c1", 403),
        "POST /v1/orders/{order_id}/cancellation": ("orders", f"/v1/orders/{order}/cancellation", {"reason": "x"},
                                                    "d1", "c1", 403),
        "POST /v1/orders/{order_id}/delivery": ("orders", f"/v1/orders/{order}/delivery", {"scheduled_for": SOON},
                                                "c1", "c2", 404),
        "PUT /v1/orders/{order_id}/delivery": ("orders", f"/v1/orders/{order}/delivery",
                                               {"scheduled_for": SOON, "reason": "moved"}, "m1", "m2", 404),
        "POST /v1/orders/{order_id}/vehicle": ("orders", f"/v1/orders/{order}/vehicle", {}, "c1", "c2", 404),
        "GET /v1/orders/{order_id}/delivery-checklist": ("orders", f"/v1/orders/{order}/delivery-checklist", None,
                                                         "c1", "c2", 404),
        "POST /v1/orders/{order_id}/delivery-checklist/{item}": (
            "orders", f"/v1/orders/{order}/delivery-checklist/invoice", {}, "m1", "c2", 404),
        "POST /v1/orders/{order_id}/delivery-checklist/{item}/reopen": (
            "orders", f"/v1/orders/{order}/delivery-checklist/invoice/reopen", {"reason": "x"}, "m1", "c2", 404),
        "POST /v1/orders/{order_id}/vehicle/release": ("orders", f"/v1/orders/{order}/vehicle/release",
                                                       {"reason": "x"}, "c1", "c2", 404),
        # A VIN no vehicle has: the allowed call is answered by the swap's own checks, no vehicle changes hands.
        "PUT /v1/orders/{order_id}/vehicle": ("orders", f"/v1/orders/{order}/vehicle",
                                              {"vin": valid_vin(int(RUN_ID, 16) % 1_000_000 + 1), "reason": "x"},
                                              "m1", "m2", 404),
        "POST /v1/orders/{order_id}/delivered": ("orders", f"/v1/orders/{order}/delivered", {}, "c1", "c2", 404),
        "POST /v1/vehicles": ("orders", "/v1/vehicles", {"vin": STOCK_VIN, "model": "MY"}, "m1", "c1", 403),
        "POST /v1/vehicles/{vin}/status": ("orders", f"/v1/vehicles/{STOCK_VIN}/status", {"status": "arrived"},
                                           "d1", "c1", 403),
        "GET /v1/vehicles": ("orders", "/v1/vehicles", None, "c1", "shop", 403),
        "GET /v1/vehicles/{vin}": ("orders", f"/v1/vehicles/{STOCK_VIN}", None, "c1", "shop", 403),
        "POST /v1/checkouts": ("orders", "/v1/checkouts", {
            "shop_order_id": f"S-{RUN_ID}", "customer_name": "赵六", "customer_phone": "13700001111",
            "lines": [{"product": "MUG", "unit_price_minor": 99_00}], "total_minor": 99_00, "paid_minor": 99_00,
            "currency": "CNY"}, "shop", "c1", 403),
        "GET /v1/orders/awaiting-delivery": ("orders", "/v1/orders/awaiting-delivery", None, "m1", "c1", 403),
        "GET /v1/orders": ("orders", "/v1/orders?consultant_id=c1", None, "c1", "c2", 404),
        "GET /v1/orders/{order_id}": ("orders", f"/v1/orders/{order}", None, "m1", "m2", 404),
        "GET /v1/receivables": ("orders", "/v1/receivables", None, "d1", "c1", 403),
        "GET /v1/configuration": ("orders", "/v1/configuration", None, "c1", "nobody", 401),
        "POST /v1/price-lists/{currency}/versions": ("orders", "/v1/price-lists/EUR/versions", PRICE_LIST, "d1",
                                                     "m1", 403),
        "GET /v1/price-lists/{currency}": ("orders", "/v1/price-lists/EUR", None, "c1", "ops1", 403),
        "GET /v1/catalogue": ("orders", "/v1/catalogue?currency=EUR", None, "c1", "shop", 403),
        "POST /admin/order-summaries/rebuild": ("orders", "/admin/order-summaries/rebuild", None, "ops1", "d1", 403),
        # aftersales: the desk's people, each narrowed to their care plans (c1's delivered order, team t1)
        "GET /v1/care-plans/{plan_id}": ("aftersales", f"/v1/care-plans/{plan}", None, "c1", "c2", 404),
        "POST /v1/care-plans/{plan_id}/visits/{visit_no}/complete": (
            "aftersales", f"/v1/care-plans/{plan}/visits/1/complete", {"score": 5}, "m1", "m2", 404),
        "POST /v1/care-plans/{plan_id}/visits/{visit_no}/follow-up/close": (
            "aftersales", f"/v1/care-plans/{plan}/visits/1/follow-up/close", {"outcome": "ok"}, "m1", "shop", 403),
        "GET /v1/follow-ups@aftersales": ("aftersales", "/v1/follow-ups", None, "m1", "ops1", 403),
        "POST /v1/complaints": ("aftersales", "/v1/complaints", {"customer_id": customer, "order_id": plan,
                                                                 "category": "service", "description": "slow"},
                                "c1", "m2", 404),
        "GET /v1/complaints/{complaint_id}": ("aftersales", f"/v1/complaints/{complaint}", None, "c1", "c3", 404),
        "POST /v1/complaints/{complaint_id}/acknowledge": ("aftersales", f"/v1/complaints/{complaint}/acknowledge",
                                                           {}, "m1", "m2", 404),
        "POST /v1/complaints/{complaint_id}/resolve": ("aftersales", f"/v1/complaints/{complaint}/resolve",
                                                       {"resolution": "fixed"}, "m1", "cc", 403),
        "POST /v1/complaints/{complaint_id}/reopen": ("aftersales", f"/v1/complaints/{complaint}/reopen",
                                                      {"reason": "again"}, "m1", "c2", 404),
        "GET /v1/complaints": ("aftersales", "/v1/complaints", None, "d1", "ops1", 403),
        "POST /v1/referrals": ("aftersales", "/v1/referrals", {"referrer_customer_id": customer,
                                                               "prospect_name": "钱七",
                                                               "prospect_phone": "13600001111"}, "c1", "c3", 404),
        "GET /v1/referrals/{referral_id}": ("aftersales", f"/v1/referrals/{referral}", None, "c1", "m2", 404),
        "GET /v1/customers/{customer_id}/loyalty": ("aftersales", f"/v1/customers/{customer}/loyalty", None, "c1",
                                                    "c2", 404),
        "POST /v1/customers/{customer_id}/loyalty/redemptions": (
            "aftersales", f"/v1/customers/{customer}/loyalty/redemptions", {"points": 1, "reason": "gift"}, "m1",
            "m2", 404),
        "GET /v1/customers/{customer_id}/timeline": ("aftersales", f"/v1/customers/{customer}/timeline", None, "c1",
                                                     "cc", 403),
        "GET /v1/visits": ("aftersales", "/v1/visits", None, "m1", "ops1", 403),
        "GET /v1/satisfaction": ("aftersales", "/v1/satisfaction", None, "d1", "shop", 403),
        "GET /v1/config": ("aftersales", "/v1/config", None, "c1", "shop", 403),
        # reporting
        "GET /v1/funnel": ("reporting", "/v1/funnel", None, "d1", "m1", 403),
        "GET /v1/reports/funnel": ("reporting", "/v1/reports/funnel", None, "c1", "shop", 403),
        "PUT /v1/targets": ("reporting", "/v1/targets", {"scope": "team", "scope_id": "t1", "month": "2026-03",
                                                          "metric": "contracts", "base": 3}, "m1", "m2", 403),
        "GET /v1/targets": ("reporting", "/v1/targets", None, "c1", "shop", 403),
        "GET /v1/reports/attainment": ("reporting", "/v1/reports/attainment?month=2026-03", None, "m1", "cc", 403),
        "GET /v1/reports/commission": ("reporting", "/v1/reports/commission?month=2026-03", None, "c1", "shop", 403),
        "GET /v1/reports/grades": ("reporting", "/v1/reports/grades", None, "c1", "ops1", 403),
        "GET /v1/reports/daily": ("reporting", "/v1/reports/daily?day=2026-03-02", None, "c1", "shop", 403),
        "GET /v1/reports/monthly": ("reporting", "/v1/reports/monthly?month=2026-03", None, "d1", "m1", 403),
        "GET /v1/reports/kpis": ("reporting", "/v1/reports/kpis?month=2026-03", None, "c1", "shop", 403),
        "GET /v1/reports/aftersales": ("reporting", "/v1/reports/aftersales", None, "d1", "c1", 403),
        "GET /v1/reports/campaigns": ("reporting", "/v1/reports/campaigns?period=2026-03", None, "m1", "c1", 403),
        "GET /v1/me": ("reporting", "/v1/me", None, "shop", "nobody", 401),
        "GET /v1/watermark": ("reporting", "/v1/watermark", None, "c1", "nobody", 401),
        "GET /dashboard": ("reporting", "/dashboard", None, "m1", "nobody", 401),
        # webhooks (the DELETE last: the allowed run ends the subscription the rows before it read)
        "GET /v1/webhooks/event-types": ("webhooks", "/v1/webhooks/event-types", None, "hooks", "c1", 403),
        "POST /v1/webhooks/subscriptions": ("webhooks", "/v1/webhooks/subscriptions", HOOK, "hooks", "d1", 403),
        "GET /v1/webhooks/subscriptions": ("webhooks", "/v1/webhooks/subscriptions", None, "hooks", "shop", 403),
        "GET /v1/webhooks/subscriptions/{subscription_id}": (
            "webhooks", f"/v1/webhooks/subscriptions/{subscription}", None, "hooks", "hooks2", 404),
        "GET /v1/webhooks/subscriptions/{subscription_id}/deliveries": (
            "webhooks", f"/v1/webhooks/subscriptions/{subscription}/deliveries", None, "hooks", "hooks2", 404),
        # no dead delivery exists: the allowed caller gets delivery_not_found (not a refusal), a person 403
        "POST /v1/webhooks/deliveries/{delivery_id}/redelivery": (
            "webhooks", f"/v1/webhooks/deliveries/{uuid.uuid4()}/redelivery", None, "hooks", "m1", 403),
        "DELETE /v1/webhooks/subscriptions/{subscription_id}": (
            "webhooks", f"/v1/webhooks/subscriptions/{subscription}", None, "hooks", "hooks2", 404),
        # notifications (the PUT first: the allowed GET then finds c1's addresses)
        "PUT /v1/notification-recipients/{person_id}": (
            "webhooks", "/v1/notification-recipients/c1", {"email": "c1@example.com"}, "c1", "c2", 403),
        "GET /v1/notification-recipients/{person_id}": (
            "webhooks", "/v1/notification-recipients/c1", None, "ops1", "c2", 403),
        "GET /v1/notifications": ("webhooks", "/v1/notifications", None, "m1", "shop", 403),
        # no notification exists: the allowed caller gets notification_not_found (not a refusal), a system 403
        "GET /v1/notifications/{notification_id}": (
            "webhooks", f"/v1/notifications/{uuid.uuid4()}", None, "ops1", "shop", 403),
        # every service's dead letters: ops
        **{f"{m} /admin/dead-letters{p}@{s}": (s, f"/admin/dead-letters{p.replace('{dead_letter_id}', '1')}",
                                               None, "ops1", "d1", 403)
           for s in ("leads", "orders", "aftersales", "reporting", "webhooks")
           for m, p in (("GET", ""), ("POST", "/{dead_letter_id}/retry"), ("POST", "/{dead_letter_id}/skip"))},
    }


def quote_body(consultant_id: str, **changes: Any) -> dict[str, Any]:
    return {"consultant_id": consultant_id, "currency": "CNY", "customer_name": "王小明",
            "customer_phone": "13812345678", "valid_until": SOON, "lines": LINES, **changes}


def headers_of(who: str) -> dict[str, str]:
    if who == "nobody":
        return {}
    if who == "c2x":  # c2 quoting in c1's name
        return WHO["c2"]
    return WHO[who]


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[tuple[dict[str, ServiceProcess], dict[str, str]]]:
    async with all_services(infra, "access") as services:
        leads, orders = services["leads"].url, services["orders"].url
        async with httpx.AsyncClient(timeout=20) as client:
            async def ok(url: str, body: dict[str, Any] | None, who: str) -> dict[str, Any]:
                response = await client.post(url, json=body, headers=WHO[who])
                assert response.status_code in (200, 201), response.text
                return response.json()
            for team in ("t1", "t2"):
                await ok(f"{leads}/v1/teams", {"team_id": team, "name": team}, "d1")
            await ok(f"{leads}/v1/consultants", {"consultant_id": "c1", "name": "陈一", "team_id": "t1"}, "d1")
            await ok(f"{leads}/v1/consultants", {"consultant_id": "c3", "name": "赵三", "team_id": "t2"}, "d1")
            lead = await ok(f"{leads}/v1/leads", {"name": "张三", "phone": "13812345678", "channel": "online_shop",
                                                   "team_id": "t1"}, "shop")
            assert lead["owner_id"] == "c1"
            await ok(f"{leads}/v1/consultants", {"consultant_id": "c2", "name": "李二", "team_id": "t1"}, "d1")
            await ok(f"{leads}/v1/consultants", {"consultant_id": "m1", "name": "王经理", "team_id": "t1",
                                                 "role": "manager"}, "d1")
            # A walk-in registered by c2 (the receptionist) on a lead of its own, so the lead above keeps its stage.
            visit = await ok(f"{leads}/v1/showroom-visits", {"party_size": 1, "purpose": "first_look",
                                                             "name": "周九", "phone": "13500001111", "team_id": "t1"},
                             "c2")
            vehicle = await ok(f"{leads}/v1/test-drive-vehicles", {"vehicle_id": f"V1-{RUN_ID}", "model": "Model Y",
                                                                    "plate": "沪A11111"}, "d1")
            drive = await ok(f"{leads}/v1/test-drives", {
                "vehicle_id": vehicle["vehicle_id"], "lead_id": lead["lead_id"], "starts_at": SOON,
                "route": "city_short"}, "c1")
            campaign = await ok(f"{leads}/v1/campaigns", {
                "code": f"access-1-{RUN_ID}", "name": "巡展", "kind": "roadshow", "channel": "roadshow",
                "starts_on": "2026-03-01", "ends_on": "2026-03-02", "budget_minor": 1}, "d1")
            quote = await ok(f"{orders}/v1/quotes", quote_body("c1"), "c1")
            signed_quote = await ok(f"{orders}/v1/quotes", quote_body("c1"), "c1")
            await ok(f"{orders}/v1/quotes/{signed_quote['quote_id']}/acceptance", {}, "c1")
            order = await ok(f"{orders}/v1/quotes/{signed_quote['quote_id']}/contract", {"payment_plan": "full"}, "c1")
            care = await delivered_order(ok, orders, "c1", CUSTOMER)
            await eventually(lambda: client.get(f"{services['aftersales'].url}/v1/care-plans/{care}",
                                                headers=WHO["d1"]),
                             until=lambda r: r.status_code == 200, what="the delivered order's care plan",
                             timeout=180)  # the consumer group may be rebalancing on a busy machine
            complaint = await ok(f"{services['aftersales'].url}/v1/complaints", {
                "customer_id": CUSTOMER, "order_id": care, "category": "service", "description": "noisy"}, "c1")
            referral = await ok(f"{services['aftersales'].url}/v1/referrals", {
                "referrer_customer_id": CUSTOMER, "prospect_name": "周九", "prospect_phone": "13600002222"}, "c1")
            subscription = await ok(f"{services['webhooks'].url}/v1/webhooks/subscriptions", HOOK, "hooks")
            import_job = await client.post(f"{leads}/v1/imports", params={"team_id": "t1"}, content=b"name,phone\n",
                                           headers={**WHO["m1"], "content-type": "text/csv"})
            assert import_job.status_code == 202, import_job.text
            # Two records of one person (two numbers), for the merge row.
            survivor, duplicate = [await ok(f"{leads}/v1/leads", {"name": "吴合并", "phone": number,
                                                                  "channel": "phone", "team_id": "t1"}, "shop")
                                   for number in ("13500004444", "13500005555")]
        yield services, {"lead": lead["lead_id"], "quote": quote["quote_id"], "order": order["order_id"],
                         "visit": visit["visit_id"], "vehicle": vehicle["vehicle_id"],
                         "test_drive": drive["booking_id"], "lead_customer": lead["customer_id"],
                         "walk_in_customer": visit["customer_id"], "plan": care, "customer": CUSTOMER,
                         "complaint": complaint["complaint_id"], "referral": referral["referral_id"],
                         "subscription": subscription["subscription_id"], "import_job": import_job.json()["job_id"],
                         "survivor": survivor["customer_id"], "duplicate": duplicate["customer_id"],
                         "campaign": campaign["campaign_id"]}


async def delivered_order(ok: Any, orders: str, consultant: str, customer: str) -> str:
    """A quote of ``consultant`` for ``customer`` signed, paid and delivered: after-sales makes its care plan."""
    quote = await ok(f"{orders}/v1/quotes", quote_body(consultant, customer_id=customer), consultant)
    await ok(f"{orders}/v1/quotes/{quote['quote_id']}/acceptance", {}, consultant)
    order = await ok(f"{orders}/v1/quotes/{quote['quote_id']}/contract", {"payment_plan": "full"}, consultant)
    await ok(f"{orders}/v1/orders/{order['order_id']}/payments",
             {"kind": "full", "amount_minor": order["total_minor"], "currency": "CNY"}, consultant)
    await ok(f"{orders}/v1/orders/{order['order_id']}/delivered", {}, consultant)
    order_id: str = order["order_id"]
    return order_id


def documented_operations() -> set[str]:
    rows = re.findall(r"^\| `([A-Z]+ /[^`]*)` \| (\w+) \|", TABLE.read_text(), flags=re.M)
    return {f"{op}@{service}" for op, service in rows}


def key_of(operation: str, service: str) -> str:
    return operation if "@" in operation else f"{operation}@{service}"


async def test_the_table_the_tests_and_the_services_list_the_same_operations(stack: Any) -> None:
    services, ids = stack
    served: set[str] = set()
    async with httpx.AsyncClient(timeout=10) as client:
        for name, service in services.items():
            document = (await client.get(f"{service.url}/openapi.json")).json()
            served |= {f"{method.upper()} {path}@{name}" for path, item in document["paths"].items()
                       for method in item if not path.startswith("/health/")}
    tested = {key_of(op, case[0]) for op, case in cases(ids).items()}
    assert documented_operations() == served
    assert tested == served


# Refused first: the allowed calls change state (a loss approved, a consultant moved) that refusals must not see.
@pytest.mark.parametrize("who", ["refused", "allowed"])
async def test_every_row_lets_its_caller_in_and_keeps_the_other_out(stack: Any, who: str) -> None:
    services, ids = stack
    problems: list[str] = []
    async with httpx.AsyncClient(timeout=20) as client:
        for operation, (service, path, body, allowed, refused, status) in cases(ids).items():
            method = operation.split()[0]
            caller = allowed if who == "allowed" else refused
            response = await client.request(method, f"{services[service].url}{path}", json=body,
                                            headers=headers_of(caller))
            got = response.status_code
            if who == "allowed":
                out_of_scope = got == 404 and response.json()["error"]["code"] in OUT_OF_SCOPE
                if got in (401, 403) or (status == 404 and out_of_scope):
                    problems.append(f"{operation} as {caller}: {got} {response.text[:200]}")
            elif status == 200:  # a list: the refused caller gets it without the rows outside their scope
                if got != 200 or (response.json().get("leads") or []):
                    problems.append(f"{operation} as {caller}: {got} {response.text[:200]}")
            elif got != status:
                problems.append(f"{operation} as {caller}: expected {status}, got {got} {response.text[:200]}")
    assert problems == []


async def test_full_phones_go_to_the_owner_and_the_manager_masked_to_everyone_else(stack: Any) -> None:
    services, ids = stack
    url = f"{services['leads'].url}/v1/leads/{ids['lead']}"
    async with httpx.AsyncClient(timeout=10) as client:
        phones = {who: (await client.get(url, headers=WHO[who])).json()["phone"] for who in ("c1", "m1", "d1")}
        listed = (await client.get(f"{services['leads'].url}/v1/customers/leads?phone=13812345678",
                                   headers=WHO["d1"])).json()["leads"]
        history = (await client.get(url, headers=WHO["d1"])).json()["history"]
    assert phones == {"c1": "+8613812345678", "m1": "+8613812345678", "d1": "138****5678"}
    assert listed
    assert {row["phone"] for row in listed} == {"138****5678"}
    assert "13812345678" not in str(history)


async def test_the_actor_of_a_system_capture_is_the_token_subject(stack: Any) -> None:
    services, ids = stack
    async with httpx.AsyncClient(timeout=10) as client:
        detail = await eventually(
            lambda: client.get(f"{services['leads'].url}/v1/leads/{ids['lead']}", headers=WHO["d1"]),
            until=lambda r: r.status_code == 200, what="the lead")
    assert detail.json()["history"][0]["actor"] == "service-account-shop"



async def test_a_managers_order_lists_hold_their_team_and_the_shop_but_not_another_team(stack: Any) -> None:
    services, _ = stack
    orders = services["orders"].url
    async with httpx.AsyncClient(base_url=orders, timeout=20) as client:
        shop = await client.post("/v1/checkouts", headers=WHO["shop"], json={
            "shop_order_id": f"S-lists-{RUN_ID}", "customer_name": "孙八", "customer_phone": "13700002222",
            "lines": [{"product": "MUG", "unit_price_minor": 99_00}], "total_minor": 99_00, "paid_minor": 99_00,
            "currency": "CNY"})
        assert shop.status_code == 201, shop.text
        # An open order of c1 (team t1): the stack's own order was cancelled by the allowed cancellation above.
        quote = (await client.post("/v1/quotes", headers=WHO["c1"], json=quote_body("c1"))).json()
        assert (await client.post(f"/v1/quotes/{quote['quote_id']}/acceptance", headers=WHO["c1"],
                                  json={})).status_code == 200
        signed = await client.post(f"/v1/quotes/{quote['quote_id']}/contract", headers=WHO["c1"],
                                   json={"payment_plan": "full"})
        assert signed.status_code == 201, signed.text

        async def listed(path: str, who: str) -> Any:
            response = await client.get(path, headers=WHO[who])
            assert response.status_code == 200, response.text
            return response.json()

        def order_ids(rows: list[dict[str, Any]]) -> set[str]:
            return {row["order_id"] for row in rows}

        awaiting = {who: order_ids((await listed("/v1/orders/awaiting-delivery?limit=1000", who))["orders"])
                    for who in ("m1", "m2", "d1")}
        owed = {who: await listed("/v1/receivables?limit=1000", who) for who in ("m1", "m2")}
        of_c1 = {who: order_ids((await listed("/v1/orders?consultant_id=c1", who))["orders"]) for who in ("m1", "m2")}
    team_order, shop_order = signed.json()["order_id"], shop.json()["order_id"]
    assert {team_order, shop_order} <= awaiting["m1"]
    assert shop_order in awaiting["m2"]  # the shop's orders have no team: every manager's queue
    assert team_order not in awaiting["m2"]
    assert {team_order, shop_order} <= awaiting["d1"]
    assert team_order in order_ids(owed["m1"]["orders"])
    assert team_order not in order_ids(owed["m2"]["orders"])
    cny = {who: sum(t["owed_minor"] for t in owed[who]["totals"] if t["currency"] == "CNY") for who in owed}
    only_t1 = [row for row in owed["m1"]["orders"] if row["order_id"] not in order_ids(owed["m2"]["orders"])]
    assert cny["m1"] - cny["m2"] == sum(row["outstanding_minor"] for row in only_t1)  # m2's totals leave t1's out
    assert team_order in of_c1["m1"]
    assert of_c1["m2"] == set()


async def test_the_after_sales_lists_hold_the_callers_care_plans_only(stack: Any) -> None:
    services, ids = stack
    plan, complaint = ids["plan"], ids["complaint"]
    async with httpx.AsyncClient(base_url=services["aftersales"].url, timeout=20) as client:
        async def listed(path: str, key: str, field: str, who: str) -> set[str]:
            response = await client.get(path, headers=WHO[who])
            assert response.status_code == 200, response.text
            return {row[field] for row in response.json()[key]}

        visits = {who: await listed("/v1/visits?state=upcoming&limit=1000", "visits", "plan_id", who)
                  for who in ("c1", "c2", "m1", "m2", "d1")}
        complaints = {who: await listed("/v1/complaints?status=open&limit=1000", "complaints", "complaint_id", who)
                      | await listed("/v1/complaints?status=resolved&limit=1000", "complaints", "complaint_id", who)
                      for who in ("c1", "m1", "m2")}
    assert plan in visits["c1"]
    assert plan in visits["m1"]
    assert plan in visits["d1"]
    assert plan not in visits["c2"]  # same team, another consultant's customer
    assert plan not in visits["m2"]
    assert complaint in complaints["c1"]
    assert complaint in complaints["m1"]
    assert complaint not in complaints["m2"]


async def test_a_manager_whose_token_has_no_team_is_refused_rather_than_shown_anything(stack: Any) -> None:
    services, ids = stack
    calls = [("orders", "/v1/orders/awaiting-delivery"), ("orders", "/v1/receivables"),
             ("orders", f"/v1/orders/{ids['order']}"), ("aftersales", "/v1/visits"),
             ("aftersales", f"/v1/care-plans/{ids['plan']}"), ("reporting", "/v1/reports/funnel")]
    async with httpx.AsyncClient(timeout=20) as client:
        answers = {path: (await client.get(f"{services[service].url}{path}", headers=WHO["m0"])).status_code
                   for service, path in calls}
    assert answers == {path: 403 for _, path in calls}
