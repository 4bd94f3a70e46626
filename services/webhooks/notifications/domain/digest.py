"""The daily digest per manager (pure): when it is due, which window it covers, and what it says — what happened in
the manager's team since the last one (notifications raised per rule, counted per source event) and the loss
requests still waiting for approval."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from shared.domain import InvalidFieldError

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
DIGEST_RULE = "daily_digest"
LINES = (("follow_up_overdue", "overdue follow-ups"), ("h_grade_overdue", "of them H-grade"),
         ("no_show", "no-shows"), ("loss_pending_approval", "loss requests"),
         ("complaint_escalated", "escalated complaints"), ("duplicate_contact", "returning customers"))


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    at: time  # local time of day

    @classmethod
    def parse(cls, text: str, *, field: str = "digest_at") -> DigestSchedule | None:
        """``"HH:MM"`` local time; ``""``: no digest."""
        if text == "":
            return None
        match = _AT.match(text.strip())
        if match is None:
            raise InvalidFieldError(field, "HH:MM in 24-hour local time, or empty for no digest")
        return cls(time(int(match.group(1)), int(match.group(2))))

    def due_day(self, now: datetime, zone: tzinfo) -> date | None:
        """The local day whose digest is due at ``now`` (from its time on, that day), else None."""
        local = now.astimezone(zone)
        return local.date() if local.time().replace(tzinfo=None) >= self.at else None

    def window(self, day: date, zone: tzinfo) -> tuple[datetime, datetime]:
        """What the digest of ``day`` covers: from the previous day's digest time to this day's."""
        until = datetime.combine(day, self.at, tzinfo=zone)
        return until - timedelta(days=1), until


def digest_message(day: date, counts: dict[str, int], pending_approvals: int) -> tuple[str, str]:
    """(title, text) of a manager's digest for ``day``."""
    lines = [f"- {label}: {counts.get(rule, 0)}" for rule, label in LINES]
    lines.append(f"- loss requests waiting for your approval now: {pending_approvals}")
    return f"Daily digest {day.isoformat()}", "Your team since yesterday's digest:\n" + "\n".join(lines)
