"""Public events of the showroom floor, published by the leads service on its topic (``<prefix>.leads``): the
reception register (到店登记, key = visit id) and the lead's side of a visit (key = lead id). Reporting reads them
for 留档率, 二次到店率 and visits per channel; no personal data is carried (the lead and customer ids are)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.contracts.base import IntegrationEvent, contract


@contract("salesflow.leads.VisitArrived", version=1, producer="leads")
class VisitArrivedV1(IntegrationEvent):
    """A visitor was registered at the showroom's reception."""

    visit_id: str = Field(description="the register entry's id; also the message key")
    lead_id: str = Field(description="the lead the visit belongs to")
    customer_id: str = Field(description="the customer (stable across the customer's leads)")
    visit_number: int = Field(description="the customer's register entries so far, this one included")
    first_visit: bool = Field(description="true for the customer's first registered visit (首次到店)")
    party_size: int = Field(description="how many people came")
    purpose: str = Field(description="visit purpose code (config/showroom.json: first_look, test_drive, ...)")
    receptionist_id: str | None = Field(default=None, description="who registered the visitor (the caller)")
    consultant_id: str | None = Field(default=None, description="the consultant who received the visitor")
    team_id: str | None = Field(default=None, description="the lead's team at arrival")
    walk_in_lead: bool = Field(default=False, description="true when the registration captured the lead (a walk-in "
                                                          "without an open lead; channel showroom)")
    arrived_at: datetime


@contract("salesflow.leads.VisitDeparted", version=1, producer="leads")
class VisitDepartedV1(IntegrationEvent):
    """The visitor left the showroom."""

    visit_id: str = Field(description="the register entry's id; also the message key")
    lead_id: str
    departed_at: datetime
    duration_minutes: int = Field(description="minutes between arrival and departure")
    recorded_by: str | None = None


@contract("salesflow.leads.ShowroomVisitRecorded", version=1, producer="leads")
class ShowroomVisitRecordedV1(IntegrationEvent):
    """The lead's side of a register entry (the stage moves to visited with its own StageAdvanced)."""

    lead_id: str = Field(description="the lead's id; also the message key")
    visit_id: str
    visit_number: int = Field(description="the customer's register entries so far, this one included")
    first_visit: bool
    consultant_id: str | None = None
    arrived_at: datetime
