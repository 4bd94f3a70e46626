"""Quote commands: issue, revise, accept, expire (the timer's command) and sign the contract."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from services.orders.app.catalogue import price_list_in_force
from services.orders.app.common import OrderResult, OrdersHandler, QuoteResult, no_quote
from services.orders.app.ports import (
    Clock,
    CommandContext,
    IdFactory,
    OrdersConfig,
    OrdersUnitOfWork,
    UnitOfWorkFactory,
    quote_expiry,
)
from services.orders.app.terms import DiscountIn, QuoteLineIn, discount_of, quote_lines_of
from services.orders.domain.lines import Approval, DiscountPolicy
from services.orders.domain.order import Order
from services.orders.domain.parties import Customer
from services.orders.domain.quote import Quote, QuoteStatus
from shared.commands import ExpectedVersion
from shared.idempotency import IdempotentRequest

Id = Annotated[str, Field(min_length=1, max_length=60)]
OptionalId = Annotated[str | None, Field(max_length=60)]
Currency = Annotated[str, Field(min_length=3, max_length=3, examples=["CNY"])]
QUOTE_INTERNAL = ("role", "approval")
"""Set by the service, never by a body: the discount limit is the caller's, from the token's role
(services/orders/app/access.py); a body cannot name a role or an approver (nor, on issue, the selling team)."""


@dataclass(frozen=True, slots=True)
class IssueQuote:
    consultant_id: Id
    role: str
    lines: list[QuoteLineIn]
    currency: Currency
    valid_until: datetime
    lead_id: OptionalId = None
    customer_id: OptionalId = None
    customer_name: Annotated[str | None, Field(max_length=100)] = None
    customer_phone: Annotated[str | None, Field(max_length=40)] = None
    discount: DiscountIn | None = None
    approval: Approval | None = None
    team_id: str | None = None  # the selling team, from the issuer's token
    # The caller's Idempotency-Key (from the header, not the body): a repeat answers the first one.
    idempotency: IdempotentRequest | None = None


@dataclass(frozen=True, slots=True)
class ReviseQuote:
    quote_id: str
    role: str
    lines: list[QuoteLineIn]
    valid_until: datetime
    discount: DiscountIn | None = None
    approval: Approval | None = None
    reason: Annotated[str | None, Field(max_length=500)] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class AcceptQuote:
    quote_id: str
    revision: Annotated[int | None, Field(description="the revision the customer accepted")] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ExpireQuote:
    quote_id: str


@dataclass(frozen=True, slots=True)
class SignContract:
    quote_id: str
    payment_plan: Annotated[str, Field(description="full, deposit_balance or financing",
                                       examples=["deposit_balance"])]
    expected_version: ExpectedVersion = None


class IssueQuoteHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory,
                 config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock, new_id=new_id)
        self._policy = DiscountPolicy(config.discount_limits_bp)
        self._currencies = config.currencies

    async def __call__(self, command: IssueQuote, context: CommandContext) -> QuoteResult:
        """Idempotent with a key (``command.idempotency``): the quote an earlier attempt issued is answered and
        nothing is stored; without one, every call issues a new quote."""
        key = command.idempotency

        async def decide(uow: OrdersUnitOfWork, now: datetime) -> QuoteResult:
            if (earlier := await uow.load_repeat(Quote, key)) is not None:
                return QuoteResult(earlier, earlier.version, created=False)
            price_list = await price_list_in_force(uow, command.lines, command.currency, now)
            customer = Customer.of(customer_id=command.customer_id, name=command.customer_name,
                                   phone=command.customer_phone)
            quote = Quote.issue(
                quote_id=key.aggregate_id if key else self._new_id(), lead_id=command.lead_id, customer=customer,
                consultant_id=command.consultant_id, role=command.role,
                lines=quote_lines_of(command.lines, price_list),
                discount=discount_of(command.discount), approval=command.approval, currency=command.currency,
                valid_until=command.valid_until, now=now, policy=self._policy, currencies=self._currencies,
                team_id=command.team_id,
            )
            uow.add(quote, timers=[quote_expiry(quote.id, command.valid_until)])
            return QuoteResult(quote, quote.version)
        if key is None:
            return await self._commands.run(decide, context, expected_version=0)
        # Not pinned: an attempt racing its own retry loses on the stream's version, and its retry answers the
        # winner's quote.
        return await self._commands.run(decide, key.context(context))


class ReviseQuoteHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock)
        self._policy = DiscountPolicy(config.discount_limits_bp)

    async def __call__(self, command: ReviseQuote, context: CommandContext) -> QuoteResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> QuoteResult:
            quote = await uow.get(Quote, command.quote_id, missing=no_quote(command.quote_id),
                                  expected_version=command.expected_version)
            # Priced at the quote's date, not the revision's: a revision renegotiates, it does not re-list.
            price_list = await price_list_in_force(uow, command.lines, quote.currency, quote.issued_at or now)
            quote.revise(role=command.role, lines=quote_lines_of(command.lines, price_list),
                         discount=discount_of(command.discount),
                         approval=command.approval, valid_until=command.valid_until, reason=command.reason, now=now,
                         policy=self._policy)
            # The expiry timer moves with the validity date (same timer id, same transaction).
            uow.add(quote, timers=[quote_expiry(quote.id, command.valid_until)])
            return QuoteResult(quote, quote.version)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class AcceptQuoteHandler(OrdersHandler):
    async def __call__(self, command: AcceptQuote, context: CommandContext) -> QuoteResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> QuoteResult:
            quote = await uow.get(Quote, command.quote_id, missing=no_quote(command.quote_id),
                                  expected_version=command.expected_version)
            quote.accept(revision=command.revision, now=now)
            return QuoteResult(quote, quote.version)
        return await self._commands.run(decide, context, expected_version=command.expected_version)


class ExpireQuoteHandler(OrdersHandler):
    """Run by the expiry timer, in its transaction (``conn``). Returns False when there was nothing to expire
    (signed meanwhile)."""

    async def __call__(self, command: ExpireQuote, context: CommandContext, *, conn: Any = None) -> bool:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> bool:
            quote = await uow.get(Quote, command.quote_id, missing=no_quote(command.quote_id))
            if quote.status in (QuoteStatus.SIGNED, QuoteStatus.EXPIRED):
                return False
            if not quote.expire(now=now):
                # Fired early (clock skew between replicas): fail so the runner retries later, rather than
                # marking the timer fired and leaving the quote open for ever.
                raise QuoteNotDueError(f"quote {quote.id} is still valid at {now.isoformat()}")
            return True
        return await self._commands.run(decide, context, conn=conn)


class QuoteNotDueError(RuntimeError):
    """The expiry timer fired before the quote's validity ended; the timer runner retries with backoff."""


class SignContractHandler(OrdersHandler):
    async def __call__(self, command: SignContract, context: CommandContext) -> OrderResult:
        async def decide(uow: OrdersUnitOfWork, now: datetime) -> OrderResult:
            quote = await uow.get(Quote, command.quote_id, missing=no_quote(command.quote_id),
                                  expected_version=command.expected_version)
            order = Order.sign(order_id=self._new_id(), quote=quote, payment_plan=command.payment_plan, now=now)
            # Quote (QuoteConverted) and order (ContractSigned) in one append: two concurrent signings of the same
            # quote both expect its current version, so exactly one of them commits; the other gets 409 (or, when
            # unpinned and retried, finds the quote signed).
            uow.add(order, timers=[quote_expiry(quote.id, None)])
            return OrderResult(order, order.version)
        return await self._commands.run(decide, context, expected_version=command.expected_version)
