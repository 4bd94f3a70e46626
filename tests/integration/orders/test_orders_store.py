"""The orders repository, timers and relay against real PostgreSQL and Kafka, in-process with a fake clock:
atomic multi-stream commits, the idempotent checkout under concurrency, quote expiry by the durable timer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import asyncpg
import pytest

from services.orders.adapters.publishing import to_public_message
from services.orders.adapters.queries import PostgresOrderQueries
from services.orders.adapters.repository import EventSourcedOrders, postgres_orders_units_of_work
from services.orders.adapters.timers import quote_expiry_handler
from services.orders.app.catalogue import CatalogueItemIn, PublishPriceList
from services.orders.app.checkout import CheckOutShopOrder
from services.orders.app.fulfilment import (
    CancelOrder,
    CompleteDeliveryChecklistItem,
    DeliverOrder,
    ReopenDeliveryChecklistItem,
)
from services.orders.app.payments import RecordPayment
from services.orders.app.ports import QUOTE_EXPIRY_TIMER, CommandContext
from services.orders.app.quotes import AcceptQuote, IssueQuote, ReviseQuote, SignContract
from services.orders.app.vehicles import AllocateVehicle, RegisterVehicle, ReleaseVehicle, SwapVehicle
from services.orders.domain.errors import (
    CheckoutConflictError,
    DeliveryNotReadyError,
    NoVehicleAvailableError,
    OrderDeliveredError,
    QuoteAlreadySignedError,
    QuoteExpiredError,
    VehicleAlreadyAllocatedError,
)
from services.orders.domain.products import ItemKind
from services.orders.main import build_handlers
from shared.db import create_pool
from shared.eventstore import ConcurrencyError, StreamOrderConflictError
from shared.eventstore.store import PostgresEventStore
from shared.messaging.relay import OutboxRelay, make_producer
from shared.messaging.topics import ensure_topics
from shared.timers import TimerRunner
from tests.support.infra import RUN_ID, Infra
from tests.support.orders_builders import CONFIG, T0, VALID_UNTIL, line_in, quote_line_in, valid_vin
from tests.support.orders_stack import create_orders_database, drop_database, read_by_keys

pytestmark = pytest.mark.integration
T = TypeVar("T")
U = TypeVar("U")

CTX = CommandContext(correlation_id="it-1", actor="tester")


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Stack:
    def __init__(self, dsn: str, pool: asyncpg.Pool) -> None:
        self.dsn = dsn
        self.pool = pool
        self.clock = FakeClock(T0)
        self.orders = EventSourcedOrders(PostgresEventStore(pool), pool)
        units_of_work = postgres_orders_units_of_work(pool, PostgresEventStore(pool))
        self.handlers = build_handlers(units_of_work, CONFIG, self.clock, _ids())
        self.timers = TimerRunner(pool=pool, handlers={QUOTE_EXPIRY_TIMER: quote_expiry_handler(units_of_work,
                                                                                               self.clock)},
                                  clock=self.clock)

    async def count(self, sql: str, *args: object) -> int:
        return int(await self.pool.fetchval(sql, *args))


def _ids() -> Callable[[], str]:
    return lambda: str(uuid.uuid4())


@pytest.fixture(scope="module")
async def stack(infra: Infra) -> AsyncIterator[Stack]:
    name, dsn = await create_orders_database(infra, "orders_it", migrated=True)
    pool = await create_pool(dsn, min_size=1, max_size=10)
    try:
        yield Stack(dsn, pool)
    finally:
        await pool.close()
        await drop_database(infra, name)


async def issue(stack: Stack, valid_until: datetime = VALID_UNTIL) -> str:
    stack.clock.now = T0
    result = await stack.handlers.issue_quote(IssueQuote(
        consultant_id="S-1", role="consultant", lines=[quote_line_in(100_00)], currency="CNY", valid_until=valid_until,
        lead_id="L-1"), CTX)
    return result.quote.id


async def test_two_concurrent_signings_of_one_quote_make_one_order_and_one_conflict(stack: Stack) -> None:
    quote_id = await issue(stack)
    await stack.handlers.accept_quote(AcceptQuote(quote_id), CTX)
    results = await asyncio.gather(
        *(stack.handlers.sign_contract(SignContract(quote_id, "full"), CTX) for _ in range(4)),
        return_exceptions=True,
    )
    orders = [r for r in results if not isinstance(r, BaseException)]
    assert len(orders) == 1, results
    # The losers either raced the append (409) or loaded after the winner committed (already signed); a
    # StreamOrderConflictError is the kernel's retryable 503.
    refused = (ConcurrencyError, QuoteAlreadySignedError, StreamOrderConflictError)
    assert all(isinstance(r, refused) for r in results if isinstance(r, BaseException)), results
    # Nothing of the losers was written: one ContractSigned, one summary row, the expiry timer cancelled.
    assert await stack.count("SELECT count(*) FROM events WHERE event_type = 'ContractSigned' AND "
                             "data->>'quote_id' = $1", quote_id) == 1
    assert await stack.count("SELECT count(*) FROM order_summaries WHERE order_id = $1", orders[0].order.id) == 1
    assert await stack.pool.fetchval("SELECT status FROM timers WHERE timer_id = $1",
                                     f"quote-expiry:{quote_id}") == "cancelled"


async def test_concurrent_checkouts_of_one_shop_order_create_exactly_one_order(stack: Stack) -> None:
    shop_order_id = f"SHOP-{RUN_ID}-race"
    command = CheckOutShopOrder(shop_order_id=shop_order_id, customer_name="李四", customer_phone="13900001111",
                                lines=[line_in(90_00)], total_minor=90_00, paid_minor=90_00, currency="CNY")
    results = await asyncio.gather(*(stack.handlers.check_out(command, CTX) for _ in range(6)))
    assert len({r.order.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await stack.count("SELECT count(*) FROM events WHERE event_type = 'ContractSigned' AND "
                             "data->>'shop_order_id' = $1", shop_order_id) == 1
    assert await stack.count("SELECT count(*) FROM shop_checkouts WHERE shop_order_id = $1", shop_order_id) == 1


async def test_concurrent_checkouts_of_one_shop_order_with_different_content_create_one_order_and_refuse_the_rest(
    stack: Stack
) -> None:
    shop_order_id = f"SHOP-{RUN_ID}-race-conflict"

    def command(units: int) -> CheckOutShopOrder:
        return CheckOutShopOrder(shop_order_id=shop_order_id, customer_name="李四", customer_phone="13900001111",
                                 lines=[line_in(90_00, units)], total_minor=90_00 * units,
                                 paid_minor=90_00 * units, currency="CNY")

    results = await asyncio.gather(*(stack.handlers.check_out(command(units), CTX) for units in range(1, 7)),
                                   return_exceptions=True)
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, CheckoutConflictError)]
    assert (len(created), len(refused)) == (1, 5), results
    assert {r.details["order_id"] for r in refused} == {created[0].order.id}
    assert await stack.count("SELECT count(*) FROM events WHERE event_type = 'ContractSigned' AND "
                             "data->>'shop_order_id' = $1", shop_order_id) == 1
    terms = await stack.pool.fetchval("SELECT terms FROM shop_checkouts WHERE shop_order_id = $1", shop_order_id)
    assert terms["total_minor"] == created[0].order.signed.total_minor  # type: ignore[union-attr]


async def test_a_refused_payment_leaves_events_and_summary_untouched(stack: Stack) -> None:
    quote_id = await issue(stack)
    await stack.handlers.accept_quote(AcceptQuote(quote_id), CTX)
    order = (await stack.handlers.sign_contract(SignContract(quote_id, "deposit_balance"), CTX)).order
    await stack.handlers.record_payment(RecordPayment(order.id, "deposit", 30_00, "CNY"), CTX)
    before = await stack.pool.fetchrow("SELECT * FROM order_summaries WHERE order_id = $1", order.id)
    with pytest.raises(Exception, match="owed"):
        await stack.handlers.record_payment(RecordPayment(order.id, "balance", 70_01, "CNY"), CTX)
    with pytest.raises(ConcurrencyError):
        await stack.handlers.record_payment(RecordPayment(order.id, "balance", 70_00, "CNY", expected_version=1),
                                            CTX)
    assert await stack.pool.fetchrow("SELECT * FROM order_summaries WHERE order_id = $1", order.id) == before
    assert before["outstanding_minor"] == 70_00
    receivables = await PostgresOrderQueries(stack.pool).receivables(1000)
    assert order.id in [o["order_id"] for o in receivables["orders"]]


async def test_the_expiry_timer_expires_a_quote_at_its_validity_and_the_relay_publishes_it(
    stack: Stack, infra: Infra
) -> None:
    quote_id = await issue(stack)
    await stack.handlers.accept_quote(AcceptQuote(quote_id), CTX)
    stack.clock.now = VALID_UNTIL - timedelta(seconds=1)
    await stack.timers.fire_due()
    assert (await stack.orders.quote(quote_id)).status == "accepted"  # type: ignore[union-attr]

    stack.clock.now = VALID_UNTIL
    await stack.timers.fire_due()
    types = [h["event_type"] for h in await stack.orders.history("quote", quote_id)]
    assert types == ["QuoteIssued", "QuoteAccepted", "QuoteExpired"]
    assert await stack.pool.fetchval("SELECT status FROM timers WHERE timer_id = $1",
                                     f"quote-expiry:{quote_id}") == "fired"
    with pytest.raises(QuoteExpiredError):
        await stack.handlers.sign_contract(SignContract(quote_id, "full"), CTX)

    topic = f"t{RUN_ID}it.orders"
    await ensure_topics(infra.kafka, [topic])
    producer = make_producer(infra.kafka, client_id="orders-it")
    await producer.start()
    # The running relay, not publish_once: other databases' open transactions on the same cluster can hold our
    # events back for a moment (commit-order safety), and run() keeps looking until they are visible.
    relay = OutboxRelay(dsn=stack.dsn, producer=producer, topic=topic, translate=to_public_message,
                        name="orders-it", poll_interval=0.2)
    task = asyncio.create_task(relay.run())
    try:
        published = await read_by_keys(infra.kafka, topic, {quote_id}, expect=3)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()
    assert [p.type for p in published] == ["QuoteIssued", "QuoteAccepted", "QuoteExpired"]
    assert published[-1].body["revision"] == 1
    assert published[-1].correlation_id == f"quote-expiry:{quote_id}"


async def test_a_revision_moves_the_expiry_so_the_old_date_no_longer_expires_it(stack: Stack) -> None:
    quote_id = await issue(stack)
    later = VALID_UNTIL + timedelta(days=3)
    await stack.handlers.revise_quote(ReviseQuote(quote_id, "consultant", [quote_line_in(95_00)], later), CTX)
    stack.clock.now = VALID_UNTIL + timedelta(hours=1)
    await stack.timers.fire_due()
    assert (await stack.orders.quote(quote_id)).status == "issued"  # type: ignore[union-attr]
    stack.clock.now = later
    await stack.timers.fire_due()
    assert (await stack.orders.quote(quote_id)).status == "expired"  # type: ignore[union-attr]


async def test_the_summary_table_can_be_rebuilt_from_the_order_streams(stack: Stack) -> None:
    quote_id = await issue(stack)
    await stack.handlers.accept_quote(AcceptQuote(quote_id), CTX)
    order = (await stack.handlers.sign_contract(SignContract(quote_id, "deposit_balance"), CTX)).order
    await stack.handlers.record_payment(RecordPayment(order.id, "deposit", 25_00, "CNY"), CTX)
    # Whole rows, updated_at too: the rebuild writes what the live path wrote (the fault suite compares them).
    before = [dict(r) for r in await stack.pool.fetch("SELECT * FROM order_summaries ORDER BY order_id")]
    await stack.pool.execute("DELETE FROM order_summaries")

    rebuilt = await stack.orders.rebuild_summaries()

    assert rebuilt == len(before)
    after = [dict(r) for r in await stack.pool.fetch("SELECT * FROM order_summaries ORDER BY order_id")]
    assert after == before
    assert next(r for r in after if r["order_id"] == order.id)["outstanding_minor"] == 75_00


# ---- vehicle allocation (real PostgreSQL: the vehicle's stream decides, vehicle_stock proposes) ---------------


PUBLICATIONS = itertools.count(1)


async def publish_trim(stack: Stack, trim: str) -> None:
    """A catalogue version with the test's own trim (so other tests' stock never matches its orders), starting
    after the previous test's (same clock: the later start, not the publication time, must decide)."""
    stack.clock.now = T0
    await stack.handlers.publish_price_list(PublishPriceList(
        currency="CNY", valid_from=T0 - timedelta(hours=1) + timedelta(seconds=next(PUBLICATIONS)),
        version_id=f"v-{trim}", items=[
            CatalogueItemIn(catalogue_id="MY", kind=ItemKind.MODEL, name="Model Y", price_minor=250_000_00),
            CatalogueItemIn(catalogue_id=trim, kind=ItemKind.TRIM, name="长续航", price_minor=280_000_00, model="MY"),
            CatalogueItemIn(catalogue_id="COL-WHITE", kind=ItemKind.COLOUR, name="珍珠白", price_minor=6_000_00)]),
        CTX)


async def vehicle_orders(stack: Stack, trim: str, count: int) -> list[str]:
    """``count`` signed orders for one white ``trim`` from the catalogue."""
    stack.clock.now = T0
    order_ids = []
    for _ in range(count):
        quote = await stack.handlers.issue_quote(IssueQuote(
            consultant_id="S-1", role="consultant", currency="CNY", valid_until=VALID_UNTIL, lead_id="L-1",
            lines=[quote_line_in(None, product=None, catalogue_id=trim),
                   quote_line_in(None, product=None, catalogue_id="COL-WHITE")]), CTX)
        await stack.handlers.accept_quote(AcceptQuote(quote.quote.id), CTX)
        order_ids.append((await stack.handlers.sign_contract(SignContract(quote.quote.id, "full"), CTX)).order.id)
    return order_ids


async def test_two_concurrent_allocations_of_the_last_vehicle_one_wins_the_other_is_refused(stack: Stack) -> None:
    trim = f"LR-{uuid.uuid4().hex[:6]}"
    await publish_trim(stack, trim)
    first, second = await vehicle_orders(stack, trim, 2)
    vin = valid_vin(int(uuid.uuid4().int % 1_000_000))
    await stack.handlers.register_vehicle(RegisterVehicle(vin=vin, model="MY", trim=trim, colour="COL-WHITE",
                                                          status="pdi_done"), CTX)
    for _ in range(5):  # the race is real each time: both load the free vehicle before either commits
        results = await asyncio.gather(stack.handlers.allocate_vehicle(AllocateVehicle(first), CTX),
                                       stack.handlers.allocate_vehicle(AllocateVehicle(second), CTX),
                                       return_exceptions=True)
        won = [r for r in results if not isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert all(isinstance(r, NoVehicleAvailableError) for r in results if isinstance(r, BaseException)), results
        winner = won[0].order.id
        held = await stack.count("SELECT count(*) FILTER (WHERE event_type = 'VehicleReserved') - count(*) FILTER "
                                 "(WHERE event_type = 'VehicleReleased') FROM events WHERE stream_id = $1",
                                 f"vehicle-{vin}")
        assert held == 1  # reserved once more than released: never by both
        assert await stack.pool.fetchval("SELECT order_id FROM vehicle_stock WHERE vin = $1", vin) == winner
        # Named by VIN, the loser is told whose it is; cancelling the winner frees it for the loser.
        loser = second if winner == first else first
        with pytest.raises(VehicleAlreadyAllocatedError):
            await stack.handlers.allocate_vehicle(AllocateVehicle(loser, vin=vin), CTX)
        await stack.handlers.cancel_order(CancelOrder(winner, "customer withdrew"), CTX)
        assert await stack.pool.fetchval("SELECT order_id FROM vehicle_stock WHERE vin = $1", vin) is None
        taken = await stack.handlers.allocate_vehicle(AllocateVehicle(loser), CTX)
        assert taken.order.vin == vin
        await stack.handlers.cancel_order(CancelOrder(loser, "next round"), CTX)
        first, second = await vehicle_orders(stack, trim, 2)


async def test_twenty_orders_racing_for_three_vehicles_get_three_distinct_ones(stack: Stack) -> None:
    trim = f"LR-{uuid.uuid4().hex[:6]}"
    await publish_trim(stack, trim)
    order_ids = await vehicle_orders(stack, trim, 20)
    vins = [valid_vin(int(uuid.uuid4().int % 1_000_000)) for _ in range(3)]
    for vin, status in zip(vins, ("ordered", "arrived", "pdi_done"), strict=True):
        await stack.handlers.register_vehicle(RegisterVehicle(vin=vin, model="MY", trim=trim, colour="COL-WHITE",
                                                              status=status), CTX)
    results = await asyncio.gather(*(stack.handlers.allocate_vehicle(AllocateVehicle(o), CTX) for o in order_ids),
                                   return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    assert sorted(r.order.vin or "" for r in won) == sorted(vins)
    assert sum(isinstance(r, NoVehicleAvailableError) for r in results) == 17, results
    rows = await stack.pool.fetch("SELECT vin, order_id FROM vehicle_stock WHERE vin = ANY($1)", vins)
    assert {r["vin"]: r["order_id"] for r in rows} == {r.order.vin: r.order.id for r in won}


# ---- release and swap (real PostgreSQL: the order's and the vehicles' streams decide together) ---------------


async def race(first: Awaitable[T], second: Awaitable[U], *, second_starts: bool) -> tuple[T | BaseException,
                                                                                      U | BaseException]:
    """Both commands at once, in the order asked (the one started first tends to win: alternating the start
    exercises both outcomes); their answers or errors, in the order given."""
    if second_starts:
        b, a = await asyncio.gather(second, first, return_exceptions=True)
    else:
        a, b = await asyncio.gather(first, second, return_exceptions=True)
    return a, b


async def stock(stack: Stack, trim: str, count: int) -> list[str]:
    vins = [valid_vin(int(uuid.uuid4().int % 1_000_000)) for _ in range(count)]
    for vin in vins:
        await stack.handlers.register_vehicle(RegisterVehicle(vin=vin, model="MY", trim=trim, colour="COL-WHITE",
                                                              status="pdi_done"), CTX)
    return vins


async def holder(stack: Stack, vin: str) -> str | None:
    """Who holds the vehicle, by its stream (reserved minus released) and its stock row, which must agree."""
    rows = await stack.pool.fetch("SELECT event_type, data->>'order_id' AS order_id FROM events WHERE stream_id = $1 "
                                  "ORDER BY version", f"vehicle-{vin}")
    held: list[str] = [r["order_id"] for r in rows if r["event_type"] == "VehicleReserved"]
    released: list[str] = [r["order_id"] for r in rows if r["event_type"] == "VehicleReleased"]
    assert len(held) - len(released) in (0, 1), rows  # never reserved twice without a release between
    by_stream = held[-1] if len(held) > len(released) else None
    assert await stack.pool.fetchval("SELECT order_id FROM vehicle_stock WHERE vin = $1", vin) == by_stream
    return by_stream


async def test_a_swap_racing_an_allocation_of_the_same_vehicle_one_wins_and_no_vehicle_is_held_twice(
        stack: Stack) -> None:
    trim = f"LR-{uuid.uuid4().hex[:6]}"
    await publish_trim(stack, trim)
    for round_ in range(6):
        swapper, allocator = await vehicle_orders(stack, trim, 2)
        current, target = await stock(stack, trim, 2)
        await stack.handlers.allocate_vehicle(AllocateVehicle(swapper, vin=current), CTX)
        swap, allocation = await race(
            stack.handlers.swap_vehicle(SwapVehicle(swapper, vin=target, reason="the customer wants that one"), CTX),
            stack.handlers.allocate_vehicle(AllocateVehicle(allocator, vin=target), CTX), second_starts=round_ % 2 == 1)
        assert isinstance(swap, BaseException) != isinstance(allocation, BaseException), (swap, allocation)
        swapper_order = await stack.orders.order(swapper)
        allocator_order = await stack.orders.order(allocator)
        assert swapper_order is not None
        assert allocator_order is not None
        if isinstance(allocation, BaseException):
            assert isinstance(allocation, VehicleAlreadyAllocatedError), allocation
            assert (swapper_order.vin, allocator_order.vin) == (target, None)
            assert (await holder(stack, target), await holder(stack, current)) == (swapper, None)
        else:
            assert isinstance(swap, VehicleAlreadyAllocatedError), swap
            assert (swapper_order.vin, allocator_order.vin) == (current, target)
            assert (await holder(stack, target), await holder(stack, current)) == (allocator, swapper)
            assert "VehicleDeallocated" not in [e["event_type"] for e in await stack.orders.history("order", swapper)]


async def ready_to_deliver(stack: Stack, trim: str) -> tuple[str, str]:
    """A paid order holding a PDI-done vehicle with its whole checklist done: deliverable right now."""
    (order_id,) = await vehicle_orders(stack, trim, 1)
    (vin,) = await stock(stack, trim, 1)
    order = (await stack.handlers.allocate_vehicle(AllocateVehicle(order_id, vin=vin), CTX)).order
    await stack.handlers.record_payment(RecordPayment(order_id, "full", order.total_minor, "CNY"), CTX)
    for item in CONFIG.delivery_checklist(None).item_ids:
        await stack.handlers.complete_checklist_item(CompleteDeliveryChecklistItem(order_id, item), CTX)
    return order_id, vin


async def test_a_release_racing_the_delivery_never_delivers_an_order_without_its_vehicle(stack: Stack) -> None:
    trim = f"LR-{uuid.uuid4().hex[:6]}"
    await publish_trim(stack, trim)
    for round_ in range(6):
        order_id, vin = await ready_to_deliver(stack, trim)
        release, delivery = await race(
            stack.handlers.release_vehicle(ReleaseVehicle(order_id, reason="damage found at handover"), CTX),
            stack.handlers.deliver_order(DeliverOrder(order_id), CTX), second_starts=round_ % 2 == 1)
        assert isinstance(release, BaseException) != isinstance(delivery, BaseException), (release, delivery)
        order = await stack.orders.order(order_id)
        vehicle = await stack.orders.vehicle(vin)
        assert order is not None
        assert vehicle is not None
        events = await stack.orders.history("order", order_id)
        if isinstance(release, BaseException):  # delivered first: with its vehicle, which stays handed over
            assert isinstance(release, OrderDeliveredError), release
            delivered = [e for e in events if e["event_type"] == "Delivered"]
            assert len(delivered) == 1
            assert delivered[0]["data"]["vin"] == vin
            assert (order.status.value, order.vin, vehicle.status, vehicle.order_id) == (
                "delivered", vin, "delivered", order_id)
        else:  # released first: the delivery was decided again and refused for want of a vehicle
            assert isinstance(delivery, DeliveryNotReadyError), delivery
            assert "no vehicle is allocated" in delivery.message
            assert "Delivered" not in [e["event_type"] for e in events]
            assert (order.status.value, order.vin, vehicle.status, await holder(stack, vin)) == (
                "signed", None, "pdi_done", None)


async def test_a_checklist_item_reopened_while_the_order_is_delivered_either_stops_the_delivery_or_is_refused(
        stack: Stack) -> None:
    trim = f"LR-{uuid.uuid4().hex[:6]}"
    await publish_trim(stack, trim)
    for round_ in range(6):
        order_id, vin = await ready_to_deliver(stack, trim)
        reopen, delivery = await race(
            stack.handlers.reopen_checklist_item(ReopenDeliveryChecklistItem(order_id, "invoice", "wrong buyer"), CTX),
            stack.handlers.deliver_order(DeliverOrder(order_id), CTX), second_starts=round_ % 2 == 1)
        assert isinstance(reopen, BaseException) != isinstance(delivery, BaseException), (reopen, delivery)
        order = await stack.orders.order(order_id)
        assert order is not None
        types = [e["event_type"] for e in await stack.orders.history("order", order_id)]
        if isinstance(reopen, BaseException):  # delivered first, with every item done
            assert isinstance(reopen, OrderDeliveredError), reopen
            assert (order.status.value, "invoice" in order.checklist_done) == ("delivered", True)
            assert "DeliveryChecklistItemReopened" not in types
        else:  # reopened first: the delivery, decided again, names the open item
            assert isinstance(delivery, DeliveryNotReadyError), delivery
            assert delivery.details["open_items"] == ["invoice"]
            assert (order.status.value, "invoice" in order.checklist_done) == ("signed", False)
            assert "Delivered" not in types
            assert await holder(stack, vin) == order_id
