"""The Lead aggregate."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum

from services.leads.domain.events import LeadCreated
from services.leads.domain.phone import normalise_phone
from shared.domain import Aggregate, DomainEvent, InvalidFieldError

MAX_NAME_LENGTH = 100
MAX_INTEREST_LENGTH = 200


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


class Grade(StrEnum):
    """Purchase-window estimate: N new/ungraded, H ≤ 7 days, A ≤ 15, B ≤ 30, C 2–3 months."""

    N = "N"
    H = "H"
    A = "A"
    B = "B"
    C = "C"


class Lead(Aggregate):
    stream_type = "lead"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.customer_id = ""
        self.name = ""
        self.phone = ""
        self.channel = ""
        self.interest: str | None = None
        self.stage = Stage.NEW
        self.grade = Grade.N
        self.captured_at: datetime | None = None

    @classmethod
    def capture(
        cls,
        *,
        lead_id: str,
        customer_id: str,
        name: str,
        phone: str,
        channel: str,
        interest: str | None,
        captured_at: datetime,
        known_channels: Collection[str],
    ) -> Lead:
        """Capture a new lead. Validates every field and raises InvalidFieldError naming the first bad one."""
        clean_name = name.strip()
        if not clean_name:
            raise InvalidFieldError("name", "must not be empty")
        if len(clean_name) > MAX_NAME_LENGTH:
            raise InvalidFieldError("name", f"must be at most {MAX_NAME_LENGTH} characters")
        normalised = normalise_phone(phone)
        if channel not in known_channels:
            known = ", ".join(sorted(known_channels))
            raise InvalidFieldError("channel", f"unknown channel {channel!r}; known: {known}")
        clean_interest = interest.strip() if interest else None
        if clean_interest and len(clean_interest) > MAX_INTEREST_LENGTH:
            raise InvalidFieldError("interest", f"must be at most {MAX_INTEREST_LENGTH} characters")
        lead = cls(lead_id)
        lead._record(
            LeadCreated(
                lead_id=lead_id, customer_id=customer_id, name=clean_name, phone=normalised, channel=channel,
                interest=clean_interest or None, captured_at=captured_at,
            )
        )
        return lead

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case LeadCreated():
                self.customer_id = event.customer_id
                self.name = event.name
                self.phone = event.phone
                self.channel = event.channel
                self.interest = event.interest
                self.captured_at = event.captured_at
            case _:
                raise TypeError(f"Lead cannot apply {type(event).__name__}")
