"""Public events of the showroom floor, published by the leads service on its topic (``<prefix>.leads``): the
reception register (到店登记, key = visit id), the lead's side of a visit (key = lead id), the test-drive fleet
(key = vehicle id) and the customer card (key = customer id). Reporting reads them
for 留档率, 二次到店率 and visits per channel; no personal data is carried (the lead and customer ids are)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


# --- test-drive fleet (试乘试驾), key = vehicle id (each vehicle's calendar is one aggregate) --------------------


@contract("salesflow.leads.TestDriveVehicleRegistered", version=1, producer="leads")
class TestDriveVehicleRegisteredV1(IntegrationEvent):
    """A vehicle joined the test-drive fleet."""

    vehicle_id: str = Field(description="the fleet vehicle's id; also the message key")
    model: str
    trim: str | None = None
    colour: str | None = None
    plate: str = Field(description="the vehicle's licence plate")
    vin: str | None = Field(default=None, description="17-character VIN")
    registered_at: datetime


@contract("salesflow.leads.TestDriveBooked", version=1, producer="leads")
class TestDriveBookedV1(IntegrationEvent):
    """A slot of a fleet vehicle was booked for a lead (no other active booking overlaps it)."""

    vehicle_id: str = Field(description="the fleet vehicle's id; also the message key")
    booking_id: str = Field(description="the booking's id; also the lead's appointment id")
    lead_id: str
    starts_at: datetime
    ends_at: datetime = Field(description="start plus the route's duration")
    route: str = Field(description="route code (config/showroom.json)")
    booked_by: str | None = None
    booked_at: datetime


@contract("salesflow.leads.TestDriveStarted", version=1, producer="leads")
class TestDriveStartedV1(IntegrationEvent):
    """The licence was checked and the waiver signed; the drive began (the lead's appointment is attended)."""

    vehicle_id: str = Field(description="the fleet vehicle's id; also the message key")
    booking_id: str
    lead_id: str
    licence_checked_by: str | None = Field(default=None, description="who checked the licence (the caller)")
    waiver_signed: bool
    started_at: datetime


@contract("salesflow.leads.TestDriveCompleted", version=1, producer="leads")
class TestDriveCompletedV1(IntegrationEvent):
    """The drive ended with the prospect's feedback."""

    vehicle_id: str = Field(description="the fleet vehicle's id; also the message key")
    booking_id: str
    lead_id: str
    ended_at: datetime
    duration_minutes: int
    feedback_score: int = Field(description="1 (poor) to 5 (excellent)")
    feedback_note: str | None = None
    completed_by: str | None = None


@contract("salesflow.leads.TestDriveMissed", version=1, producer="leads")
class TestDriveMissedV1(IntegrationEvent):
    """No-show: the slot is free again (``recorded_by`` is None when the no-show timer found it)."""

    vehicle_id: str = Field(description="the fleet vehicle's id; also the message key")
    booking_id: str
    lead_id: str
    recorded_by: str | None = None
    recorded_at: datetime


@contract("salesflow.leads.TestDriveCancelled", version=1, producer="leads")
class TestDriveCancelledV1(IntegrationEvent):
    """The booking was called off before the drive; the slot is free again."""

    vehicle_id: str = Field(description="the fleet vehicle's id; also the message key")
    booking_id: str
    lead_id: str
    reason: str
    cancelled_by: str | None = None
    cancelled_at: datetime


@contract("salesflow.leads.TestDriveRescheduled", version=1, producer="leads")
class TestDriveRescheduledV1(IntegrationEvent):
    """The booking now holds this vehicle's slot ``starts_at``–``ends_at``; its old slot (on ``from_vehicle_id``,
    which may be this vehicle) is free. Not a new booking: the booking id stays."""

    vehicle_id: str = Field(description="the fleet vehicle the booking is on now; also the message key")
    booking_id: str
    lead_id: str
    from_vehicle_id: str = Field(description="the vehicle it was on (the same one for a move in time)")
    previous_starts_at: datetime
    starts_at: datetime
    ends_at: datetime
    route: str
    rescheduled_by: str | None = None
    rescheduled_at: datetime


@contract("salesflow.leads.TestDriveMovedAway", version=1, producer="leads")
class TestDriveMovedAwayV1(IntegrationEvent):
    """The booking left this vehicle's calendar for ``to_vehicle_id`` (TestDriveRescheduled is published there)."""

    vehicle_id: str = Field(description="the vehicle it left; also the message key")
    booking_id: str
    lead_id: str
    to_vehicle_id: str
    moved_by: str | None = None
    moved_at: datetime


# --- the customer information card (客户信息卡), key = customer id ------------------------------------------------


@contract("salesflow.leads.CustomerCardUpdated", version=1, producer="leads")
class CustomerCardUpdatedV1(IntegrationEvent):
    """Fields of the customer's card changed (services/leads/config/customer_card.json lists them)."""

    customer_id: str = Field(description="the customer; also the message key")
    changes: dict[str, dict[str, Any]] = Field(description='each changed field: {"from": old, "to": new}; null = '
                                                           "unset")
    updated_by: str | None = None
    updated_at: datetime


@contract("salesflow.leads.CustomerPhoneChanged", version=1, producer="leads")
class CustomerPhoneChangedV1(IntegrationEvent):
    """The customer's phone number changed (E.164); each of their leads publishes LeadPhoneChanged too."""

    customer_id: str = Field(description="the customer; also the message key")
    phone: str
    previous_phone: str
    changed_by: str | None = None
    changed_at: datetime


@contract("salesflow.leads.CustomerMerged", version=1, producer="leads")
class CustomerMergedV1(IntegrationEvent):
    """A duplicate customer was merged into this one (the survivor): the listed leads moved here (each publishes
    LeadCustomerMerged) and the duplicate's numbers now find this customer. Read models keyed by customer should
    fold ``merged_customer_id`` into ``customer_id``."""

    customer_id: str = Field(description="the survivor; also the message key")
    merged_customer_id: str
    lead_ids: list[str]
    phones: list[str] = Field(description="the merged customer's numbers (E.164)")
    merged_by: str | None = None
    merged_at: datetime


@contract("salesflow.leads.CustomerMergedInto", version=1, producer="leads")
class CustomerMergedIntoV1(IntegrationEvent):
    """This customer was merged into ``survivor_id`` and is closed."""

    customer_id: str = Field(description="the merged (closed) customer; also the message key")
    survivor_id: str
    merged_by: str | None = None
    merged_at: datetime
