"""Quiet hours (pure): a notification inside the span is held until its end in the department's time zone, over
midnight too; outside it goes at once; bad spans are refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.webhooks.notifications.domain.quiet_hours import QuietHours
from shared.domain import InvalidFieldError

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def test_a_span_over_midnight_holds_until_its_end_the_next_morning() -> None:
    night = QuietHours.parse("22:00-08:00")
    assert night is not None
    assert night.release_at(at(22, 30), SHANGHAI) == at(8, 0, day=3)
    assert night.release_at(at(3, 15), SHANGHAI) == at(8, 0)
    assert night.release_at(at(21, 59), SHANGHAI) is None
    assert night.release_at(at(8, 0), SHANGHAI) is None


def test_the_span_is_read_in_the_departments_time_zone_whatever_the_clocks_zone() -> None:
    night = QuietHours.parse("22:00-08:00")
    assert night is not None
    utc_noon = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai: not quiet
    assert night.release_at(utc_noon, SHANGHAI) is None
    utc_evening = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert night.release_at(utc_evening, SHANGHAI) == at(8, 0, day=3)
    assert night.release_at(utc_evening, SHANGHAI) == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


def test_a_span_within_the_day() -> None:
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch is not None
    assert lunch.release_at(at(12, 10), SHANGHAI) == at(13, 30)
    assert lunch.release_at(at(13, 30), SHANGHAI) is None
    assert lunch.release_at(at(11, 59), SHANGHAI) is None


@pytest.mark.parametrize("text", ["22-08", "25:00-08:00", "22:00-22:00", "22:00 08:00", "x"])
def test_a_bad_span_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        QuietHours.parse(text, field="quiet_hours")
    assert refused.value.field == "quiet_hours"


def test_empty_means_none() -> None:
    assert QuietHours.parse("") is None
    assert str(QuietHours.parse("07:05-09:00")) == "07:05-09:00"
