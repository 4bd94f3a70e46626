"""Calendar periods of reports: months (YYYY-MM) and days (YYYY-MM-DD), in UTC."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from shared.domain import InvalidFieldError


class InvalidPeriodError(InvalidFieldError):
    """The period is not YYYY-MM or YYYY-MM-DD."""


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a month or a day."""
    try:
        if len(period) == 7:
            start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
            days = calendar.monthrange(start.year, start.month)[1]
            return start, start + timedelta(days=days)
        if len(period) == 10:
            start = datetime.strptime(period, "%Y-%m-%d").replace(tzinfo=UTC)
            return start, start + timedelta(days=1)
    except ValueError:
        pass
    raise InvalidPeriodError("period", f"YYYY-MM or YYYY-MM-DD, got {period!r}")


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")
