"""The customer page against real PostgreSQL: what orders and aftersales publish about a customer (quote, contract,
payment, complaint, points) lands in the leads service's read model through the consumer's handlers and shows on
one time-ordered timeline with a summary (orders with balance, points); a redelivered event shows once; after a
merge the survivor's page carries the duplicate's orders, complaints and points; a shop checkout's order and points
(under the shop's customer id) find the customer through the order; the page's access rule holds; and the timeline
pages newest first through every entry once while new ones arrive, refusing a cursor it did not give out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.leads.app.commands import CaptureLead
from services.leads.app.customer_card import MergeCustomers
from services.leads.domain.errors import CustomerNotFoundError
from services.leads.domain.lead import Lead
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal
from shared.contracts.aftersales import ComplaintOpenedV1, ComplaintResolvedV1, PointsAwardedV1
from shared.contracts.orders import ContractSignedV1, OrderLine, PaymentReceivedV1, QuoteIssuedV1, QuoteLine
from shared.domain import InvalidFieldError
from shared.pagination import encode_cursor
from tests.integration.leads.conftest import team_with
from tests.support.leads import T0, LeadsInProcess, ctx

pytestmark = pytest.mark.integration

DIRECTOR = Principal(subject="d1", roles=frozenset({"director"}))
PRICE = 250_000_00


@pytest.fixture(scope="module", autouse=True)
async def team(leads: LeadsInProcess) -> None:
    await team_with(leads, "west", ["w1"], manager="wm")


def at(hours: int) -> Any:
    return T0 + timedelta(hours=hours)


async def capture(leads: LeadsInProcess, phone: str, name: str = "冯七") -> Lead:
    return (await leads.capture(CaptureLead(name=name, phone=phone, channel="website", team_id="west"), ctx())).lead


def quote(quote_id: str, lead: Lead) -> QuoteIssuedV1:
    return QuoteIssuedV1(quote_id=quote_id, revision=1, lead_id=lead.id, customer_id=lead.customer_id,
                         consultant_id="w1", lines=[QuoteLine(product="MY", quantity=1, unit_price_minor=PRICE,
                                                              line_total_minor=PRICE)],
                         subtotal_minor=PRICE, discount_minor=0, total_minor=PRICE, currency="CNY",
                         valid_until=at(240), issued_at=at(1))


def contract(order_id: str, lead_id: str | None, customer_id: str, **extra: Any) -> ContractSignedV1:
    return ContractSignedV1(order_id=order_id, lead_id=lead_id, customer_id=customer_id,
                            lines=[OrderLine(product="MY", quantity=1, unit_price_minor=PRICE)], total_minor=PRICE,
                            currency="CNY", payment_plan="deposit_balance", signed_at=at(2), **extra)


def payment(order_id: str, amount: int) -> PaymentReceivedV1:
    return PaymentReceivedV1(order_id=order_id, payment_id=f"P-{order_id}", kind="deposit", amount_minor=amount,
                             currency="CNY", paid_total_minor=amount, received_at=at(3))


def complaint(complaint_id: str, customer_id: str, order_id: str | None) -> ComplaintOpenedV1:
    return ComplaintOpenedV1(complaint_id=complaint_id, customer_id=customer_id, order_id=order_id,
                             category="service", severity="high", opened_at=at(4), acknowledge_due_at=at(28),
                             resolve_due_at=at(52))


def points(customer_id: str, balance: int, reference: str) -> PointsAwardedV1:
    return PointsAwardedV1(customer_id=customer_id, points=balance, reason="delivery", reference=reference,
                           balance_after=balance, awarded_at=at(6))


async def test_orders_and_aftersales_events_show_on_one_timeline_with_the_orders_balance_and_points(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    lead = await capture(leads, phone())
    customer = lead.customer_id
    paid = uuid.uuid4()
    await leads.deliver(quote("Q-1", lead), key="Q-1", at=at(1))
    await leads.deliver(contract("O-1", lead.id, customer), key="O-1", at=at(2))
    await leads.deliver(payment("O-1", 50_000_00), key="O-1", at=at(3), event_id=paid)
    await leads.deliver(payment("O-1", 50_000_00), key="O-1", at=at(3), event_id=paid)  # redelivered
    await leads.deliver(complaint("K-1", customer, "O-1"), key="K-1", at=at(4))
    await leads.deliver(ComplaintResolvedV1(complaint_id="K-1", resolution="fixed", resolved_at=at(5)), key="K-1",
                        at=at(5))
    await leads.deliver(points(customer, 300, "delivery:O-1"), key=customer, at=at(6))

    page = await leads.overview.overview(DIRECTOR, customer)
    others = [(e["source"], e["event_type"]) for e in page["timeline"] if e["source"] != "leads"]
    assert others == [("orders", "QuoteIssued"), ("orders", "ContractSigned"), ("orders", "PaymentReceived"),
                      ("aftersales", "ComplaintOpened"), ("aftersales", "ComplaintResolved"),
                      ("aftersales", "PointsAwarded")]
    assert page["timeline"][0]["event_type"] == "LeadCreated"
    assert "StageAdvanced" in [e["event_type"] for e in page["timeline"] if e["source"] == "leads"]  # the contract
    times = [e["at"] for e in page["timeline"]]
    assert times == sorted(times, key=lambda t: t)
    resolved = next(e for e in page["timeline"] if e["event_type"] == "ComplaintResolved")
    assert resolved["order_id"] == "O-1"  # a subject-only event takes its complaint's ids
    [order] = page["summary"]["orders"]
    assert (order["order_id"], order["status"], order["total_minor"], order["paid_minor"], order["balance_minor"]) == (
        "O-1", "contract_signed", PRICE, 50_000_00, PRICE - 50_000_00)
    assert page["summary"]["balance_due_minor"] == {"CNY": PRICE - 50_000_00}
    assert page["summary"]["points"] == 300
    [open_lead] = page["summary"]["open_leads"]
    assert (open_lead["lead_id"], open_lead["stage"], open_lead["owner_id"]) == (lead.id, "contract_signed", "w1")


async def test_after_a_merge_the_survivors_page_carries_the_duplicates_orders_complaints_and_points(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    survivor, duplicate = await capture(leads, phone()), await capture(leads, phone())
    await leads.deliver(points(survivor.customer_id, 100, "delivery:O-x"), key=survivor.customer_id, at=at(6))
    await leads.deliver(contract("O-2", duplicate.id, duplicate.customer_id), key="O-2", at=at(2))
    await leads.deliver(complaint("K-2", duplicate.customer_id, None), key="K-2", at=at(4))
    await leads.deliver(points(duplicate.customer_id, 50, "referral:R-1"), key=duplicate.customer_id, at=at(6))
    await leads.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx())

    page = await leads.overview.overview(DIRECTOR, survivor.customer_id)
    assert page["merged_customer_ids"] == [duplicate.customer_id]
    assert [o["order_id"] for o in page["summary"]["orders"]] == ["O-2"]
    assert page["summary"]["points"] == 150
    assert {e["event_type"] for e in page["timeline"]} >= {"ComplaintOpened", "ContractSigned", "LeadCustomerMerged",
                                                           "CustomerMerged"}
    assert {lead["lead_id"] for lead in page["summary"]["leads"]} == {survivor.id, duplicate.id}
    with pytest.raises(CustomerNotFoundError):
        await leads.overview.overview(DIRECTOR, duplicate.customer_id)


async def test_a_shop_checkouts_order_and_points_find_the_customer_through_the_order(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    number = phone()
    lead = await capture(leads, number)
    await leads.deliver(contract("O-3", None, "SHOP-CUST-9", customer_name="冯七",
                                 customer_phone="+86" + number.replace(" ", ""), channel="online_shop"),
                        key="O-3", at=at(2))
    await leads.deliver(payment("O-3", PRICE), key="O-3", at=at(3))
    await leads.deliver(points("SHOP-CUST-9", 80, "delivery:O-3"), key="SHOP-CUST-9", at=at(6))

    page = await leads.overview.overview(DIRECTOR, lead.customer_id)
    [order] = page["summary"]["orders"]
    assert (order["order_id"], order["balance_minor"], order["customer_ref"]) == ("O-3", 0, "SHOP-CUST-9")
    assert page["summary"]["points"] == 80
    assert page["summary"]["balance_due_minor"] == {}


async def test_the_owner_the_teams_manager_and_a_director_open_the_page_others_do_not(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    lead = await capture(leads, phone())

    def person(subject: str, role: str, team: str | None) -> Principal:
        return Principal(subject=subject, roles=frozenset({role}), team_id=team)

    for allowed in (person("w1", "consultant", "west"), person("wm", "manager", "west"), DIRECTOR):
        page = await leads.overview.overview(allowed, lead.customer_id)
        assert page["customer_id"] == lead.customer_id
    assert (await leads.overview.overview(person("wm", "manager", "west"), lead.customer_id))["phone"].startswith(
        "+86")
    for unseen in (person("w2", "consultant", "west"), person("em", "manager", "east")):
        with pytest.raises(CustomerNotFoundError):
            await leads.overview.overview(unseen, lead.customer_id)
    reader = Principal(subject="bi", roles=frozenset(), scopes=frozenset({"leads:read"}))
    with pytest.raises(ForbiddenError):  # sees the leads, may not work with the customer
        await leads.overview.overview(reader, lead.customer_id)


async def all_pages(leads: LeadsInProcess, customer_id: str, limit: int) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        page = await leads.overview.timeline(DIRECTOR, customer_id, cursor=cursor, limit=limit)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_the_timeline_pages_newest_first_through_every_entry_once_while_new_ones_arrive(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    lead = await capture(leads, phone())
    customer = lead.customer_id
    await leads.deliver(quote("Q-7", lead), key="Q-7", at=at(1))
    await leads.deliver(contract("O-7", lead.id, customer), key="O-7", at=at(2))
    for hour in (3, 3, 4):  # two in one instant: the entry id breaks the tie
        await leads.deliver(payment("O-7", 10_000_00), key="O-7", at=at(hour))
    whole = (await leads.overview.overview(DIRECTOR, customer))["timeline"]
    assert len({e["id"] for e in whole}) == len(whole) > 6

    pages = await all_pages(leads, customer, limit=2)
    paged = [e for page in pages for e in page]

    def key(entry: dict[str, Any]) -> tuple[datetime, str]:
        return datetime.fromisoformat(entry["at"]), entry["id"]

    assert sorted(paged, key=key) == sorted(whole, key=key)
    assert [key(e) for e in paged] == sorted(map(key, paged), reverse=True)
    assert all(len(page) == 2 for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= 2  # no empty last page

    # Something newer arrives after the first page was read: the older pages neither repeat nor skip an entry.
    first = await leads.overview.timeline(DIRECTOR, customer, cursor=None, limit=3)
    await leads.deliver(complaint("K-7", customer, "O-7"), key="K-7", at=at(9))
    rest, cursor = [], first.next_cursor
    while cursor is not None:
        page = await leads.overview.timeline(DIRECTOR, customer, cursor=cursor, limit=3)
        rest += page.items
        cursor = page.next_cursor
    assert [e["id"] for e in first.items + rest] == [e["id"] for e in paged]
    newest = await leads.overview.timeline(DIRECTOR, customer, cursor=None, limit=1)
    assert newest.items[0]["event_type"] == "ComplaintOpened"


@pytest.mark.parametrize("cursor", ["not-a-cursor", encode_cursor("customer-search", ["x", 1])])
async def test_a_cursor_the_timeline_did_not_give_out_is_refused_naming_the_cursor(
        leads: LeadsInProcess, phone: Callable[[], str], cursor: str) -> None:
    lead = await capture(leads, phone())
    with pytest.raises(InvalidFieldError) as refused:
        await leads.overview.timeline(DIRECTOR, lead.customer_id, cursor=cursor, limit=10)
    assert refused.value.field == "cursor"
