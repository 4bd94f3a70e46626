"""A call-center call as the leads domain sees it (DESIGN §9, issue 17): who called whom, how it ended. Pure:
validated here, recorded on the caller's lead by :meth:`Lead.record_call`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain import InvalidFieldError

CALL_DIRECTIONS = frozenset({"inbound", "outbound"})
ANSWERED, MISSED = "answered", "missed"
CALL_OUTCOMES = frozenset({ANSWERED, MISSED})
MAX_CALL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Call:
    """A call as the call center reported it; :meth:`validated` before it is recorded."""

    call_id: str
    direction: str
    outcome: str
    started_at: datetime
    duration_seconds: int
    agent_id: str | None = None
    recording_url: str | None = None

    def validated(self) -> Call:
        """This call checked and trimmed: a known direction and outcome, a talk time within a day, none for a
        missed call (InvalidFieldError naming the field)."""
        if not self.call_id.strip():
            raise InvalidFieldError("call_id", "must not be empty")
        if self.direction not in CALL_DIRECTIONS:
            raise InvalidFieldError("direction", f"one of {', '.join(sorted(CALL_DIRECTIONS))}")
        if self.outcome not in CALL_OUTCOMES:
            raise InvalidFieldError("outcome", f"one of {', '.join(sorted(CALL_OUTCOMES))}")
        if not 0 <= self.duration_seconds <= MAX_CALL_SECONDS:
            raise InvalidFieldError("duration_seconds", f"between 0 and {MAX_CALL_SECONDS}")
        if self.outcome == MISSED and self.duration_seconds:
            raise InvalidFieldError("duration_seconds", "a missed call has no talk time")
        return Call(self.call_id.strip(), self.direction, self.outcome, self.started_at, self.duration_seconds,
                    (self.agent_id or "").strip() or None, (self.recording_url or "").strip() or None)

    @property
    def answered(self) -> bool:
        return self.outcome == ANSWERED
