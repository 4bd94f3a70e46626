"""Customer search against real PostgreSQL (pg_trgm indexes, migration 0009): a number typed in another format
finds its customer exactly, the last four digits and any part of a Chinese name find it too, exact matches rank
first, a merged duplicate's number finds the survivor once, callers find only the customers they may work, and the
cursor pages through every match exactly once."""

from __future__ import annotations

import pytest

from services.leads.adapters.customer_search import PostgresCustomerSearch
from services.leads.app.commands import CaptureLead
from services.leads.app.customer_card import MergeCustomers
from services.leads.app.customer_search import (
    CustomerSearchScope,
    Match,
    customer_search_scope,
    search_terms,
)
from services.leads.domain.lead import Lead
from shared.auth.principal import Principal
from shared.domain import InvalidFieldError
from tests.integration.leads.conftest import team_with
from tests.support.leads import LeadsInProcess, ctx

pytestmark = pytest.mark.integration

DIRECTOR = CustomerSearchScope(everyone=True)


@pytest.fixture(scope="module", autouse=True)
async def teams(leads: LeadsInProcess) -> None:
    await team_with(leads, "north", ["n1", "n2"], manager="nm")
    await team_with(leads, "south", ["s1"], manager="sm")


async def capture(leads: LeadsInProcess, name: str, phone: str, team: str = "north") -> Lead:
    return (await leads.capture(CaptureLead(name=name, phone=phone, channel="website", team_id=team), ctx())).lead


async def found(leads: LeadsInProcess, q: str, scope: CustomerSearchScope = DIRECTOR) -> list[tuple[str, Match]]:
    page = await PostgresCustomerSearch(leads.pool).search(search_terms(q), scope, cursor=None, limit=200)
    return [(row["customer_id"], Match(row["match"])) for row in page.items]


async def test_a_number_in_another_format_finds_its_customer_and_the_last_digits_do_too(
        leads: LeadsInProcess) -> None:
    lead = await capture(leads, "赵一", "139 1234 0001")
    assert await found(leads, "+86-139-1234-0001") == [(lead.customer_id, Match.PHONE)]
    assert await found(leads, "８６１３９１２３４０００１") == [(lead.customer_id, Match.PHONE)]  # full-width
    assert (lead.customer_id, Match.PHONE_LAST_DIGITS) in await found(leads, "40001")
    assert await found(leads, "+86 139 9999 0001") == []


async def test_a_chinese_name_is_found_by_its_start_and_any_part_exact_matches_first(leads: LeadsInProcess) -> None:
    exact = await capture(leads, "欧阳小明", "139 1234 0101")
    longer = await capture(leads, "欧阳小明珠", "139 1234 0102")
    other = await capture(leads, "李小明", "139 1234 0103")
    assert await found(leads, "欧阳小明") == [(exact.customer_id, Match.NAME), (longer.customer_id, Match.NAME_PREFIX)]
    by_part = await found(leads, "小明")
    assert {customer for customer, _ in by_part} >= {exact.customer_id, longer.customer_id, other.customer_id}
    assert all(match is Match.NAME_PART for _, match in by_part)
    assert [c for c, _ in await found(leads, "欧阳")] == sorted([exact.customer_id, longer.customer_id])


async def test_like_wildcards_in_the_box_are_only_characters(leads: LeadsInProcess) -> None:
    await capture(leads, "孙五", "139 1234 0201")
    assert await found(leads, "%") == []
    assert await found(leads, "孙_") == []


async def test_a_merged_duplicates_number_finds_the_survivor_once(leads: LeadsInProcess) -> None:
    survivor = await capture(leads, "钱二", "139 1234 0301")
    duplicate = await capture(leads, "钱二", "139 1234 0302")
    await leads.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx())
    assert await found(leads, "13912340302") == [(survivor.customer_id, Match.PHONE)]
    assert [c for c, _ in await found(leads, "钱二")] == [survivor.customer_id]


async def test_callers_find_only_the_customers_they_may_work(leads: LeadsInProcess) -> None:
    north = await capture(leads, "周三", "139 1234 0401", team="north")
    south = await capture(leads, "周三", "139 1234 0402", team="south")

    def person(subject: str, role: str, team: str) -> CustomerSearchScope:
        return customer_search_scope(Principal(subject=subject, roles=frozenset({role}), team_id=team))

    assert {c for c, _ in await found(leads, "周三", person("nm", "manager", "north"))} == {north.customer_id}
    assert {c for c, _ in await found(leads, "周三", person("sm", "manager", "south"))} == {south.customer_id}
    assert north.owner_id is not None
    assert {c for c, _ in await found(leads, "周三", person(north.owner_id, "consultant", "north"))} == {
        north.customer_id}
    colleague = "n2" if north.owner_id == "n1" else "n1"
    assert await found(leads, "周三", person(colleague, "consultant", "north")) == []


async def test_the_cursor_pages_through_every_match_once_best_first(leads: LeadsInProcess) -> None:
    customers = [(await capture(leads, f"吴{'甲乙丙丁戊己'[n]}", f"139 1234 05{n:02d}")).customer_id
                 for n in range(6)]
    exact = (await capture(leads, "吴", "139 1234 0599")).customer_id
    search = PostgresCustomerSearch(leads.pool)
    pages, cursor = [], None
    while True:
        page = await search.search(search_terms("吴"), DIRECTOR, cursor=cursor, limit=2)
        pages.append([row["customer_id"] for row in page.items])
        if (cursor := page.next_cursor) is None:
            break
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [c for p in pages for c in p] == [exact, *sorted(customers)]
    with pytest.raises(InvalidFieldError) as bad:
        await search.search(search_terms("吴"), DIRECTOR, cursor="not-a-cursor", limit=2)
    assert bad.value.field == "cursor"


async def test_the_vin_and_plate_of_a_customers_order_find_the_customer_first_and_a_released_vin_no_longer(
        leads: LeadsInProcess) -> None:
    from datetime import UTC, datetime

    from shared.contracts.orders import (
        ContractSignedV1,
        DeliveryChecklistItemCompletedV1,
        OrderLine,
        VehicleAllocatedV1,
        VehicleDeallocatedV1,
    )

    now = datetime.now(UTC)
    buyer = await capture(leads, "郑八", "139 1234 0601")
    shop_buyer = await capture(leads, "王九", "139 1234 0602")

    def signed(order_id: str, lead_id: str | None, phone: str | None = None) -> ContractSignedV1:
        return ContractSignedV1(order_id=order_id, lead_id=lead_id, customer_phone=phone, customer_name="王九",
                                lines=[OrderLine(product="MY", quantity=1, unit_price_minor=1)], total_minor=1,
                                currency="CNY", payment_plan="full", signed_at=now)

    await leads.deliver(signed("O-V1", buyer.id), key="O-V1")
    await leads.deliver(VehicleAllocatedV1(order_id="O-V1", vin="LRW3E7FA5NC100001", model="MY",
                                           vehicle_status="pdi_done", allocated_at=now), key="O-V1")
    await leads.deliver(DeliveryChecklistItemCompletedV1(order_id="O-V1", item="registration", reference="沪A 66601",
                                                         completed_at=now), key="O-V1")
    # A checkout without a lead id: found through the reaction's order → lead link.
    await leads.deliver(signed("O-V2", None, "+8613912340602"), key="O-V2")
    await leads.deliver(VehicleAllocatedV1(order_id="O-V2", vin="LRW3E7FA5NC100002", model="MY",
                                           vehicle_status="arrived", allocated_at=now), key="O-V2")

    assert await found(leads, "lrw3e7fa5nc100001") == [(buyer.customer_id, Match.VIN)]
    assert await found(leads, "沪a·66601") == [(buyer.customer_id, Match.PLATE)]
    assert await found(leads, "LRW3E7FA5NC100002") == [(shop_buyer.customer_id, Match.VIN)]
    page = await leads.overview.overview(Principal(subject="d", roles=frozenset({"director"})), buyer.customer_id)
    assert [(o["vin"], o["plate"]) for o in page["summary"]["orders"]] == [("LRW3E7FA5NC100001", "沪A66601")]

    await leads.deliver(VehicleDeallocatedV1(order_id="O-V2", vin="LRW3E7FA5NC100002", reason="order_cancelled",
                                             deallocated_at=now), key="O-V2")
    assert await found(leads, "LRW3E7FA5NC100002") == []


async def test_a_swapped_vehicle_is_found_by_its_new_vin_only_though_both_events_carry_one_time(
        leads: LeadsInProcess) -> None:
    """orders publishes a swap as VehicleDeallocated (reason swapped) then VehicleAllocated, from one transaction and
    so with the same time: applied in stream order, the customer is found by the new VIN and no longer the old."""
    from datetime import UTC, datetime

    from shared.contracts.orders import ContractSignedV1, OrderLine, VehicleAllocatedV1, VehicleDeallocatedV1

    signed_at, swapped_at = datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 2, 9, tzinfo=UTC)
    buyer = await capture(leads, "冯十", "139 1234 0701")
    old, new = "LRW3E7FA5NC100071", "LRW3E7FA5NC100072"
    await leads.deliver(ContractSignedV1(order_id="O-SW", lead_id=buyer.id, lines=[OrderLine(
        product="MY", quantity=1, unit_price_minor=1)], total_minor=1, currency="CNY", payment_plan="full",
        signed_at=signed_at), key="O-SW", at=signed_at)
    await leads.deliver(VehicleAllocatedV1(order_id="O-SW", vin=old, model="MY", vehicle_status="pdi_done",
                                           allocated_at=signed_at), key="O-SW", at=signed_at)
    await leads.deliver(VehicleDeallocatedV1(order_id="O-SW", vin=old, reason="swapped", replaced_by=new,
                                             note="scratched", deallocated_by="S-1", deallocated_at=swapped_at),
                        key="O-SW", at=swapped_at)
    await leads.deliver(VehicleAllocatedV1(order_id="O-SW", vin=new, model="MY", vehicle_status="arrived",
                                           allocated_at=swapped_at), key="O-SW", at=swapped_at)
    assert await found(leads, old) == []
    assert await found(leads, new) == [(buyer.customer_id, Match.VIN)]


async def test_a_reopened_registration_no_longer_finds_the_customer_by_its_plate_and_the_new_plate_does(
        leads: LeadsInProcess) -> None:
    from datetime import UTC, datetime, timedelta

    from shared.contracts.orders import (
        ContractSignedV1,
        DeliveryChecklistItemCompletedV1,
        DeliveryChecklistItemReopenedV1,
        OrderLine,
    )

    t0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
    buyer = await capture(leads, "陈十一", "139 1234 0801")
    await leads.deliver(ContractSignedV1(order_id="O-RE", lead_id=buyer.id, lines=[OrderLine(
        product="MY", quantity=1, unit_price_minor=1)], total_minor=1, currency="CNY", payment_plan="full",
        signed_at=t0), key="O-RE", at=t0)
    await leads.deliver(DeliveryChecklistItemCompletedV1(order_id="O-RE", item="registration", reference="沪A 80101",
                                                         completed_at=t0), key="O-RE", at=t0)
    assert await found(leads, "沪A80101") == [(buyer.customer_id, Match.PLATE)]
    reopened_at = t0 + timedelta(hours=1)
    await leads.deliver(DeliveryChecklistItemReopenedV1(order_id="O-RE", item="registration", reason="wrong car",
                                                        reopened_at=reopened_at), key="O-RE", at=reopened_at)
    assert await found(leads, "沪A80101") == []
    # A backfill (services/leads backfill-timeline) replays the order's events in topic order, under new ids: the
    # completion, older than the row, fills the plate the row lacks; the reopen after it clears it again.
    await leads.deliver(DeliveryChecklistItemCompletedV1(order_id="O-RE", item="registration", reference="沪A 80101",
                                                         completed_at=t0), key="O-RE", at=t0)
    await leads.deliver(DeliveryChecklistItemReopenedV1(order_id="O-RE", item="registration", reason="wrong car",
                                                        reopened_at=reopened_at), key="O-RE", at=reopened_at)
    assert await found(leads, "沪A80101") == []
    again = t0 + timedelta(hours=2)
    await leads.deliver(DeliveryChecklistItemCompletedV1(order_id="O-RE", item="registration", reference="沪A 80102",
                                                         completed_at=again), key="O-RE", at=again)
    assert await found(leads, "沪A80102") == [(buyer.customer_id, Match.PLATE)]
