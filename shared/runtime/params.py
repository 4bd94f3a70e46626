"""Parameter types the services' HTTP APIs share."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _iso_8601_only(value: Any) -> Any:
    # pydantic reads a bare number as seconds since 1970; the OpenAPI says date-time, and "0.5" is a typing error.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-03-01T09:00:00+08:00")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601_only)]
"""A date-time given as ISO 8601 text only (a query parameter such as ``as_of``)."""
