"""Checks for a moment a command schedules (a due date, an appointment, an expiry): it has a time zone, lies in
the future and within a horizon. A date such as 9999-12-31 is a typing error, not a plan, and left in would keep a
timer pending for ever (or overflow the date arithmetic that follows)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.domain.aggregate import InvalidFieldError

# How far ahead anything in the sales process is scheduled: a year covers every follow-up, appointment and quote.
DEFAULT_HORIZON = timedelta(days=365)


def check_scheduled(field: str, moment: datetime, *, now: datetime, horizon: timedelta = DEFAULT_HORIZON) -> datetime:
    """``moment`` if it is time-zone aware and in ``(now, now + horizon]``; else InvalidFieldError naming ``field``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidFieldError(field, "must include a time zone")
    if moment <= now:
        raise InvalidFieldError(field, "must be in the future")
    if moment - now > horizon:
        raise InvalidFieldError(field, f"must be at most {horizon.days} days ahead")
    return moment
