"""The daily digest's schedule and text (pure): due from its local time on, covering the day since the previous
digest, in the department's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.webhooks.notifications.domain.digest import DigestSchedule, digest_message
from shared.domain import InvalidFieldError

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_digest_is_due_from_its_local_time_on_that_day() -> None:
    schedule = DigestSchedule.parse("18:00")
    assert schedule is not None
    assert schedule.due_day(datetime(2026, 12, 2, 17, 59, tzinfo=SHANGHAI), SHANGHAI) is None
    assert schedule.due_day(datetime(2026, 12, 2, 18, 0, tzinfo=SHANGHAI), SHANGHAI) == date(2026, 12, 2)
    assert schedule.due_day(datetime(2026, 12, 2, 23, 59, tzinfo=SHANGHAI), SHANGHAI) == date(2026, 12, 2)
    # 10:30 UTC is 18:30 in Shanghai
    assert schedule.due_day(datetime(2026, 12, 2, 10, 30, tzinfo=UTC), SHANGHAI) == date(2026, 12, 2)
    since, until = schedule.window(date(2026, 12, 2), SHANGHAI)
    assert (since, until) == (datetime(2026, 12, 1, 18, 0, tzinfo=SHANGHAI),
                              datetime(2026, 12, 2, 18, 0, tzinfo=SHANGHAI))


def test_the_digest_lists_every_rule_and_the_waiting_approvals() -> None:
    title, text = digest_message(date(2026, 12, 2), {"follow_up_overdue": 3, "no_show": 1}, 2)
    assert title == "Daily digest 2026-12-02"
    assert "- overdue follow-ups: 3" in text
    assert "- no-shows: 1" in text
    assert "- escalated complaints: 0" in text
    assert "- loss requests waiting for your approval now: 2" in text


@pytest.mark.parametrize("text", ["6pm", "24:00", "18"])
def test_a_bad_time_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        DigestSchedule.parse(text, field="WEBHOOKS_NOTIFY_DIGEST_AT")
    assert refused.value.field == "WEBHOOKS_NOTIFY_DIGEST_AT"
    assert DigestSchedule.parse("") is None
