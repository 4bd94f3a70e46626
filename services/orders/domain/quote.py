"""The Quote aggregate: terms offered to a customer, revised as negotiation goes, accepted or expired, and
finally converted into an order by signing the contract."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from services.orders.domain.errors import (
    QuoteAlreadySignedError,
    QuoteExpiredError,
    QuoteNotAcceptedError,
    QuoteNotOpenError,
    QuoteRevisionMismatchError,
)
from services.orders.domain.events import QuoteAccepted, QuoteConverted, QuoteExpired, QuoteIssued, QuoteRevised
from services.orders.domain.lines import (
    Approval,
    Discount,
    DiscountPolicy,
    Line,
    Pricing,
    check_discount,
    check_lines,
    price,
)
from services.orders.domain.money import check_currency
from services.orders.domain.parties import Customer
from shared.domain import Aggregate, DomainEvent, InvalidFieldError, check_scheduled

# A quote is an offer for days or weeks; one valid for years (9999-12-31) is a typing error, and would keep its
# expiry timer pending for ever.
MAX_QUOTE_VALIDITY = timedelta(days=365)


class QuoteStatus(StrEnum):
    ISSUED = "issued"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    SIGNED = "signed"


class Quote(Aggregate):
    stream_type = "quote"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status = QuoteStatus.ISSUED
        self.lead_id: str | None = None
        self.customer = Customer()
        self.consultant_id = ""
        self.team_id: str | None = None
        self.revision = 0
        self.lines: tuple[Line, ...] = ()
        self.discount: Discount | None = None
        self.subtotal_minor = 0
        self.discount_minor = 0
        self.total_minor = 0
        self.currency = ""
        self.valid_until: datetime | None = None
        self.issued_at: datetime | None = None  # the quote's date: its catalogue lines keep that day's list prices
        self.order_id: str | None = None

    # ---- commands ----------------------------------------------------------------------------------------

    @classmethod
    def issue(
        cls, *, quote_id: str, lead_id: str | None, customer: Customer, consultant_id: str, role: str,
        lines: Sequence[Line], discount: Discount | None, approval: Approval | None, currency: str,
        valid_until: datetime, now: datetime, policy: DiscountPolicy, currencies: Collection[str],
        team_id: str | None = None,
    ) -> Quote:
        if not consultant_id.strip():
            raise InvalidFieldError("consultant_id", "must not be empty")
        if lead_id is None and customer.phone is None:
            raise InvalidFieldError("lead_id", "a quote needs a lead or the customer's phone")
        check_currency(currency, known=currencies)
        checked_lines, pricing = _terms(lines, discount, approval, role, valid_until, now, policy)
        quote = cls(quote_id)
        quote._record(QuoteIssued(
            quote_id=quote_id, lead_id=lead_id, customer_id=customer.customer_id, customer_name=customer.name,
            customer_phone=customer.phone, consultant_id=consultant_id, issued_by_role=role, revision=1,
            lines=checked_lines, discount=discount, approval=approval, subtotal_minor=pricing.subtotal_minor,
            discount_minor=pricing.discount_minor, total_minor=pricing.total_minor, currency=currency,
            valid_until=valid_until, issued_at=now, team_id=team_id,
        ))
        return quote

    def revise(
        self, *, role: str, lines: Sequence[Line], discount: Discount | None, approval: Approval | None,
        valid_until: datetime, reason: str | None, now: datetime, policy: DiscountPolicy,
    ) -> None:
        """New terms as a new revision. Revising an accepted quote withdraws the acceptance: the customer has
        to accept what is now on the table."""
        self._require_open(now)
        checked_lines, pricing = _terms(lines, discount, approval, role, valid_until, now, policy)
        self._record(QuoteRevised(
            quote_id=self.id, revision=self.revision + 1, revised_by_role=role, lines=checked_lines,
            discount=discount, approval=approval, subtotal_minor=pricing.subtotal_minor,
            discount_minor=pricing.discount_minor, total_minor=pricing.total_minor, currency=self.currency,
            valid_until=valid_until, reason=(reason or "").strip() or None, revised_at=now,
        ))

    def accept(self, *, revision: int | None, now: datetime) -> None:
        """The customer accepts the current revision (``revision``, if given, must be it: they accepted what
        they saw, not something revised since)."""
        self._require_open(now)
        if self.status is QuoteStatus.ACCEPTED:
            raise QuoteNotOpenError("the quote is already accepted", status=self.status.value)
        if revision is not None and revision != self.revision:
            raise QuoteRevisionMismatchError(
                f"revision {revision} is not the current one ({self.revision})", current_revision=self.revision,
            )
        self._record(QuoteAccepted(quote_id=self.id, revision=self.revision, accepted_at=now))

    def expire(self, *, now: datetime) -> bool:
        """Record expiry if the quote is still open and its validity has passed; False if there is nothing to do
        (already signed or expired, or — the timer ran early — not due yet)."""
        if self.status in (QuoteStatus.SIGNED, QuoteStatus.EXPIRED) or not self.is_past_validity(now):
            return False
        assert self.valid_until is not None
        self._record(QuoteExpired(quote_id=self.id, revision=self.revision, valid_until=self.valid_until,
                                  expired_at=now))
        return True

    def convert(self, *, order_id: str, now: datetime) -> None:
        """Mark the quote as signed into ``order_id``. Only an accepted quote within its validity converts, and
        only once: this is what makes "an order can be signed once" hold."""
        if self.status is QuoteStatus.SIGNED:
            raise QuoteAlreadySignedError(f"the quote was already signed as order {self.order_id}",
                                          order_id=self.order_id)
        if self.status is QuoteStatus.EXPIRED or self.is_past_validity(now):
            raise QuoteExpiredError("the quote has expired; revise or issue a new one", valid_until=_iso(self))
        if self.status is not QuoteStatus.ACCEPTED:
            raise QuoteNotAcceptedError("the customer has not accepted the quote")
        self._record(QuoteConverted(quote_id=self.id, order_id=order_id, converted_at=now))

    # ---- queries -----------------------------------------------------------------------------------------

    @property
    def pricing(self) -> Pricing:
        """The current revision's amounts as issued, with what its typed-down catalogue prices took off the list
        (the lines say it; the subtotal, discount and total are the ones the revision recorded)."""
        return Pricing(self.subtotal_minor, self.discount_minor, self.total_minor,
                       sum(line.below_list_minor for line in self.lines))

    def is_past_validity(self, now: datetime) -> bool:
        return self.valid_until is not None and now >= self.valid_until

    def _require_open(self, now: datetime) -> None:
        if self.status is QuoteStatus.SIGNED:
            raise QuoteAlreadySignedError("the quote was already signed", order_id=self.order_id)
        # Past validity counts as expired even before the timer recorded it: the timer may lag, the rule may not.
        if self.status is QuoteStatus.EXPIRED or self.is_past_validity(now):
            raise QuoteExpiredError("the quote has expired", valid_until=_iso(self))

    # ---- state -------------------------------------------------------------------------------------------

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case QuoteIssued():
                self.lead_id = event.lead_id
                self.customer = Customer(event.customer_id, event.customer_name, event.customer_phone)
                self.consultant_id = event.consultant_id
                self.team_id = event.team_id
                self.currency = event.currency
                self.issued_at = event.issued_at
                self._set_terms(event.revision, event.lines, event.discount, event.valid_until,
                                (event.subtotal_minor, event.discount_minor, event.total_minor))
            case QuoteRevised():
                self._set_terms(event.revision, event.lines, event.discount, event.valid_until,
                                (event.subtotal_minor, event.discount_minor, event.total_minor))
                self.status = QuoteStatus.ISSUED
            case QuoteAccepted():
                self.status = QuoteStatus.ACCEPTED
            case QuoteExpired():
                self.status = QuoteStatus.EXPIRED
            case QuoteConverted():
                self.status = QuoteStatus.SIGNED
                self.order_id = event.order_id
            case _:
                raise TypeError(f"Quote cannot apply {type(event).__name__}")

    def _set_terms(
        self, revision: int, lines: tuple[Line, ...], discount: Discount | None, valid_until: datetime,
        amounts: tuple[int, int, int],
    ) -> None:
        self.revision = revision
        self.lines = lines
        self.discount = discount
        self.valid_until = valid_until
        self.subtotal_minor, self.discount_minor, self.total_minor = amounts


def _terms(
    lines: Sequence[Line], discount: Discount | None, approval: Approval | None, role: str,
    valid_until: datetime, now: datetime, policy: DiscountPolicy,
) -> tuple[tuple[Line, ...], Pricing]:
    checked = check_lines(lines)
    pricing = price(checked, check_discount(discount))
    policy.check(role=role, pricing=pricing, approval=approval)
    if pricing.total_minor == 0:
        raise InvalidFieldError("discount", "leaves nothing to pay: a quote priced at 0 is not an offer")
    check_scheduled("valid_until", valid_until, now=now, horizon=MAX_QUOTE_VALIDITY)
    return checked, pricing


def _iso(quote: Quote) -> str | None:
    return quote.valid_until.isoformat() if quote.valid_until else None

