"""Value types of a lead: stage, grade, status, appointments, a pending loss, and input checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain import InvalidFieldError

MAX_NAME_LENGTH = 100
MAX_INTEREST_LENGTH = 200
MAX_TEXT_LENGTH = 1000
FOLLOW_UP_KINDS = frozenset({"call", "visit", "message"})
APPOINTMENT_KINDS = frozenset({"showroom_visit", "test_drive"})


class Stage(StrEnum):
    """What has happened with the lead (DESIGN §2). Contract signed and delivered come from orders."""

    NEW = "new"
    CONTACTED = "contacted"
    VISITED = "visited"
    NEEDS_ANALYSED = "needs_analysed"
    PRESENTED = "presented"
    TEST_DRIVEN = "test_driven"
    NEGOTIATING = "negotiating"
    CONTRACT_SIGNED = "contract_signed"
    DELIVERED = "delivered"

    @property
    def rank(self) -> int:
        return list(Stage).index(self)


ORDER_STAGES = frozenset({Stage.CONTRACT_SIGNED, Stage.DELIVERED})


class Grade(StrEnum):
    """Purchase-window estimate: N new/ungraded, H ≤ 7 days, A ≤ 15, B ≤ 30, C 2–3 months."""

    N = "N"
    H = "H"
    A = "A"
    B = "B"
    C = "C"


class Status(StrEnum):
    OPEN = "open"
    LOST = "lost"
    INVALID = "invalid"


@dataclass(slots=True)
class Appointment:
    kind: str
    scheduled_for: datetime
    outcome: str | None = None  # attended | missed | cancelled
    vehicle_id: str | None = None  # a test drive booked on a fleet vehicle: its outcome comes from the booking


@dataclass(frozen=True, slots=True)
class PendingLoss:
    reason: str
    competitor_model: str | None
    requested_by: str | None


def text_field(field: str, value: str | None, limit: int = MAX_TEXT_LENGTH) -> str | None:
    clean = value.strip() if value else None
    if clean and len(clean) > limit:
        raise InvalidFieldError(field, f"must be at most {limit} characters")
    return clean or None


def parse_stage(value: str) -> Stage:
    try:
        return Stage(value)
    except ValueError:
        raise InvalidFieldError("stage", f"unknown stage {value!r}; known: {', '.join(Stage)}") from None


def parse_grade(value: str) -> Grade:
    try:
        return Grade(value)
    except ValueError:
        raise InvalidFieldError("grade", f"unknown grade {value!r}; known: H, A, B, C") from None
