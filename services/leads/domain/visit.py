"""A reception register entry (到店登记): who came, when, with how many, for what, received by whom, and when they
left. The register is the history a visit's "first or repeat" is computed from; the lead records its own side
(``Lead.record_showroom_visit``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from services.leads.domain import errors
from services.leads.domain.showroom_events import VisitArrived, VisitDeparted
from shared.domain import Aggregate, DomainEvent, InvalidFieldError

MAX_PARTY_SIZE = 30


def check_party_size(party_size: int) -> int:
    if not 1 <= party_size <= MAX_PARTY_SIZE:
        raise InvalidFieldError("party_size", f"must be 1 to {MAX_PARTY_SIZE} people")
    return party_size


def check_purpose(purpose: str, known_purposes: Collection[str]) -> str:
    if purpose not in known_purposes:
        raise InvalidFieldError("purpose", f"unknown visit purpose {purpose!r}; known: "
                                f"{', '.join(sorted(known_purposes))}")
    return purpose


class Visit(Aggregate):
    stream_type = "visit"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.lead_id = ""
        self.customer_id = ""
        self.visit_number = 0
        self.first_visit = False
        self.party_size = 0
        self.purpose = ""
        self.receptionist_id: str | None = None
        self.consultant_id: str | None = None
        self.team_id: str | None = None
        self.walk_in_lead = False
        self.arrived_at: datetime | None = None
        self.departed_at: datetime | None = None
        self.duration_minutes: int | None = None

    @classmethod
    def arrive(
        cls, *, visit_id: str, lead_id: str, customer_id: str, earlier_visits: int, party_size: int, purpose: str,
        known_purposes: Collection[str], receptionist_id: str | None, consultant_id: str | None,
        team_id: str | None, walk_in_lead: bool, now: datetime,
    ) -> Visit:
        """Register an arrival. ``earlier_visits``: the customer's register entries before this one, read by the
        caller while holding the customer's lock (so two registrations at once cannot both be "first")."""
        visit = cls(visit_id)
        visit._record(VisitArrived(
            visit_id=visit_id, lead_id=lead_id, customer_id=customer_id, visit_number=earlier_visits + 1,
            first_visit=earlier_visits == 0, party_size=check_party_size(party_size),
            purpose=check_purpose(purpose, known_purposes), receptionist_id=receptionist_id,
            consultant_id=consultant_id, team_id=team_id, walk_in_lead=walk_in_lead, arrived_at=now,
        ))
        return visit

    def depart(self, *, by: str | None, now: datetime) -> None:
        if self.departed_at is not None:
            raise errors.VisitAlreadyDepartedError(f"the visitor left at {self.departed_at.isoformat()}",
                                                   visit_id=self.id)
        assert self.arrived_at is not None
        minutes = max(0, int((now - self.arrived_at).total_seconds() // 60))
        self._record(VisitDeparted(visit_id=self.id, lead_id=self.lead_id, departed_at=now,
                                   duration_minutes=minutes, recorded_by=by))

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case VisitArrived():
                self.lead_id, self.customer_id = event.lead_id, event.customer_id
                self.visit_number, self.first_visit = event.visit_number, event.first_visit
                self.party_size, self.purpose = event.party_size, event.purpose
                self.receptionist_id, self.consultant_id = event.receptionist_id, event.consultant_id
                self.team_id, self.walk_in_lead = event.team_id, event.walk_in_lead
                self.arrived_at = event.arrived_at
            case VisitDeparted():
                self.departed_at, self.duration_minutes = event.departed_at, event.duration_minutes
            case _:
                raise TypeError(f"Visit cannot apply {type(event).__name__}")
