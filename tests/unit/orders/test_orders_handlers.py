"""Command handlers against an in-memory store: what is committed together, stale versions, idempotent
checkout, the expiry command."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from services.orders.app.checkout import CheckOutShopOrder, CheckOutShopOrderHandler
from services.orders.app.common import OrderNotFoundError, QuoteNotFoundError
from services.orders.app.payments import RecordPayment, RecordPaymentHandler
from services.orders.app.ports import CheckoutAlreadyRecordedError, CommandContext, RecordedCheckout
from services.orders.app.quotes import (
    AcceptQuote,
    AcceptQuoteHandler,
    ExpireQuote,
    ExpireQuoteHandler,
    IssueQuote,
    IssueQuoteHandler,
    QuoteNotDueError,
    ReviseQuote,
    ReviseQuoteHandler,
    SignContract,
    SignContractHandler,
)
from services.orders.domain.errors import CheckoutConflictError, QuoteAlreadySignedError, QuoteExpiredError
from shared.eventstore import ConcurrencyError
from shared.idempotency import IdempotencyKeyReusedError, IdempotentRequest
from tests.support.orders_builders import CONFIG, T0, VALID_UNTIL, line_in, quote_line_in
from tests.support.orders_memory import InMemoryOrders

CTX = CommandContext(correlation_id="c-1", actor="tester")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Ids:
    def __init__(self) -> None:
        self._n = itertools.count(1)

    def __call__(self) -> str:
        return f"id-{next(self._n)}"


@pytest.fixture
def store() -> InMemoryOrders:
    return InMemoryOrders()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


async def issue(store: InMemoryOrders, clock: Clock) -> str:
    result = await IssueQuoteHandler(unit_of_work=store, clock=clock, new_id=Ids(), config=CONFIG)(IssueQuote(
        consultant_id="S-1", role="consultant", lines=[quote_line_in(100_00)], currency="CNY", valid_until=VALID_UNTIL,
        lead_id="L-1"), CTX)
    return result.quote.id


async def test_issuing_schedules_the_expiry_timer_at_the_validity_date(store: InMemoryOrders, clock: Clock) -> None:
    quote_id = await issue(store, clock)
    assert store.timers == {quote_id: VALID_UNTIL}


async def test_revising_moves_the_expiry_timer(store: InMemoryOrders, clock: Clock) -> None:
    quote_id = await issue(store, clock)
    later = VALID_UNTIL + timedelta(days=5)
    await ReviseQuoteHandler(unit_of_work=store, clock=clock, config=CONFIG)(
        ReviseQuote(quote_id, "consultant", [quote_line_in(90_00)], later), CTX)
    assert store.timers == {quote_id: later}


async def test_signing_appends_quote_and_order_together_and_cancels_the_timer(
    store: InMemoryOrders, clock: Clock
) -> None:
    quote_id = await issue(store, clock)
    await AcceptQuoteHandler(unit_of_work=store, clock=clock)(AcceptQuote(quote_id), CTX)
    result = await SignContractHandler(unit_of_work=store, clock=clock, new_id=Ids())(
        SignContract(quote_id, "full"), CTX)
    assert store.event_types(f"quote-{quote_id}")[-1] == "QuoteConverted"
    assert store.event_types(f"order-{result.order.id}") == ["ContractSigned"]
    assert store.timers == {}
    with pytest.raises(QuoteAlreadySignedError):
        await SignContractHandler(unit_of_work=store, clock=clock, new_id=Ids())(SignContract(quote_id, "full"), CTX)


async def test_a_stale_expected_version_is_a_conflict_and_nothing_is_written(
    store: InMemoryOrders, clock: Clock
) -> None:
    quote_id = await issue(store, clock)
    with pytest.raises(ConcurrencyError):
        await AcceptQuoteHandler(unit_of_work=store, clock=clock)(AcceptQuote(quote_id, expected_version=0), CTX)
    assert store.event_types(f"quote-{quote_id}") == ["QuoteIssued"]


async def test_unknown_quotes_and_orders_are_not_found(store: InMemoryOrders, clock: Clock) -> None:
    with pytest.raises(QuoteNotFoundError):
        await AcceptQuoteHandler(unit_of_work=store, clock=clock)(AcceptQuote("nope"), CTX)
    with pytest.raises(OrderNotFoundError) as caught:
        await RecordPaymentHandler(unit_of_work=store, clock=clock, new_id=Ids())(
            RecordPayment("nope", "deposit", 1, "CNY"), CTX)
    assert caught.value.http_status == 404


async def test_the_expiry_command_expires_a_due_quote_once(store: InMemoryOrders, clock: Clock) -> None:
    quote_id = await issue(store, clock)
    expire = ExpireQuoteHandler(unit_of_work=store, clock=clock)
    with pytest.raises(QuoteNotDueError):  # fired early: the runner retries later
        await expire(ExpireQuote(quote_id), CTX)
    clock.now = VALID_UNTIL
    assert await expire(ExpireQuote(quote_id), CTX) is True
    assert await expire(ExpireQuote(quote_id), CTX) is False
    assert store.event_types(f"quote-{quote_id}") == ["QuoteIssued", "QuoteExpired"]
    with pytest.raises(QuoteExpiredError):
        await AcceptQuoteHandler(unit_of_work=store, clock=clock)(AcceptQuote(quote_id), CTX)


def checkout_command(shop_order_id: str = "SHOP-1") -> CheckOutShopOrder:
    return CheckOutShopOrder(shop_order_id=shop_order_id, customer_name="李四", customer_phone="13900001111",
                             lines=[line_in(90_00)], total_minor=90_00, paid_minor=90_00, currency="CNY")


async def test_a_repeated_checkout_answers_with_the_first_order_and_a_changed_one_is_refused_naming_both(
    store: InMemoryOrders, clock: Clock
) -> None:
    handler = CheckOutShopOrderHandler(unit_of_work=store, clock=clock, new_id=Ids(), config=CONFIG)
    first = await handler(checkout_command(), CTX)
    commits = store.commits
    second = await handler(checkout_command(), CTX)
    assert (first.created, second.created) == (True, False)
    assert second.order.id == first.order.id
    assert store.commits == commits
    assert store.event_types(f"order-{first.order.id}") == ["ContractSigned", "PaymentReceived"]

    changed = replace(checkout_command(), lines=[line_in(80_00)], total_minor=80_00, paid_minor=80_00)
    with pytest.raises(CheckoutConflictError) as caught:  # same shop order id, different content
        await handler(changed, CTX)
    details = caught.value.details
    assert (caught.value.http_status, details["order_id"]) == (409, first.order.id)
    assert details["differing_fields"] == ["lines", "paid_minor", "total_minor"]
    assert (details["recorded"]["total_minor"], details["received"]["total_minor"]) == (90_00, 80_00)
    assert store.commits == commits


class LookupBeforeTheWinnerCommitted(InMemoryOrders):
    """Its lookup never sees the recorded checkout, as if it ran before the concurrent winner committed: the
    commit then finds the key taken."""

    async def recorded_checkout(self, shop_order_id: str) -> RecordedCheckout | None:
        return None


async def test_a_checkout_that_loses_the_race_for_its_key_answers_with_the_winner(
    store: InMemoryOrders, clock: Clock
) -> None:
    handler = CheckOutShopOrderHandler(unit_of_work=store, clock=clock, new_id=Ids(), config=CONFIG)
    winner = await handler(checkout_command(), CTX)
    racing = LookupBeforeTheWinnerCommitted(store.events, store.shop_orders)
    result = await CheckOutShopOrderHandler(unit_of_work=racing, clock=clock, new_id=Ids(), config=CONFIG)(
        checkout_command(), CTX)
    assert (result.created, result.order.id) == (False, winner.order.id)
    assert len(store.streams) == 1


def test_checkout_already_recorded_names_the_existing_order() -> None:
    assert CheckoutAlreadyRecordedError("S", RecordedCheckout("O", None)).recorded.order_id == "O"


async def test_a_repeat_that_only_spells_the_phone_differently_is_the_same_checkout(
    store: InMemoryOrders, clock: Clock
) -> None:
    handler = CheckOutShopOrderHandler(unit_of_work=store, clock=clock, new_id=Ids(), config=CONFIG)
    first = await handler(checkout_command(), CTX)
    again = await handler(replace(checkout_command(), customer_phone="+86 139-0000-1111"), CTX)
    assert (again.created, again.order.id) == (False, first.order.id)


async def test_a_conflicting_checkout_that_loses_the_race_is_refused_too(store: InMemoryOrders, clock: Clock) -> None:
    await CheckOutShopOrderHandler(unit_of_work=store, clock=clock, new_id=Ids(), config=CONFIG)(
        checkout_command(), CTX)
    racing = LookupBeforeTheWinnerCommitted(store.events, store.shop_orders)
    with pytest.raises(CheckoutConflictError):
        await CheckOutShopOrderHandler(unit_of_work=racing, clock=clock, new_id=Ids(), config=CONFIG)(
            replace(checkout_command(), currency="USD"), CTX)
    assert len(store.streams) == 1


async def test_a_checkout_recorded_before_terms_were_kept_answers_every_repeat_with_its_order(
    store: InMemoryOrders, clock: Clock
) -> None:
    handler = CheckOutShopOrderHandler(unit_of_work=store, clock=clock, new_id=Ids(), config=CONFIG)
    first = await handler(checkout_command(), CTX)
    store.shop_orders["SHOP-1"] = RecordedCheckout(first.order.id, None)  # as migration 0002 left old rows
    again = await handler(replace(checkout_command(), total_minor=80_00, lines=[line_in(80_00)]), CTX)
    assert (again.created, again.order.id) == (False, first.order.id)


def _issue_command(key: str | None, *, price_minor: int = 100_00) -> IssueQuote:
    idempotency = None if key is None else IdempotentRequest.of(
        key, operation="orders.issue_quote", caller=CTX.actor, request={"lines": [{"unit_price_minor": price_minor}]})
    return IssueQuote(consultant_id="S-1", role="consultant", lines=[quote_line_in(price_minor)], currency="CNY",
                      valid_until=VALID_UNTIL, lead_id="L-1", idempotency=idempotency)


async def test_a_quote_sent_again_with_its_idempotency_key_is_issued_once(store: InMemoryOrders, clock: Clock) -> None:
    handler = IssueQuoteHandler(unit_of_work=store, clock=clock, new_id=Ids(), config=CONFIG)
    first = await handler(_issue_command("q-1"), CTX)
    again = await handler(_issue_command("q-1"), CTX)  # the client's retry: no answer reached it the first time
    assert (first.created, again.created) == (True, False)
    assert first.quote.id == again.quote.id
    assert store.event_types(f"quote-{first.quote.id}") == ["QuoteIssued"]
    assert store.timers == {first.quote.id: VALID_UNTIL}  # one quote, one expiry timer


async def test_an_idempotency_key_reused_for_a_different_quote_is_refused_and_stores_nothing(
    store: InMemoryOrders, clock: Clock
) -> None:
    handler = IssueQuoteHandler(unit_of_work=store, clock=clock, new_id=Ids(), config=CONFIG)
    first = await handler(_issue_command("q-1"), CTX)
    with pytest.raises(IdempotencyKeyReusedError):
        await handler(_issue_command("q-1", price_minor=90_00), CTX)
    assert store.event_types(f"quote-{first.quote.id}") == ["QuoteIssued"]
