"""The quote-expiry timer: fires at a quote's ``valid_until`` and records QuoteExpired in the timer runner's
transaction, so the expiry event and the timer's "fired" mark commit together (never one without the other)."""

from __future__ import annotations

from services.orders.app.ports import Clock, CommandContext, UnitOfWorkFactory
from services.orders.app.quotes import ExpireQuote, ExpireQuoteHandler
from shared.db import Connection
from shared.timer_model import Timer, TimerHandler


def quote_expiry_handler(unit_of_work: UnitOfWorkFactory, clock: Clock) -> TimerHandler:
    handler = ExpireQuoteHandler(unit_of_work=unit_of_work, clock=clock)

    async def on_quote_expiry(conn: Connection, timer: Timer) -> None:
        context = CommandContext(correlation_id=timer.timer_id, actor="system:quote-expiry")
        await handler(ExpireQuote(quote_id=timer.payload["quote_id"]), context, conn=conn)

    return on_quote_expiry
