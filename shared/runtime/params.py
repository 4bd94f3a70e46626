"""Parameter types the services' HTTP APIs share."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BeforeValidator

from shared.pagination import MAX_PAGE_SIZE

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _refuse_numbers(example: str) -> Any:
    # pydantic reads a bare number as seconds since 1970; the OpenAPI says date(-time), and "0.5" is a typing error.
    def check(value: Any) -> Any:
        if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
            raise ValueError(f"must be an ISO 8601 {example}")
        return value
    return check


IsoDateTime = Annotated[datetime, BeforeValidator(_refuse_numbers("date-time, e.g. 2026-03-01T09:00:00+08:00"))]
"""A date-time given as ISO 8601 text only (a query parameter such as ``as_of``)."""
IsoDate = Annotated[date, BeforeValidator(_refuse_numbers("date, e.g. 2026-03-01"))]
"""A day given as ISO 8601 text only (``start=0`` is 422, not 1970-01-01)."""


PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"items per page (at most {MAX_PAGE_SIZE})")]
"""``limit`` of a keyset-paged list (shared/pagination.py); above the maximum is 422."""
PageCursor = Annotated[str | None, Query(max_length=1000, description="``next_cursor`` of the previous page, "
                                                                     "as it was given; absent for the first page")]
"""``cursor`` of a keyset-paged list: the previous page's ``next_cursor``, unchanged."""
