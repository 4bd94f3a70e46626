"""The Lead aggregate: capture, assignment, grading, follow-ups, appointments, stages, loss, pool.

Every command checks its rule against the state folded from the events and records new events; nothing is
recorded when a rule fails, so a refused command leaves nothing half-written. Time, ids and policy come in as
arguments.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.leads.domain import errors
from services.leads.domain.calls import Call
from services.leads.domain.campaign import NO_ATTRIBUTION, Attribution
from services.leads.domain.events import (
    AppointmentAttended,
    AppointmentCancelled,
    AppointmentMissed,
    AppointmentRescheduled,
    AppointmentScheduled,
    CallRecorded,
    DuplicateContactRecorded,
    FollowUpLogged,
    FollowUpOverdue,
    FollowUpScheduled,
    LeadAssigned,
    LeadClaimed,
    LeadCreated,
    LeadCustomerMerged,
    LeadGraded,
    LeadInvalidated,
    LeadPhoneChanged,
    LeadReleasedToPool,
    LossApproved,
    LossRejected,
    LossRequested,
    OwnerReminded,
    ShowroomVisitRecorded,
    StageAdvanced,
)
from services.leads.domain.policy import LeadPolicy
from services.leads.domain.values import (
    APPOINTMENT_KINDS,
    FOLLOW_UP_KINDS,
    MAX_INTEREST_LENGTH,
    MAX_NAME_LENGTH,
    ORDER_STAGES,
    Appointment,
    Grade,
    PendingLoss,
    Stage,
    Status,
    parse_grade,
    parse_stage,
    text_field,
)
from shared.domain import Aggregate, DomainEvent, InvalidFieldError, check_scheduled
from shared.domain.phone import normalise_phone


@dataclass(frozen=True, slots=True)
class CaptureFields:
    """A capture's own fields, valid and normalised (the phone in E.164)."""

    name: str
    phone: str
    channel: str
    interest: str | None


def capture_fields(*, name: str, phone: str, channel: str, interest: str | None,
                   known_channels: Collection[str]) -> CaptureFields:
    """Validate a capture's fields (InvalidFieldError naming the first bad one). The capture handler calls it
    before it takes any lock or round-robin ticket, so a refused capture costs nobody their turn."""
    clean_name = name.strip()
    if not clean_name:
        raise InvalidFieldError("name", "must not be empty")
    if len(clean_name) > MAX_NAME_LENGTH:
        raise InvalidFieldError("name", f"must be at most {MAX_NAME_LENGTH} characters")
    normalised = normalise_phone(phone)
    if channel not in known_channels:
        known = ", ".join(sorted(known_channels))
        raise InvalidFieldError("channel", f"unknown channel {channel!r}; known: {known}")
    return CaptureFields(clean_name, normalised, channel, text_field("interest", interest, MAX_INTEREST_LENGTH))


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
        self.status = Status.OPEN
        self.captured_at: datetime | None = None
        self.owner_id: str | None = None
        self.team_id: str | None = None
        self.source_system: str | None = None
        self.external_id: str | None = None
        self.order_id: str | None = None
        self.attribution = NO_ATTRIBUTION
        self.referral_ids: list[str] = []
        self.follow_up_sequence = 0
        self.follow_up_due_at: datetime | None = None
        self.overdue_sequence: int | None = None
        self.last_activity_at: datetime | None = None
        # Increments on every activity that restarts the pool clock; the pool timer is named after it.
        self.activity_sequence = 0
        self.pooled = False
        self.released_by: str | None = None
        self.released_at: datetime | None = None
        self.pending_loss: PendingLoss | None = None
        self.lost_reason: str | None = None  # the approved loss's reason (lost-lead lists filter on it)
        # The current follow-up was set by a missed call (a call-back task in the work queue); the due time the
        # event just applied asked for a call-back at (see _apply).
        self.follow_up_is_call_back = False
        self._call_back_due_at: datetime | None = None
        self.appointments: dict[str, Appointment] = {}
        self.touchpoints = 0
        self.visits = 0  # showroom visits (reception register entries) of this lead
        # The last contact (capture or repeat contact): channel, name, interest, when — for resend detection.
        self.last_contact: tuple[str, str | None, str | None, datetime] | None = None

    # --- queries over state ---

    def is_resend_of_last_contact(self, *, channel: str, name: str | None, interest: str | None, now: datetime,
                                  policy: LeadPolicy) -> bool:
        """A keyless capture identical to the last contact within ``policy.resend_window``: the same request sent
        again (its first answer lost to a timeout), so it must not count as another contact."""
        if self.last_contact is None:
            return False
        last_channel, last_name, last_interest, at = self.last_contact
        same = (last_channel, last_name, last_interest) == (
            channel, text_field("name", name, MAX_NAME_LENGTH), text_field("interest", interest, MAX_INTEREST_LENGTH))
        return same and timedelta(0) <= now - at <= policy.resend_window

    @property
    def is_open(self) -> bool:
        """Still in the pipeline: dedupe records repeat contacts on it instead of creating a lead."""
        return self.status is Status.OPEN and self.stage is not Stage.DELIVERED

    @property
    def is_overdue(self) -> bool:
        return self.overdue_sequence is not None and self.overdue_sequence == self.follow_up_sequence

    @property
    def follow_up_timer_due(self) -> datetime | None:
        """When the current follow-up's overdue check must run, or None (closed, pooled, nothing due)."""
        if not self.is_open or self.pooled or self.stage in ORDER_STAGES or self.is_overdue:
            return None
        return self.follow_up_due_at

    def pool_timer_due(self, policy: LeadPolicy) -> datetime | None:
        """When the lead goes to the pool if nothing happens. Not while a manager decides on a loss request:
        the decision comes first (after a rejection the idle clock counts from the last activity again)."""
        if not self.is_open or self.pooled or self.stage in ORDER_STAGES or self.last_activity_at is None:
            return None
        if self.pending_loss is not None:
            return None
        return self.last_activity_at + policy.pool_idle

    # --- capture ---

    @classmethod
    def capture(
        cls,
        *,
        lead_id: str,
        customer_id: str,
        fields: CaptureFields,
        captured_at: datetime,
        owner_id: str | None = None,
        team_id: str | None = None,
        source_system: str | None = None,
        external_id: str | None = None,
        referral_id: str | None = None,
        referrer_customer_id: str | None = None,
        order_id: str | None = None,
        stage: Stage = Stage.NEW,
        reactivated: bool = False,
        policy: LeadPolicy | None = None,
        attribution: Attribution = NO_ATTRIBUTION,
        assignment_reason: str = "round_robin",
    ) -> Lead:
        """Capture a new lead from its validated fields (:func:`capture_fields`: the handler validates them
        once, before any lock is taken, and the phone is normalised there only)."""
        lead = cls(lead_id)
        lead._record(LeadCreated(
            lead_id=lead_id, customer_id=customer_id, name=fields.name, phone=fields.phone, channel=fields.channel,
            interest=fields.interest, captured_at=captured_at, stage=stage.value, owner_id=owner_id,
            team_id=team_id, source_system=source_system, external_id=external_id, referral_id=referral_id,
            referrer_customer_id=referrer_customer_id, order_id=order_id, reactivated=reactivated,
            **attribution.as_fields(),
        ))
        if owner_id is not None:
            lead._record(LeadAssigned(lead_id=lead_id, owner_id=owner_id, team_id=team_id, reason=assignment_reason,
                                      assigned_at=captured_at))
        if stage not in ORDER_STAGES:
            lead._schedule_follow_up(captured_at + (policy or LeadPolicy()).interval(Grade.N.value))
        return lead

    def record_duplicate_contact(
        self, *, channel: str, name: str | None, interest: str | None, now: datetime,
        source_system: str | None = None, external_id: str | None = None,
        referral_id: str | None = None, referrer_customer_id: str | None = None,
    ) -> None:
        """A repeat contact of this lead's customer: a touchpoint, and the owner is reminded."""
        self._require_open()
        self._record(DuplicateContactRecorded(
            lead_id=self.id, channel=channel, name=text_field("name", name, MAX_NAME_LENGTH),
            interest=text_field("interest", interest, MAX_INTEREST_LENGTH), source_system=source_system,
            external_id=external_id, referral_id=referral_id, referrer_customer_id=referrer_customer_id,
            recorded_at=now,
        ))
        if self.owner_id is not None:
            self._record(OwnerReminded(lead_id=self.id, owner_id=self.owner_id, reason="duplicate_contact",
                                       reminded_at=now))

    # --- assignment ---

    def assign(self, *, owner_id: str, team_id: str | None, reason: str, by: str | None, now: datetime) -> None:
        self._require_open()
        if self.pooled:
            raise errors.LeadInPoolError("the lead is in the pool: a consultant claims it", lead_id=self.id)
        if owner_id == self.owner_id:
            raise errors.AlreadyOwnerError(f"{owner_id} already owns the lead", lead_id=self.id)
        self._record(LeadAssigned(lead_id=self.id, owner_id=owner_id, previous_owner_id=self.owner_id,
                                  team_id=team_id, reason=reason, assigned_by=by, assigned_at=now))

    # --- grading, follow-ups, appointments ---

    def regrade(self, *, grade: str, reason: str, by: str | None, now: datetime, policy: LeadPolicy) -> None:
        """Grade H/A/B/C with a reason; the next follow-up is due after the grade's interval."""
        self._require_workable()
        new_grade = parse_grade(grade)
        if new_grade is Grade.N:
            raise InvalidFieldError("grade", "N means not yet graded; grade H, A, B or C")
        clean_reason = text_field("reason", reason)
        if not clean_reason:
            raise InvalidFieldError("reason", "a grade needs a reason")
        self._record(LeadGraded(lead_id=self.id, grade=new_grade.value, previous_grade=self.grade.value,
                                reason=clean_reason, graded_by=by, graded_at=now))
        self._schedule_follow_up(now + policy.interval(new_grade.value))

    def log_follow_up(
        self, *, kind: str, outcome: str, notes: str | None, by: str | None, now: datetime, policy: LeadPolicy,
        next_due_at: datetime | None = None, grade: str | None = None, grade_reason: str | None = None,
    ) -> None:
        self._require_workable()
        if kind not in FOLLOW_UP_KINDS:
            known = ", ".join(sorted(FOLLOW_UP_KINDS))
            raise InvalidFieldError("kind", f"unknown follow-up kind {kind!r}; known: {known}")
        clean_outcome = text_field("outcome", outcome)
        if not clean_outcome:
            raise InvalidFieldError("outcome", "must not be empty")
        if next_due_at is not None:
            check_scheduled("next_due_at", next_due_at, now=now)
        new_grade = parse_grade(grade) if grade is not None else None
        if new_grade is Grade.N:
            raise InvalidFieldError("grade", "N means not yet graded; grade H, A, B or C")
        self._record(FollowUpLogged(lead_id=self.id, kind=kind, outcome=clean_outcome,
                                    notes=text_field("notes", notes), logged_by=by, logged_at=now))
        if self.stage is Stage.NEW:
            self._record(StageAdvanced(lead_id=self.id, from_stage=Stage.NEW.value, to_stage=Stage.CONTACTED.value,
                                       reason="first_follow_up", moved_by=by, moved_at=now))
        if new_grade is not None:
            self._record(LeadGraded(lead_id=self.id, grade=new_grade.value, previous_grade=self.grade.value,
                                    reason=text_field("grade_reason", grade_reason) or "re-graded at follow-up",
                                    graded_by=by, graded_at=now))
        self._schedule_follow_up(next_due_at or now + policy.interval(self.grade.value))

    def mark_follow_up_overdue(self, *, sequence: int, now: datetime) -> bool:
        """The overdue timer fired. Records FollowUpOverdue only if that due date is still the current one and
        still missed — a timer may fire after the follow-up was logged (stale) or twice (no second event)."""
        due = self.follow_up_due_at
        if sequence != self.follow_up_sequence or self.follow_up_timer_due is None or due is None or due > now:
            return False
        self._record(FollowUpOverdue(lead_id=self.id, sequence=sequence, due_at=due, owner_id=self.owner_id,
                                     detected_at=now))
        return True

    def schedule_appointment(
        self, *, appointment_id: str, kind: str, scheduled_for: datetime, by: str | None, now: datetime
    ) -> None:
        self._require_workable()
        if kind not in APPOINTMENT_KINDS:
            raise InvalidFieldError("kind", f"unknown appointment kind {kind!r}; known: showroom_visit, test_drive")
        check_scheduled("scheduled_for", scheduled_for, now=now)
        self._record(AppointmentScheduled(lead_id=self.id, appointment_id=appointment_id, kind=kind,
                                          scheduled_for=scheduled_for, scheduled_by=by))

    def record_appointment_outcome(
        self, *, appointment_id: str, attended: bool, by: str | None, now: datetime, policy: LeadPolicy
    ) -> None:
        """Attended moves the stage forward (visited / test driven); a no-show makes a follow-up due soon. A test
        drive booked on a fleet vehicle is closed through its booking (start / no-show), which frees the vehicle."""
        self._require_open()
        appointment = self._open_appointment(appointment_id)
        if appointment.vehicle_id is not None:
            raise errors.AppointmentIsATestDriveError(
                f"appointment {appointment_id} is a test drive on vehicle {appointment.vehicle_id}: record it on "
                f"/v1/test-drives/{appointment_id}", booking_id=appointment_id)
        self._close_appointment(appointment_id, appointment, attended=attended, by=by, now=now, policy=policy)

    def schedule_test_drive(self, *, booking_id: str, vehicle_id: str, starts_at: datetime, by: str | None) -> None:
        """The lead's side of a booking on the fleet (the vehicle checked the slot): an appointment of kind
        test_drive whose id is the booking's."""
        self._require_workable()
        self._record(AppointmentScheduled(lead_id=self.id, appointment_id=booking_id, kind="test_drive",
                                          scheduled_for=starts_at, scheduled_by=by, vehicle_id=vehicle_id))

    def reschedule_test_drive(self, *, booking_id: str, vehicle_id: str, starts_at: datetime, by: str | None) -> None:
        """The lead's side of a booking moved to another slot or vehicle (the vehicles checked the slot)."""
        self._require_workable()
        appointment = self._open_appointment(booking_id)
        self._record(AppointmentRescheduled(
            lead_id=self.id, appointment_id=booking_id, kind=appointment.kind, scheduled_for=starts_at,
            previous_scheduled_for=appointment.scheduled_for, vehicle_id=vehicle_id, rescheduled_by=by))

    def cancel_test_drive(self, *, booking_id: str, reason: str, by: str | None, now: datetime) -> bool:
        """The booking was cancelled: the appointment closes without an outcome (no follow-up rule: calling off
        is not a no-show). Nothing to record when the lead left the pipeline or the appointment is closed."""
        appointment = self.appointments.get(booking_id)
        if not self.is_open or appointment is None or appointment.outcome is not None:
            return False
        self._record(AppointmentCancelled(lead_id=self.id, appointment_id=booking_id, kind=appointment.kind,
                                          reason=reason, cancelled_by=by, cancelled_at=now))
        return True

    def record_test_drive_outcome(self, *, booking_id: str, attended: bool, by: str | None, now: datetime,
                                  policy: LeadPolicy) -> bool:
        """The booking started (attended: stage test driven) or was missed (a follow-up soon). Nothing to record
        when the lead left the pipeline meanwhile or the appointment is already closed (a repeated timer)."""
        appointment = self.appointments.get(booking_id)
        if not self.is_open or appointment is None or appointment.outcome is not None:
            return False
        self._close_appointment(booking_id, appointment, attended=attended, by=by, now=now, policy=policy)
        return True

    def _open_appointment(self, appointment_id: str) -> Appointment:
        appointment = self.appointments.get(appointment_id)
        if appointment is None:
            raise errors.AppointmentNotFoundError(f"no appointment {appointment_id} on this lead", lead_id=self.id)
        if appointment.outcome is not None:
            raise errors.AppointmentAlreadyClosedError(f"appointment already {appointment.outcome}")
        return appointment

    def _close_appointment(self, appointment_id: str, appointment: Appointment, *, attended: bool, by: str | None,
                           now: datetime, policy: LeadPolicy) -> None:
        if attended:
            self._record(AppointmentAttended(lead_id=self.id, appointment_id=appointment_id, kind=appointment.kind,
                                             attended_at=now))
            target = Stage.TEST_DRIVEN if appointment.kind == "test_drive" else Stage.VISITED
            if target.rank > self.stage.rank:
                self._record(StageAdvanced(lead_id=self.id, from_stage=self.stage.value, to_stage=target.value,
                                           reason=f"{appointment.kind}_attended", moved_by=by, moved_at=now))
        else:
            self._record(AppointmentMissed(lead_id=self.id, appointment_id=appointment_id, kind=appointment.kind,
                                           recorded_at=now))
            self._schedule_follow_up(now + policy.no_show_follow_up)

    def record_showroom_visit(
        self, *, visit_id: str, visit_number: int, first_visit: bool, consultant_id: str | None, by: str | None,
        now: datetime, campaign_id: str | None = None,
    ) -> None:
        """The customer came to the showroom: activity (the pool clock restarts) and, if the lead is not that far
        yet, stage visited (接待). A pooled lead records it too: the visit happened, whoever claims the lead.
        ``campaign_id`` is the campaign the visitor named at reception: the lead's own, or none. A lead stays
        credited to what brought it first (as a touchpoint does), so a different campaign is refused rather than
        dropped without a word."""
        self._require_open()
        if campaign_id is not None and campaign_id != self.attribution.campaign_id:
            brought_by = (f"campaign {self.attribution.campaign_id!r}" if self.attribution.campaign_id
                          else "no campaign")
            raise InvalidFieldError("campaign_id", f"lead {self.id} came from {brought_by}; a visit does not change "
                                                   "the campaign a lead is credited to")
        self._record(ShowroomVisitRecorded(lead_id=self.id, visit_id=visit_id, visit_number=visit_number,
                                           first_visit=first_visit, consultant_id=consultant_id, arrived_at=now))
        if self.stage.rank < Stage.VISITED.rank:
            self._record(StageAdvanced(lead_id=self.id, from_stage=self.stage.value, to_stage=Stage.VISITED.value,
                                       reason="showroom_visit", moved_by=by, moved_at=now))

    def change_phone(self, *, phone: str, by: str | None, now: datetime) -> None:
        """The customer's number changed (the card's command checked it belongs to nobody else). Closed leads
        follow too, so the customer's history stays under one number."""
        self._record(LeadPhoneChanged(lead_id=self.id, customer_id=self.customer_id, phone=normalise_phone(phone),
                                      previous_phone=self.phone, changed_by=by, changed_at=now))

    def move_to_customer(self, *, customer_id: str, by: str | None, now: datetime) -> None:
        """The lead's customer was merged into ``customer_id`` (the merge command checked both customers). Closed
        leads move too, so the survivor carries the whole history."""
        self._record(LeadCustomerMerged(lead_id=self.id, customer_id=customer_id,
                                        previous_customer_id=self.customer_id, merged_by=by, merged_at=now))

    def record_call(self, *, call: Call, consultant_id: str | None, now: datetime, policy: LeadPolicy) -> None:
        """A call-center call with this lead's customer. Answered: a follow-up of kind ``call`` logged by the
        agent's consultant (so the first one moves the lead to contacted and the next is due per the grade).
        Missed: a call-back due ``policy.call_back_within`` after the call started — the next follow-up, unless
        one is due earlier; missed, it goes overdue like any follow-up (the same durable timer). A pooled lead
        records the call only: nobody owns it until it is claimed."""
        self._require_open()
        call_back_due = None
        if not call.answered and not self.pooled:
            call_back_due = call.started_at + policy.call_back_within
        self._record(CallRecorded(
            lead_id=self.id, call_id=call.call_id, direction=call.direction, outcome=call.outcome,
            agent_id=call.agent_id, consultant_id=consultant_id, started_at=call.started_at,
            duration_seconds=call.duration_seconds, recording_url=call.recording_url,
            call_back_due_at=call_back_due, recorded_at=now))
        if self.pooled:
            return
        if call.answered:
            self.log_follow_up(kind="call", outcome=f"call-center {call.direction} call answered",
                               notes=f"call {call.call_id}, {call.duration_seconds} s", by=consultant_id, now=now,
                               policy=policy)
        elif call_back_due is not None and (self.follow_up_due_at is None or self.is_overdue
                                            or call_back_due < self.follow_up_due_at):
            self._schedule_follow_up(call_back_due)

    # --- stages ---

    def move_stage(self, *, to_stage: str, reason: str | None, by: str | None, now: datetime) -> None:
        """Forward skips are allowed; a move back needs a reason and is recorded as ``backwards``."""
        self._require_workable()
        target = parse_stage(to_stage)
        if target in ORDER_STAGES:
            raise errors.StageOwnedByOrdersError(f"{target} comes from the orders service, not by hand")
        if self.stage in ORDER_STAGES:
            raise errors.StageOwnedByOrdersError(f"the lead is at {self.stage}; orders drives it from here")
        if target is self.stage:
            raise errors.SameStageError(f"the lead is already at {target}")
        backwards = target.rank < self.stage.rank
        clean_reason = text_field("reason", reason)
        if backwards and not clean_reason:
            raise InvalidFieldError("reason", "moving a lead back needs a reason")
        self._record(StageAdvanced(lead_id=self.id, from_stage=self.stage.value, to_stage=target.value,
                                   backwards=backwards, reason=clean_reason, moved_by=by, moved_at=now))

    def sign_contract(self, *, order_id: str, now: datetime) -> bool:
        """Reaction to ContractSigned. The order is a fact: it applies whatever the lead's status."""
        if self.order_id == order_id and self.stage in ORDER_STAGES:
            return False
        self._record(StageAdvanced(lead_id=self.id, from_stage=self.stage.value, to_stage=Stage.CONTRACT_SIGNED.value,
                                   backwards=self.stage.rank > Stage.CONTRACT_SIGNED.rank,
                                   reason="contract_signed", order_id=order_id, moved_at=now))
        return True

    def cancel_order(self, *, order_id: str, now: datetime) -> bool:
        """Reaction to OrderCancelled: back to negotiating, explicitly."""
        if self.order_id != order_id or self.stage is not Stage.CONTRACT_SIGNED:
            return False
        self._record(StageAdvanced(lead_id=self.id, from_stage=self.stage.value, to_stage=Stage.NEGOTIATING.value,
                                   backwards=True, reason="order_cancelled", order_id=order_id, moved_at=now))
        return True

    def deliver(self, *, order_id: str, now: datetime) -> bool:
        if self.stage is Stage.DELIVERED:
            return False
        self._record(StageAdvanced(lead_id=self.id, from_stage=self.stage.value, to_stage=Stage.DELIVERED.value,
                                   reason="delivered", order_id=order_id, moved_at=now))
        return True

    # --- leaving the pipeline ---

    def request_loss(
        self, *, reason: str, competitor_model: str | None, note: str | None, by: str | None, now: datetime,
        policy: LeadPolicy,
    ) -> None:
        self._require_open()
        if self.stage in ORDER_STAGES:
            raise errors.StageOwnedByOrdersError("a lead with a signed contract is not lost; orders cancels it")
        if self.pending_loss is not None:
            raise errors.LossAlreadyRequestedError("a loss request is already waiting for a manager")
        if reason not in policy.loss_reasons:
            raise InvalidFieldError("reason", f"unknown loss reason {reason!r}; known: "
                                    f"{', '.join(sorted(policy.loss_reasons))}")
        self._record(LossRequested(lead_id=self.id, reason=reason,
                                   competitor_model=text_field("competitor_model", competitor_model, 100),
                                   note=text_field("note", note), requested_by=by, requested_at=now))

    def approve_loss(self, *, manager_id: str, now: datetime) -> None:
        self._require_open()
        pending = self.pending_loss
        if pending is None:
            raise errors.NoLossRequestedError("nobody requested this lead's loss")
        self._record(LossApproved(lead_id=self.id, reason=pending.reason, competitor_model=pending.competitor_model,
                                  approved_by=manager_id, approved_at=now))

    def reject_loss(self, *, manager_id: str, note: str | None, now: datetime) -> None:
        self._require_open()
        if self.pending_loss is None:
            raise errors.NoLossRequestedError("nobody requested this lead's loss")
        self._record(LossRejected(lead_id=self.id, rejected_by=manager_id, note=text_field("note", note),
                                  rejected_at=now))

    def invalidate(self, *, reason: str, by: str | None, now: datetime) -> None:
        self._require_open()
        if self.stage in ORDER_STAGES:
            raise errors.StageOwnedByOrdersError("a lead with a signed contract cannot be invalid")
        clean = text_field("reason", reason)
        if not clean:
            raise InvalidFieldError("reason", "must not be empty")
        self._record(LeadInvalidated(lead_id=self.id, reason=clean, invalidated_by=by, invalidated_at=now))

    # --- pool (公海) ---

    def release_to_pool(self, *, now: datetime, policy: LeadPolicy) -> bool:
        """The pool timer fired: release if the lead is still idle for the policy's period (else stale: no-op)."""
        due = self.pool_timer_due(policy)
        if due is None or due > now or self.last_activity_at is None:
            return False
        self._record(LeadReleasedToPool(lead_id=self.id, previous_owner_id=self.owner_id, team_id=self.team_id,
                                        idle_since=self.last_activity_at, released_at=now))
        return True

    def release_for_departed_owner(self, *, now: datetime) -> None:
        """The owner left and nobody in the team can take the lead over: it goes to the pool at once."""
        self._require_open()
        if self.pooled:
            return
        self._record(LeadReleasedToPool(lead_id=self.id, previous_owner_id=self.owner_id, team_id=self.team_id,
                                        idle_since=self.last_activity_at or now, released_at=now,
                                        reason="owner_left"))

    def claim(self, *, consultant_id: str, consultant_team_id: str, now: datetime, policy: LeadPolicy) -> None:
        self._require_open()
        if not self.pooled:
            raise errors.LeadNotInPoolError("the lead is not in the pool", lead_id=self.id)
        if self.team_id is not None and consultant_team_id != self.team_id:
            raise errors.ClaimOutsideTeamError(f"only consultants of team {self.team_id} can claim this lead")
        if consultant_id == self.released_by and self.released_at is not None:
            until = self.released_at + policy.claim_cooldown
            if now < until:
                raise errors.ClaimCooldownError(
                    "the previous owner cannot claim the lead back yet", available_at=until.isoformat())
        self._record(LeadClaimed(lead_id=self.id, owner_id=consultant_id, team_id=consultant_team_id,
                                 claimed_at=now))
        self._schedule_follow_up(now + policy.interval(self.grade.value))

    # --- outreach batches (domain/outreach.py) ---

    def hand_over_for_outreach(self, *, consultant_id: str, team_id: str, due_at: datetime, by: str | None,
                               now: datetime) -> None:
        """A manager's outreach batch gives this lead to ``consultant_id`` with a follow-up due at ``due_at``: a
        pooled lead is claimed for them (the manager's decision: no cool-down), another owner's lead is reassigned
        (reason ``outreach_batch``); then the next follow-up is due (unchanged if it already is then)."""
        self._require_open()
        if self.stage in ORDER_STAGES:
            raise errors.StageOwnedByOrdersError("a lead with a signed contract is orders' to follow")
        if self.pooled:
            self._record(LeadClaimed(lead_id=self.id, owner_id=consultant_id, team_id=team_id, claimed_at=now))
        elif self.owner_id != consultant_id:
            self._record(LeadAssigned(lead_id=self.id, owner_id=consultant_id, previous_owner_id=self.owner_id,
                                      team_id=team_id, reason="outreach_batch", assigned_by=by, assigned_at=now))
        if self.follow_up_due_at != due_at or self.is_overdue:
            self._schedule_follow_up(due_at)

    # --- helpers ---

    def _require_open(self) -> None:
        if self.status is not Status.OPEN:
            raise errors.LeadClosedError(f"the lead is {self.status}", lead_id=self.id, status=self.status.value)
        if self.stage is Stage.DELIVERED:
            raise errors.LeadClosedError("the lead is delivered", lead_id=self.id, status="delivered")

    def _require_workable(self) -> None:
        """Open and owned: pooled leads are claimed before anyone works on them."""
        self._require_open()
        if self.pooled:
            raise errors.LeadInPoolError("the lead is in the pool: claim it first", lead_id=self.id)

    def _schedule_follow_up(self, due_at: datetime) -> None:
        self._record(FollowUpScheduled(lead_id=self.id, sequence=self.follow_up_sequence + 1, due_at=due_at,
                                       owner_id=self.owner_id))

    def _touch(self, at: datetime) -> None:
        self.last_activity_at = at
        self.activity_sequence += 1

    def _apply(self, event: DomainEvent) -> None:
        # A missed call's call-back is the FollowUpScheduled recorded right after its CallRecorded, if any.
        call_back_due_at, self._call_back_due_at = self._call_back_due_at, None
        match event:
            case LeadCreated():
                self.customer_id = event.customer_id
                self.name = event.name
                self.phone = event.phone
                self.channel = event.channel
                self.interest = event.interest
                self.captured_at = event.captured_at
                self.last_contact = (event.channel, event.name, event.interest, event.captured_at)
                self.stage = Stage(event.stage)
                self.owner_id = event.owner_id
                self.team_id = event.team_id
                self.source_system = event.source_system
                self.external_id = event.external_id
                self.attribution = Attribution(event.campaign_id, event.utm_source, event.utm_medium,
                                               event.utm_campaign, event.utm_content, event.utm_term)
                self.order_id = event.order_id
                if event.referral_id:
                    self.referral_ids.append(event.referral_id)
                self._touch(event.captured_at)
            case LeadAssigned():
                self.owner_id = event.owner_id
                self.team_id = event.team_id or self.team_id
                self._touch(event.assigned_at)
            case LeadGraded():
                self.grade = Grade(event.grade)
            case FollowUpScheduled():
                self.follow_up_sequence = event.sequence
                self.follow_up_due_at = event.due_at
                self.follow_up_is_call_back = call_back_due_at is not None and event.due_at == call_back_due_at
            case FollowUpLogged():
                self._touch(event.logged_at)
            case FollowUpOverdue():
                self.overdue_sequence = event.sequence
            case AppointmentScheduled():
                self.appointments[event.appointment_id] = Appointment(event.kind, event.scheduled_for,
                                                                      vehicle_id=event.vehicle_id)
            case AppointmentAttended():
                self.appointments[event.appointment_id].outcome = "attended"
                self._touch(event.attended_at)
            case AppointmentMissed():
                self.appointments[event.appointment_id].outcome = "missed"
            case AppointmentRescheduled():
                self.appointments[event.appointment_id] = Appointment(event.kind, event.scheduled_for,
                                                                      vehicle_id=event.vehicle_id)
            case AppointmentCancelled():
                self.appointments[event.appointment_id].outcome = "cancelled"
            case StageAdvanced():
                self.stage = Stage(event.to_stage)
                if event.order_id is not None and event.to_stage == Stage.CONTRACT_SIGNED.value:
                    self.order_id = event.order_id
            case LossRequested():
                self.pending_loss = PendingLoss(event.reason, event.competitor_model, event.requested_by)
            case LossApproved():
                self.pending_loss = None
                self.lost_reason = event.reason
                self.status = Status.LOST
            case LossRejected():
                self.pending_loss = None
            case LeadInvalidated():
                self.status = Status.INVALID
            case LeadReleasedToPool():
                self.pooled = True
                self.released_by = event.previous_owner_id
                self.released_at = event.released_at
                self.owner_id = None
            case LeadClaimed():
                self.pooled = False
                self.owner_id = event.owner_id
                self.team_id = event.team_id or self.team_id
                self._touch(event.claimed_at)
            case DuplicateContactRecorded():
                self.touchpoints += 1
                self.last_contact = (event.channel, event.name, event.interest, event.recorded_at)
                if event.referral_id:
                    self.referral_ids.append(event.referral_id)
            case CallRecorded():
                # The call's follow-up (FollowUpLogged) or call-back (FollowUpScheduled) is its own event, recorded
                # right after this one: remember the call-back's due time so that one is known as a call-back.
                self._call_back_due_at = event.call_back_due_at
            case OwnerReminded():
                pass
            case LeadPhoneChanged():
                self.phone = event.phone
            case LeadCustomerMerged():
                self.customer_id = event.customer_id
            case ShowroomVisitRecorded():
                self.visits += 1
                self._touch(event.arrived_at)
            case _:
                raise TypeError(f"Lead cannot apply {type(event).__name__}")



__all__ = ["MAX_INTEREST_LENGTH", "MAX_NAME_LENGTH", "Grade", "Lead", "Stage", "Status"]
