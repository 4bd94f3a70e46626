"""Quiet hours (pure): a daily span of local time in which a person is not disturbed. A notification raised inside
it is held until the span ends; the span may run over midnight (22:00–08:00)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from shared.domain import InvalidFieldError

_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str, *, field: str = "quiet_hours") -> QuietHours | None:
        """``"HH:MM-HH:MM"`` (local time); ``""``: no quiet hours. InvalidFieldError naming ``field`` otherwise."""
        if text == "":
            return None
        match = _SPAN.match(text.strip())
        if match is None:
            raise InvalidFieldError(field, "HH:MM-HH:MM in 24-hour local time, or empty for none")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if (h1, m1) == (h2, m2):
            raise InvalidFieldError(field, "start and end must differ")
        return cls(time(h1, m1), time(h2, m2))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def release_at(self, now: datetime, zone: tzinfo) -> datetime | None:
        """When a notification raised at ``now`` may be delivered: the end of the quiet span it falls in (as an
        aware datetime in ``zone``), or None when ``now`` is outside quiet hours (deliver at once)."""
        local = now.astimezone(zone)
        today, clock = local.date(), local.time().replace(tzinfo=None)
        if self.start < self.end:  # within one day, e.g. 12:00–13:30
            inside, end_day = self.start <= clock < self.end, today
        elif clock >= self.start:  # over midnight, evening part: ends tomorrow
            inside, end_day = True, today + timedelta(days=1)
        else:  # over midnight, morning part: ends today
            inside, end_day = clock < self.end, today
        if not inside:
            return None
        return datetime.combine(end_day, self.end, tzinfo=zone)
