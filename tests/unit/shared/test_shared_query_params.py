"""The ISO-only date and date-time query parameters: a bare number is refused (pydantic alone would read it as
seconds since 1970 — schemathesis found `GET /v1/reports/campaigns?start=0` accepted)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.runtime.params import IsoDate, IsoDateTime


@pytest.mark.parametrize("value", [0, 1.5, "0", " 17 ", "1e3", "-2"])
def test_a_number_is_neither_a_day_nor_a_moment(value: object) -> None:
    with pytest.raises(ValidationError, match="must be an ISO 8601 date"):
        TypeAdapter(IsoDate).validate_python(value)
    with pytest.raises(ValidationError, match="must be an ISO 8601 date-time"):
        TypeAdapter(IsoDateTime).validate_python(value)


def test_iso_text_is_read() -> None:
    assert TypeAdapter(IsoDate).validate_python("2026-03-01") == date(2026, 3, 1)
    assert TypeAdapter(IsoDateTime).validate_python("2026-03-01T09:00:00Z") == datetime(2026, 3, 1, 9, tzinfo=UTC)
