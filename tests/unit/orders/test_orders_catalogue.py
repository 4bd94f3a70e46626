"""The price list and quotes priced from it: the version in force on a date, quote lines at the list price of the
quote's date, typed-down prices counted by the one discount policy."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from services.orders.app.catalogue import CatalogueItemIn, PublishPriceList, PublishPriceListHandler
from services.orders.app.ports import CommandContext
from services.orders.app.quotes import IssueQuote, IssueQuoteHandler, ReviseQuote, ReviseQuoteHandler
from services.orders.app.terms import QuoteLineIn
from services.orders.domain.catalogue import PriceList
from services.orders.domain.errors import (
    CatalogueItemUnknownError,
    DiscountNeedsApprovalError,
    NoPriceListInForceError,
    PriceListVersionTakenError,
)
from services.orders.domain.lines import Discount, Line, price
from services.orders.domain.products import CatalogueItem, ItemKind
from shared.domain import InvalidFieldError
from tests.support.orders_builders import CONFIG, POLICY, T0
from tests.support.orders_memory import InMemoryOrders

CTX = CommandContext(correlation_id="c-1", actor="d1")
DEC = datetime(2026, 12, 1, tzinfo=T0.tzinfo)
JAN = datetime(2027, 1, 1, tzinfo=T0.tzinfo)


def items(car_price: int = 250_000_00) -> list[CatalogueItemIn]:
    return [
        CatalogueItemIn(catalogue_id="MY", kind=ItemKind.MODEL, name="Model Y", price_minor=car_price),
        CatalogueItemIn(catalogue_id="MY-LR", kind=ItemKind.TRIM, name="长续航版", price_minor=car_price + 30_000_00,
                        model="MY"),
        CatalogueItemIn(catalogue_id="MAT", kind=ItemKind.ACCESSORY, name="脚垫", price_minor=800_00),
        CatalogueItemIn(catalogue_id="INS", kind=ItemKind.INSURANCE, name="商业险", price_minor=6_000_00),
        CatalogueItemIn(catalogue_id="PLATE", kind=ItemKind.PLATES, name="上牌服务", price_minor=500_00),
    ]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


_SEQUENCE = itertools.count(1)


def ids() -> str:
    return f"id-{next(_SEQUENCE)}"


async def publish(store: InMemoryOrders, clock: Clock, *, valid_from: datetime, car_price: int,
                  valid_until: datetime | None = None, version_id: str | None = None) -> None:
    handler = PublishPriceListHandler(unit_of_work=store, clock=clock, new_id=ids, config=CONFIG)
    await handler(PublishPriceList(currency="CNY", valid_from=valid_from, valid_until=valid_until,
                                   items=items(car_price), version_id=version_id), CTX)


async def issue(store: InMemoryOrders, clock: Clock, *lines: QuoteLineIn, role: str = "consultant"
                ) -> dict[str, object]:
    handler = IssueQuoteHandler(unit_of_work=store, clock=clock, new_id=ids, config=CONFIG)
    result = await handler(IssueQuote(consultant_id="c1", role=role, lines=list(lines), currency="CNY",
                                      valid_until=clock.now + timedelta(days=7), lead_id="L-1"), CTX)
    q = result.quote
    return {"id": q.id, "lines": q.lines, "subtotal": q.subtotal_minor, "total": q.total_minor}


def price_list(*versions: tuple[datetime, datetime | None, int]) -> PriceList:
    pl = PriceList.for_currency("CNY")
    for n, (start, end, car) in enumerate(versions):
        pl.publish(version_id=f"v{n}", valid_from=start, valid_until=end, published_by="d1", now=T0,
                   items=[CatalogueItem(catalogue_id="MY", kind=ItemKind.MODEL, name="Model Y", price_minor=car)])
    return pl


def test_the_version_in_force_is_the_latest_started_one_that_has_not_ended() -> None:
    pl = price_list((DEC, None, 100), (JAN, None, 200), (JAN + timedelta(days=10), JAN + timedelta(days=17), 150))
    assert pl.in_force_on(DEC - timedelta(seconds=1)) is None
    assert pl.require_in_force_on(DEC).version_id == "v0"
    assert pl.require_in_force_on(JAN - timedelta(seconds=1)).version_id == "v0"
    assert pl.require_in_force_on(JAN).version_id == "v1"
    assert pl.require_in_force_on(JAN + timedelta(days=12)).version_id == "v2"  # the promotion week
    assert pl.require_in_force_on(JAN + timedelta(days=17)).version_id == "v1"  # back to the list after it
    with pytest.raises(NoPriceListInForceError):
        pl.require_in_force_on(DEC - timedelta(days=1))


def test_a_version_is_checked_whole_and_named_once() -> None:
    pl = price_list((DEC, None, 100))
    with pytest.raises(PriceListVersionTakenError):
        pl.publish(version_id="v0", valid_from=JAN, valid_until=None, published_by="d1", now=T0,
                   items=[CatalogueItem(catalogue_id="MY", kind=ItemKind.MODEL, name="Y", price_minor=1)])
    bad = [
        ([CatalogueItem(catalogue_id="MY", kind=ItemKind.MODEL, name="Y", price_minor=0)], "items.0.price_minor"),
        ([CatalogueItem(catalogue_id="A", kind=ItemKind.MODEL, name="Y", price_minor=1),
          CatalogueItem(catalogue_id="A", kind=ItemKind.TRIM, name="Z", price_minor=1)], "items.1.catalogue_id"),
        ([CatalogueItem(catalogue_id="T", kind=ItemKind.TRIM, name="Z", price_minor=1, model="NOPE")],
         "items.0.model"),
        ([], "items"),
    ]
    for its, field in bad:
        with pytest.raises(InvalidFieldError) as refused:
            pl.publish(version_id="x", valid_from=JAN, valid_until=None, published_by="d1", now=T0, items=its)
        assert refused.value.field == field
    with pytest.raises(InvalidFieldError) as backwards:
        pl.publish(version_id="x", valid_from=JAN, valid_until=DEC, published_by="d1", now=T0, items=[])
    assert backwards.value.field == "valid_until"
    assert len(pl.versions) == 1


async def test_a_quote_takes_the_list_price_in_force_on_its_date() -> None:
    store, clock = InMemoryOrders(), Clock(T0)
    await publish(store, clock, valid_from=DEC, car_price=250_000_00)
    await publish(store, clock, valid_from=JAN, car_price=260_000_00)
    clock.now = DEC + timedelta(days=3)
    quote = await issue(store, clock, QuoteLineIn(catalogue_id="MY-LR"), QuoteLineIn(catalogue_id="MAT", quantity=2),
                        QuoteLineIn(catalogue_id="INS"), QuoteLineIn(catalogue_id="PLATE"))
    lines = quote["lines"]
    assert isinstance(lines, tuple)
    assert [(x.catalogue_id, x.kind, x.unit_price_minor, x.list_price_minor, x.description) for x in lines] == [
        ("MY-LR", "trim", 280_000_00, 280_000_00, "长续航版"), ("MAT", "accessory", 800_00, 800_00, "脚垫"),
        ("INS", "insurance", 6_000_00, 6_000_00, "商业险"), ("PLATE", "plates", 500_00, 500_00, "上牌服务")]
    assert quote["total"] == 280_000_00 + 2 * 800_00 + 6_000_00 + 500_00
    clock.now = JAN + timedelta(days=1)
    january = await issue(store, clock, QuoteLineIn(catalogue_id="MY"))
    assert january["total"] == 260_000_00


async def test_a_revision_keeps_the_list_prices_of_the_quote_date() -> None:
    store, clock = InMemoryOrders(), Clock(T0)
    await publish(store, clock, valid_from=DEC, car_price=250_000_00)
    await publish(store, clock, valid_from=JAN, car_price=260_000_00)
    clock.now = JAN - timedelta(days=1)
    quote = await issue(store, clock, QuoteLineIn(catalogue_id="MY"))
    clock.now = JAN + timedelta(days=1)
    revised = await ReviseQuoteHandler(unit_of_work=store, clock=clock, config=CONFIG)(  # type: ignore[arg-type]
        ReviseQuote(str(quote["id"]), "consultant", [QuoteLineIn(catalogue_id="MY"), QuoteLineIn(catalogue_id="MAT")],
                    clock.now + timedelta(days=3)), CTX)
    assert revised.quote.total_minor == 250_000_00 + 800_00


async def test_a_typed_price_below_the_list_is_a_discount_under_the_same_rules() -> None:
    store, clock = InMemoryOrders(), Clock(DEC + timedelta(days=1))
    await publish(store, clock, valid_from=DEC, car_price=250_000_00)
    # 3 % is a consultant's limit: 7 500 yuan off 250 000 is within it, one fen more is not.
    within = await issue(store, clock, QuoteLineIn(catalogue_id="MY", unit_price_minor=242_500_00))
    assert within["total"] == 242_500_00
    with pytest.raises(DiscountNeedsApprovalError) as refused:
        await issue(store, clock, QuoteLineIn(catalogue_id="MY", unit_price_minor=242_500_00 - 1))
    assert refused.value.details["below_list_minor"] == 7_500_00 + 1
    manager = await issue(store, clock, QuoteLineIn(catalogue_id="MY", unit_price_minor=230_000_00),
                          role="sales_manager")
    assert manager["total"] == 230_000_00


def test_typed_down_prices_and_the_quote_discount_add_up_against_the_limit() -> None:
    typed_down = Line(product="MY", quantity=1, unit_price_minor=98_00, list_price_minor=100_00, catalogue_id="MY")
    pricing = price([typed_down], Discount(kind="amount", amount_minor=2_00))
    assert (pricing.concession_minor, pricing.list_subtotal_minor) == (4_00, 100_00)
    with pytest.raises(DiscountNeedsApprovalError):  # 2 % + 2 % > 3 %
        POLICY.check(role="consultant", pricing=pricing, approval=None)
    POLICY.check(role="sales_manager", pricing=pricing, approval=None)


async def test_catalogue_lines_are_refused_naming_the_field() -> None:
    store, clock = InMemoryOrders(), Clock(DEC - timedelta(days=1))
    with pytest.raises(NoPriceListInForceError):
        await issue(store, clock, QuoteLineIn(catalogue_id="MY"))
    await publish(store, clock, valid_from=DEC - timedelta(days=2), car_price=250_000_00)
    with pytest.raises(CatalogueItemUnknownError) as unknown:
        await issue(store, clock, QuoteLineIn(catalogue_id="MY"), QuoteLineIn(catalogue_id="NOPE"))
    assert unknown.value.details["field"] == "lines.1.catalogue_id"
    with pytest.raises(InvalidFieldError) as above:
        await issue(store, clock, QuoteLineIn(catalogue_id="MY", unit_price_minor=250_000_01))
    assert above.value.field == "lines.0.unit_price_minor"
    with pytest.raises(InvalidFieldError) as nothing:
        await issue(store, clock, QuoteLineIn(quantity=1))
    assert nothing.value.field == "lines.0.product"
    assert not [s for s in store.streams if s.startswith("quote-")]


async def test_hand_typed_lines_still_need_no_price_list() -> None:
    store, clock = InMemoryOrders(), Clock(T0)
    quote = await issue(store, clock, QuoteLineIn(product="MODEL-Y", unit_price_minor=100_00))
    assert quote["total"] == 100_00

