"""Quotes: issue with validated lines, discount limits per role, revisions with history, acceptance, expiry,
and conversion into an order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.orders.domain.errors import (
    DiscountExceedsApproverLimitError,
    DiscountNeedsApprovalError,
    QuoteAlreadySignedError,
    QuoteExpiredError,
    QuoteNotAcceptedError,
    QuoteNotOpenError,
    QuoteRevisionMismatchError,
)
from services.orders.domain.events import QuoteAccepted, QuoteConverted, QuoteExpired, QuoteIssued, QuoteRevised
from services.orders.domain.lines import Discount
from services.orders.domain.order import Order
from services.orders.domain.parties import Customer
from services.orders.domain.quote import Quote, QuoteStatus
from shared.domain import InvalidFieldError
from tests.support.orders_builders import (
    CURRENCIES,
    POLICY,
    T0,
    VALID_UNTIL,
    accepted_quote,
    amount,
    issued_quote,
    line,
    manager_approval,
    percent,
)


def test_issuing_a_quote_records_revision_one_with_exact_totals() -> None:
    quote = Quote.issue(
        quote_id="Q-1", lead_id="L-1", customer=Customer(), consultant_id="S-1", role="consultant",
        lines=[line(200_000_00, 1, ("paint", 8_000_00))], discount=percent(200), approval=None, currency="CNY",
        valid_until=VALID_UNTIL, now=T0, policy=POLICY, currencies=CURRENCIES,
    )
    [event] = quote.pending_events
    assert isinstance(event, QuoteIssued)
    assert (event.revision, event.subtotal_minor, event.discount_minor, event.total_minor) == (
        1, 208_000_00, 4_160_00, 203_840_00)
    assert quote.status is QuoteStatus.ISSUED


def test_the_customer_phone_on_a_quote_is_normalised_to_e164() -> None:
    assert issued_quote().customer.phone == "+8613812345678"


@pytest.mark.parametrize(("changes", "field"), [
    ({"lines": []}, "lines"),
    ({"lines": [line(quantity=0)]}, "lines.0.quantity"),
    ({"lines": [line(-1)]}, "lines.0.unit_price_minor"),
    ({"lines": [line(0)]}, "lines.0.unit_price_minor"),
    ({"lines": [line(100, 1, ("red", -5))]}, "lines.0.options.0.price_minor"),
    ({"currency": "RMB"}, "currency"),
    ({"valid_until": T0}, "valid_until"),
    ({"valid_until": T0 - timedelta(days=1)}, "valid_until"),
    ({"valid_until": datetime(9999, 12, 31, tzinfo=UTC)}, "valid_until"),
    ({"valid_until": T0 + timedelta(days=366)}, "valid_until"),
    ({"consultant_id": " "}, "consultant_id"),
    ({"role": "intern"}, "role"),
    ({"discount": Discount(kind="voucher", amount_minor=1)}, "discount.kind"),
    ({"discount": Discount(kind="amount", amount_minor=0)}, "discount.amount_minor"),
    ({"discount": Discount(kind="percent", amount_minor=5)}, "discount"),
])
def test_issuing_refuses_invalid_terms_naming_the_field(changes: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "quote_id": "Q-1", "lead_id": "L-1", "customer": Customer(), "consultant_id": "S-1", "role": "consultant",
        "lines": [line()], "discount": None, "approval": None, "currency": "CNY", "valid_until": VALID_UNTIL,
        "now": T0, "policy": POLICY, "currencies": CURRENCIES,
    }
    args.update(changes)
    with pytest.raises(InvalidFieldError) as caught:
        Quote.issue(**args)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_quote_needs_a_lead_or_a_customer_phone() -> None:
    with pytest.raises(InvalidFieldError, match="lead_id"):
        Quote.issue(quote_id="Q", lead_id=None, customer=Customer(name="x"), consultant_id="S", role="consultant",
                    lines=[line()], discount=None, approval=None, currency="CNY", valid_until=VALID_UNTIL, now=T0,
                    policy=POLICY, currencies=CURRENCIES)


def test_a_consultant_may_discount_up_to_the_configured_limit_without_approval() -> None:
    limit = POLICY.limits_bp["consultant"]
    assert issued_quote(line(100_000_00), discount=percent(limit)).discount_minor == share_of_limit(limit)


def share_of_limit(bp: int) -> int:
    return 100_000_00 * bp // 10_000


def test_a_discount_over_the_role_limit_needs_a_managers_approval() -> None:
    over = POLICY.limits_bp["consultant"] + 1
    with pytest.raises(DiscountNeedsApprovalError) as caught:
        issued_quote(discount=percent(over))
    assert caught.value.code == "discount_needs_approval"
    assert caught.value.http_status == 403


def test_an_amount_discount_is_measured_against_the_subtotal_for_the_limit() -> None:
    limit = POLICY.limits_bp["consultant"]
    issued_quote(line(100_000_00), discount=amount(share_of_limit(limit)))
    with pytest.raises(DiscountNeedsApprovalError):
        issued_quote(line(100_000_00), discount=amount(share_of_limit(limit) + 1))


def test_an_approved_discount_over_the_issuers_limit_is_recorded_with_the_approver() -> None:
    quote = issued_quote(discount=percent(POLICY.limits_bp["consultant"] + 100), approval=manager_approval())
    assert quote.discount is not None
    assert quote.discount_minor > 0


def test_an_approver_cannot_approve_beyond_their_own_limit() -> None:
    with pytest.raises(DiscountExceedsApproverLimitError):
        issued_quote(discount=percent(POLICY.limits_bp["sales_manager"] + 1), approval=manager_approval())


def test_a_senior_role_has_a_higher_limit_of_its_own() -> None:
    issued_quote(discount=percent(POLICY.limits_bp["sales_manager"]), role="sales_manager")


def test_a_revision_is_a_new_version_and_keeps_the_earlier_terms_in_the_history() -> None:
    quote = issued_quote(line(100_00))
    quote.revise(role="consultant", lines=[line(90_00)], discount=None, approval=None,
                 valid_until=VALID_UNTIL + timedelta(days=3), reason="price match", now=T0 + timedelta(hours=1),
                 policy=POLICY)
    [revised] = quote.pending_events
    assert isinstance(revised, QuoteRevised)
    assert (revised.revision, revised.total_minor, revised.reason) == (2, 90_00, "price match")
    assert (quote.revision, quote.total_minor, quote.valid_until) == (2, 90_00, VALID_UNTIL + timedelta(days=3))
    assert quote.version == 2  # both revisions are in the stream


def test_revising_checks_the_discount_limit_again() -> None:
    quote = issued_quote()
    with pytest.raises(DiscountNeedsApprovalError):
        quote.revise(role="consultant", lines=[line()], discount=percent(5_000), approval=None,
                     valid_until=VALID_UNTIL, reason=None, now=T0, policy=POLICY)


def test_revising_an_accepted_quote_withdraws_the_acceptance() -> None:
    quote = accepted_quote()
    quote.revise(role="consultant", lines=[line(1)], discount=None, approval=None, valid_until=VALID_UNTIL,
                 reason=None, now=T0 + timedelta(hours=2), policy=POLICY)
    assert quote.status is QuoteStatus.ISSUED
    with pytest.raises(QuoteNotAcceptedError):
        quote.convert(order_id="O-1", now=T0 + timedelta(hours=3))


def test_accepting_records_the_current_revision() -> None:
    quote = issued_quote()
    quote.accept(revision=1, now=T0 + timedelta(hours=1))
    assert quote.pending_events == [QuoteAccepted(quote_id="Q-1", revision=1, accepted_at=T0 + timedelta(hours=1))]


def test_accepting_a_revision_that_is_no_longer_current_is_refused() -> None:
    quote = issued_quote()
    quote.revise(role="consultant", lines=[line(1)], discount=None, approval=None, valid_until=VALID_UNTIL,
                 reason=None, now=T0, policy=POLICY)
    with pytest.raises(QuoteRevisionMismatchError):
        quote.accept(revision=1, now=T0 + timedelta(hours=1))


def test_accepting_twice_is_refused() -> None:
    with pytest.raises(QuoteNotOpenError):
        accepted_quote().accept(revision=None, now=T0 + timedelta(hours=2))


def test_a_quote_past_its_validity_cannot_be_accepted_even_before_the_timer_ran() -> None:
    with pytest.raises(QuoteExpiredError):
        issued_quote().accept(revision=None, now=VALID_UNTIL)


def test_expiry_records_quote_expired_once_the_validity_has_passed() -> None:
    quote = issued_quote()
    assert quote.expire(now=VALID_UNTIL - timedelta(seconds=1)) is False
    assert quote.expire(now=VALID_UNTIL) is True
    assert isinstance(quote.pending_events[-1], QuoteExpired)
    assert quote.expire(now=VALID_UNTIL + timedelta(days=1)) is False  # once
    assert quote.status is QuoteStatus.EXPIRED


def test_an_expired_quote_cannot_be_signed_revised_or_accepted() -> None:
    quote = accepted_quote()
    quote.expire(now=VALID_UNTIL)
    with pytest.raises(QuoteExpiredError) as caught:
        Order.sign(order_id="O-1", quote=quote, payment_plan="full", now=VALID_UNTIL)
    assert caught.value.code == "quote_expired"
    with pytest.raises(QuoteExpiredError):
        quote.revise(role="consultant", lines=[line()], discount=None, approval=None,
                     valid_until=VALID_UNTIL + timedelta(days=9), reason=None, now=VALID_UNTIL, policy=POLICY)


def test_an_accepted_quote_past_validity_cannot_be_signed_even_if_the_timer_lags() -> None:
    with pytest.raises(QuoteExpiredError):
        Order.sign(order_id="O-1", quote=accepted_quote(), payment_plan="full", now=VALID_UNTIL)


def test_an_unaccepted_quote_cannot_be_signed() -> None:
    with pytest.raises(QuoteNotAcceptedError) as caught:
        Order.sign(order_id="O-1", quote=issued_quote(), payment_plan="full", now=T0 + timedelta(hours=1))
    assert caught.value.code == "quote_not_accepted"


def test_signing_converts_the_quote_once_and_the_order_carries_its_terms() -> None:
    quote = accepted_quote(line(100_00, 2), discount=amount(5_00))
    order = Order.sign(order_id="O-1", quote=quote, payment_plan="deposit_balance", now=T0 + timedelta(hours=2))
    assert isinstance(quote.pending_events[-1], QuoteConverted)
    contract = order.signed
    assert contract is not None
    assert (contract.quote_id, contract.lead_id, contract.total_minor, contract.customer_phone) == (
        "Q-1", "L-1", 195_00, "+8613812345678")
    with pytest.raises(QuoteAlreadySignedError):
        Order.sign(order_id="O-2", quote=quote, payment_plan="full", now=T0 + timedelta(hours=3))
    assert quote.expire(now=VALID_UNTIL) is False  # a signed quote never expires


def test_signing_needs_a_known_payment_plan() -> None:
    with pytest.raises(InvalidFieldError, match="payment_plan"):
        Order.sign(order_id="O-1", quote=accepted_quote(), payment_plan="barter", now=T0 + timedelta(hours=2))


def test_a_quote_rebuilt_from_its_events_has_the_same_state() -> None:
    quote = Quote.issue(quote_id="Q-1", lead_id="L-1", customer=Customer(), consultant_id="S-1", role="consultant",
                        lines=[line()], discount=None, approval=None, currency="CNY", valid_until=VALID_UNTIL,
                        now=T0, policy=POLICY, currencies=CURRENCIES)
    quote.revise(role="consultant", lines=[line(7)], discount=None, approval=None, valid_until=VALID_UNTIL,
                 reason=None, now=T0, policy=POLICY)
    quote.accept(revision=2, now=T0)
    rebuilt = Quote.rehydrate("Q-1", quote.pending_events)
    assert (rebuilt.revision, rebuilt.status, rebuilt.total_minor, rebuilt.version) == (
        2, QuoteStatus.ACCEPTED, 7, 3)
