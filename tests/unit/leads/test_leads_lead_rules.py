"""Every rule of the Lead aggregate after capture: assignment, grading, follow-ups and their overdue check,
appointments, stages, loss approval, invalidation, the pool and its cool-down, duplicate contacts, and the
reactions to orders. A refused command records nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.leads.domain import errors
from services.leads.domain.events import (
    AppointmentAttended,
    AppointmentMissed,
    DuplicateContactRecorded,
    FollowUpLogged,
    FollowUpOverdue,
    FollowUpScheduled,
    LeadAssigned,
    LeadClaimed,
    LeadGraded,
    LeadReleasedToPool,
    LossApproved,
    OwnerReminded,
    StageAdvanced,
)
from services.leads.domain.lead import Grade, Lead, Stage, Status
from services.leads.domain.policy import LeadPolicy
from shared.domain import DomainError, InvalidFieldError
from tests.support.leads_builders import captured_lead

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = LeadPolicy()
CHANNELS = frozenset({"online_shop", "call_center", "referral"})


def new_lead(**overrides: Any) -> Lead:
    """A captured lead owned by c1, loaded as if from the store (nothing pending)."""
    arguments: dict[str, Any] = {
        "lead_id": "L-1", "customer_id": "C-1", "name": "张三", "phone": "13812345678", "channel": "online_shop",
        "interest": None, "captured_at": T0, "known_channels": CHANNELS, "owner_id": "c1", "team_id": "t1",
        "policy": POLICY,
    }
    arguments.update(overrides)
    return loaded(captured_lead(**arguments))


def test_rehydrating_the_recorded_events_gives_the_same_state() -> None:
    lead = new_lead()
    lead.regrade(grade="H", reason="soon", by="c1", now=T0, policy=POLICY)
    follow_up(lead, T0 + timedelta(hours=1))
    events = captured_lead(lead_id="L-1", customer_id="C-1", name="张三", phone="13812345678", channel="online_shop",
                          interest=None, captured_at=T0, known_channels=CHANNELS, owner_id="c1", team_id="t1",
                          policy=POLICY).pending_events + lead.pending_events
    rebuilt = Lead.rehydrate("L-1", events)
    assert vars(rebuilt) | {"_pending": [], "loaded_version": 0} == vars(lead) | {"_pending": [],
                                                                                  "loaded_version": 0}


def loaded(lead: Lead) -> Lead:
    """As if saved: the pending events become loaded history (what the repository's append does)."""
    lead.loaded_version = lead.version
    lead._pending.clear()
    return lead


def recorded(lead: Lead) -> list[type]:
    return [type(e) for e in lead.pending_events]


def refused(lead: Lead, error: type[DomainError], action: Any) -> DomainError:
    with pytest.raises(error) as caught:
        action()
    assert lead.pending_events == [], "a refused command records nothing"
    return caught.value


def follow_up(lead: Lead, now: datetime, **kw: Any) -> None:
    lead.log_follow_up(kind=kw.pop("kind", "call"), outcome=kw.pop("outcome", "talked"), notes=None, by="c1",
                       now=now, policy=POLICY, **kw)


def lost(lead: Lead) -> Lead:
    lead.request_loss(reason="price", competitor_model=None, note=None, by="c1", now=T0, policy=POLICY)
    lead.approve_loss(manager_id="m1", now=T0)
    return loaded(lead)


def pooled(lead: Lead) -> Lead:
    assert lead.release_to_pool(now=T0 + POLICY.pool_idle, policy=POLICY)
    return loaded(lead)


# --- capture and assignment ---


def test_a_lead_captured_with_an_owner_records_the_assignment_and_a_first_contact_due_in_24_hours() -> None:
    lead = captured_lead(lead_id="L-1", customer_id="C-1", name="张三", phone="13812345678", channel="online_shop",
                        interest=None, captured_at=T0, known_channels=CHANNELS, owner_id="c1", team_id="t1")
    assert recorded(lead)[1:] == [LeadAssigned, FollowUpScheduled]
    assert lead.owner_id == "c1"
    assert lead.follow_up_due_at == T0 + timedelta(hours=24)


def test_a_lead_created_from_a_checkout_starts_at_contract_signed_with_nothing_due() -> None:
    lead = captured_lead(lead_id="L-1", customer_id="C-1", name="张三", phone="13812345678", channel="online_shop",
                        interest=None, captured_at=T0, known_channels=CHANNELS, order_id="O-1",
                        stage=Stage.CONTRACT_SIGNED)
    assert lead.stage is Stage.CONTRACT_SIGNED
    assert lead.order_id == "O-1"
    assert lead.follow_up_timer_due is None
    assert lead.pool_timer_due(POLICY) is None


def test_a_manager_can_reassign_to_another_consultant() -> None:
    lead = new_lead()
    lead.assign(owner_id="c2", team_id="t1", reason="manual", by="m1", now=T0)
    assert lead.pending_events[0] == LeadAssigned(lead_id="L-1", owner_id="c2", previous_owner_id="c1",
                                                  team_id="t1", reason="manual", assigned_by="m1", assigned_at=T0)


def test_assigning_to_the_current_owner_is_refused() -> None:
    lead = new_lead()
    refused(lead, errors.AlreadyOwnerError,
            lambda: lead.assign(owner_id="c1", team_id="t1", reason="manual", by="m1", now=T0))


# --- grading and follow-ups ---


@pytest.mark.parametrize(("grade", "interval"), [("H", 2), ("A", 4), ("B", 7), ("C", 14)])
def test_grading_sets_the_next_follow_up_after_the_grades_interval(grade: str, interval: int) -> None:
    lead = new_lead()
    lead.regrade(grade=grade, reason="wants to buy", by="c1", now=T0, policy=POLICY)
    assert recorded(lead) == [LeadGraded, FollowUpScheduled]
    assert lead.grade == Grade(grade)
    assert lead.follow_up_due_at == T0 + timedelta(days=interval)


@pytest.mark.parametrize(("grade", "reason", "field"), [("N", "x", "grade"), ("Z", "x", "grade"), ("H", " ", "reason")])
def test_grading_refuses_n_unknown_grades_and_missing_reasons(grade: str, reason: str, field: str) -> None:
    lead = new_lead()
    error = refused(lead, InvalidFieldError,
                    lambda: lead.regrade(grade=grade, reason=reason, by="c1", now=T0, policy=POLICY))
    assert isinstance(error, InvalidFieldError)
    assert error.field == field


def test_the_first_follow_up_moves_a_new_lead_to_contacted_and_can_regrade() -> None:
    lead = new_lead()
    follow_up(lead, T0 + timedelta(hours=1), grade="A", grade_reason="two weeks")
    assert recorded(lead) == [FollowUpLogged, StageAdvanced, LeadGraded, FollowUpScheduled]
    assert lead.stage is Stage.CONTACTED
    assert lead.grade is Grade.A
    assert lead.follow_up_due_at == T0 + timedelta(hours=1, days=4)


def test_a_follow_up_may_set_its_own_next_due_date_but_not_in_the_past() -> None:
    lead = new_lead()
    refused(lead, InvalidFieldError, lambda: follow_up(lead, T0, next_due_at=T0 - timedelta(minutes=1)))
    follow_up(lead, T0, next_due_at=T0 + timedelta(days=1))
    assert lead.follow_up_due_at == T0 + timedelta(days=1)


@pytest.mark.parametrize(("next_due_at", "reason"), [
    (datetime(9999, 12, 31, tzinfo=UTC), "must be at most 365 days ahead"),
    (T0 + timedelta(days=366), "must be at most 365 days ahead"),
    (datetime(2030, 1, 1), "must include a time zone"),
])
def test_a_follow_up_due_date_out_of_range_is_refused_naming_the_field(next_due_at: datetime, reason: str) -> None:
    lead = new_lead()
    error = refused(lead, InvalidFieldError, lambda: follow_up(lead, T0, next_due_at=next_due_at))
    assert isinstance(error, InvalidFieldError)
    assert (error.field, error.reason) == ("next_due_at", reason)


@pytest.mark.parametrize(("kw", "field"), [({"kind": "fax"}, "kind"), ({"outcome": " "}, "outcome")])
def test_a_follow_up_needs_a_known_kind_and_an_outcome(kw: dict[str, str], field: str) -> None:
    lead = new_lead()
    error = refused(lead, InvalidFieldError, lambda: follow_up(lead, T0, **kw))
    assert isinstance(error, InvalidFieldError)
    assert error.field == field


def test_a_follow_up_on_a_lost_lead_is_refused_as_closed() -> None:
    lead = lost(new_lead())
    error = refused(lead, errors.LeadClosedError, lambda: follow_up(lead, T0))
    assert error.code == "lead_closed"
    assert error.http_status == 409


def test_a_missed_follow_up_becomes_overdue_once_and_only_when_due() -> None:
    lead = new_lead()
    due = T0 + timedelta(hours=24)
    assert not lead.mark_follow_up_overdue(sequence=1, now=due - timedelta(seconds=1))
    assert lead.mark_follow_up_overdue(sequence=1, now=due)
    assert lead.pending_events == [FollowUpOverdue(lead_id="L-1", sequence=1, due_at=due, owner_id="c1",
                                                   detected_at=due)]
    assert lead.is_overdue
    assert not lead.mark_follow_up_overdue(sequence=1, now=due + timedelta(hours=1))


def test_an_overdue_timer_for_a_superseded_due_date_does_nothing() -> None:
    lead = new_lead()
    follow_up(lead, T0 + timedelta(hours=2))
    lead = loaded(lead)
    assert lead.follow_up_sequence == 2
    assert not lead.mark_follow_up_overdue(sequence=1, now=T0 + timedelta(days=30))
    assert lead.pending_events == []


def test_logging_a_follow_up_after_an_overdue_clears_it() -> None:
    lead = new_lead()
    assert lead.mark_follow_up_overdue(sequence=1, now=T0 + timedelta(days=2))
    follow_up(lead, T0 + timedelta(days=2))
    assert not lead.is_overdue
    assert lead.follow_up_timer_due is not None


# --- appointments ---


def test_an_attended_test_drive_advances_the_stage_and_a_no_show_makes_a_follow_up_due() -> None:
    lead = new_lead()
    lead.schedule_appointment(appointment_id="A1", kind="test_drive", scheduled_for=T0 + timedelta(days=1),
                              by="c1", now=T0)
    lead.schedule_appointment(appointment_id="A2", kind="showroom_visit", scheduled_for=T0 + timedelta(days=2),
                              by="c1", now=T0)
    lead.record_appointment_outcome(appointment_id="A1", attended=True, by="c1", now=T0 + timedelta(days=1),
                                    policy=POLICY)
    assert lead.stage is Stage.TEST_DRIVEN
    lead.record_appointment_outcome(appointment_id="A2", attended=False, by="c1", now=T0 + timedelta(days=2),
                                    policy=POLICY)
    assert lead.stage is Stage.TEST_DRIVEN  # a visit after a test drive does not move the lead back
    assert AppointmentAttended in recorded(lead)
    assert AppointmentMissed in recorded(lead)
    assert lead.follow_up_due_at == T0 + timedelta(days=3)


def test_appointment_rules() -> None:
    lead = new_lead()
    refused(lead, InvalidFieldError, lambda: lead.schedule_appointment(
        appointment_id="A1", kind="dinner", scheduled_for=T0 + timedelta(days=1), by=None, now=T0))
    refused(lead, InvalidFieldError, lambda: lead.schedule_appointment(
        appointment_id="A1", kind="test_drive", scheduled_for=T0, by=None, now=T0))
    refused(lead, InvalidFieldError, lambda: lead.schedule_appointment(
        appointment_id="A1", kind="test_drive", scheduled_for=datetime(9999, 12, 31, tzinfo=UTC), by=None, now=T0))
    refused(lead, errors.AppointmentNotFoundError, lambda: lead.record_appointment_outcome(
        appointment_id="nope", attended=True, by=None, now=T0, policy=POLICY))
    lead.schedule_appointment(appointment_id="A1", kind="test_drive", scheduled_for=T0 + timedelta(days=1),
                              by=None, now=T0)
    lead.record_appointment_outcome(appointment_id="A1", attended=False, by=None, now=T0, policy=POLICY)
    lead = loaded(lead)
    refused(lead, errors.AppointmentAlreadyClosedError, lambda: lead.record_appointment_outcome(
        appointment_id="A1", attended=True, by=None, now=T0, policy=POLICY))


# --- stages ---


def test_stages_skip_forward_freely_and_move_back_only_with_a_reason() -> None:
    lead = new_lead()
    lead.move_stage(to_stage="presented", reason=None, by="c1", now=T0)
    lead = loaded(lead)
    refused(lead, InvalidFieldError, lambda: lead.move_stage(to_stage="visited", reason=None, by="c1", now=T0))
    lead.move_stage(to_stage="visited", reason="customer wants to see other trims", by="c1", now=T0)
    assert lead.pending_events == [StageAdvanced(lead_id="L-1", from_stage="presented", to_stage="visited",
                                                 backwards=True, reason="customer wants to see other trims",
                                                 moved_by="c1", moved_at=T0)]


@pytest.mark.parametrize(("stage", "error"), [("flying", InvalidFieldError), ("new", errors.SameStageError),
                                              ("contract_signed", errors.StageOwnedByOrdersError),
                                              ("delivered", errors.StageOwnedByOrdersError)])
def test_stage_moves_to_unknown_same_or_orders_owned_stages_are_refused(stage: str, error: type[DomainError]) -> None:
    lead = new_lead()
    refused(lead, error, lambda: lead.move_stage(to_stage=stage, reason="x", by="c1", now=T0))


def test_contract_signed_then_cancelled_goes_back_to_negotiating_then_delivered_closes() -> None:
    lead = new_lead()
    assert lead.sign_contract(order_id="O-1", now=T0)
    assert not lead.sign_contract(order_id="O-1", now=T0)  # replay: nothing new
    assert lead.stage is Stage.CONTRACT_SIGNED
    assert lead.order_id == "O-1"
    assert not lead.cancel_order(order_id="O-other", now=T0)
    assert lead.cancel_order(order_id="O-1", now=T0)
    assert lead.stage is Stage.NEGOTIATING
    assert lead.pending_events[-1] == StageAdvanced(lead_id="L-1", from_stage="contract_signed",
                                                    to_stage="negotiating", backwards=True, reason="order_cancelled",
                                                    order_id="O-1", moved_at=T0)
    assert lead.sign_contract(order_id="O-2", now=T0)
    assert lead.deliver(order_id="O-2", now=T0)
    assert not lead.is_open
    assert not lead.deliver(order_id="O-2", now=T0)


def test_a_lead_at_contract_signed_cannot_be_moved_by_hand_or_lost() -> None:
    lead = new_lead()
    lead.sign_contract(order_id="O-1", now=T0)
    lead = loaded(lead)
    refused(lead, errors.StageOwnedByOrdersError, lambda: lead.move_stage(to_stage="negotiating", reason="x",
                                                                          by="c1", now=T0))
    refused(lead, errors.StageOwnedByOrdersError, lambda: lead.request_loss(
        reason="price", competitor_model=None, note=None, by="c1", now=T0, policy=POLICY))


# --- loss and invalid ---


def test_loss_needs_a_known_reason_and_a_managers_approval() -> None:
    lead = new_lead()
    refused(lead, InvalidFieldError, lambda: lead.request_loss(reason="bad vibes", competitor_model=None, note=None,
                                                               by="c1", now=T0, policy=POLICY))
    lead.request_loss(reason="bought_competitor", competitor_model="BYD Han", note=None, by="c1", now=T0,
                      policy=POLICY)
    lead = loaded(lead)
    assert lead.is_open
    assert lead.pending_loss is not None
    refused(lead, errors.LossAlreadyRequestedError, lambda: lead.request_loss(
        reason="price", competitor_model=None, note=None, by="c1", now=T0, policy=POLICY))
    lead.approve_loss(manager_id="m1", now=T0)
    assert lead.pending_events == [LossApproved(lead_id="L-1", reason="bought_competitor",
                                                competitor_model="BYD Han", approved_by="m1", approved_at=T0)]
    assert lead.status is Status.LOST
    assert not lead.is_open
    assert lead.follow_up_timer_due is None
    assert lead.pool_timer_due(POLICY) is None


def test_approving_or_rejecting_a_loss_nobody_requested_is_refused() -> None:
    lead = new_lead()
    error = refused(lead, errors.NoLossRequestedError, lambda: lead.approve_loss(manager_id="m1", now=T0))
    assert error.code == "no_loss_requested"
    refused(lead, errors.NoLossRequestedError, lambda: lead.reject_loss(manager_id="m1", note=None, now=T0))


def test_a_rejected_loss_keeps_the_lead_open_and_allows_a_new_request() -> None:
    lead = new_lead()
    lead.request_loss(reason="price", competitor_model=None, note=None, by="c1", now=T0, policy=POLICY)
    lead.reject_loss(manager_id="m1", note="call again", now=T0)
    assert lead.is_open
    assert lead.pending_loss is None
    lead.request_loss(reason="price", competitor_model=None, note=None, by="c1", now=T0, policy=POLICY)


def test_an_invalid_lead_needs_a_reason_and_is_closed_afterwards() -> None:
    lead = new_lead()
    refused(lead, InvalidFieldError, lambda: lead.invalidate(reason=" ", by="c1", now=T0))
    lead.invalidate(reason="empty number", by="c1", now=T0)
    lead = loaded(lead)
    assert lead.status is Status.INVALID
    refused(lead, errors.LeadClosedError, lambda: lead.invalidate(reason="again", by="c1", now=T0))
    refused(lead, errors.LeadClosedError, lambda: lead.regrade(grade="H", reason="x", by="c1", now=T0,
                                                               policy=POLICY))


# --- pool ---


def test_an_idle_lead_is_released_to_the_pool_only_after_the_idle_period() -> None:
    lead = new_lead()
    assert not lead.release_to_pool(now=T0 + POLICY.pool_idle - timedelta(seconds=1), policy=POLICY)
    assert lead.release_to_pool(now=T0 + POLICY.pool_idle, policy=POLICY)
    assert lead.pending_events == [LeadReleasedToPool(lead_id="L-1", previous_owner_id="c1", team_id="t1",
                                                      idle_since=T0, released_at=T0 + POLICY.pool_idle)]
    assert lead.pooled
    assert lead.owner_id is None
    assert not lead.release_to_pool(now=T0 + 3 * POLICY.pool_idle, policy=POLICY)


def test_a_follow_up_restarts_the_pool_clock() -> None:
    lead = new_lead()
    follow_up(lead, T0 + timedelta(days=5))
    assert not lead.release_to_pool(now=T0 + POLICY.pool_idle, policy=POLICY)
    assert lead.pool_timer_due(POLICY) == T0 + timedelta(days=5) + POLICY.pool_idle


def test_pooled_leads_are_claimed_before_anyone_works_on_them() -> None:
    lead = pooled(new_lead())
    refused(lead, errors.LeadInPoolError, lambda: follow_up(lead, T0 + timedelta(days=8)))
    refused(lead, errors.LeadInPoolError, lambda: lead.assign(owner_id="c2", team_id="t1", reason="manual",
                                                              by="m1", now=T0))


def test_claiming_respects_the_team_and_the_previous_owners_cooldown() -> None:
    lead = pooled(new_lead())
    released = T0 + POLICY.pool_idle
    refused(lead, errors.ClaimOutsideTeamError, lambda: lead.claim(consultant_id="x9", consultant_team_id="t2",
                                                                   now=released, policy=POLICY))
    error = refused(lead, errors.ClaimCooldownError, lambda: lead.claim(
        consultant_id="c1", consultant_team_id="t1", now=released + POLICY.claim_cooldown - timedelta(seconds=1),
        policy=POLICY))
    assert error.code == "claim_cooldown"
    assert "available_at" in error.details
    lead.claim(consultant_id="c1", consultant_team_id="t1", now=released + POLICY.claim_cooldown, policy=POLICY)
    assert recorded(lead)[0] is LeadClaimed
    assert lead.owner_id == "c1"
    assert not lead.pooled


def test_another_consultant_of_the_team_claims_at_once_and_a_second_claim_is_refused() -> None:
    lead = pooled(new_lead())
    lead.claim(consultant_id="c2", consultant_team_id="t1", now=T0 + POLICY.pool_idle, policy=POLICY)
    lead = loaded(lead)
    refused(lead, errors.LeadNotInPoolError, lambda: lead.claim(consultant_id="c3", consultant_team_id="t1",
                                                                now=T0 + POLICY.pool_idle, policy=POLICY))


def test_a_departed_owners_lead_goes_to_the_pool_at_once() -> None:
    lead = new_lead()
    lead.release_for_departed_owner(now=T0)
    assert lead.pooled
    assert lead.pending_events[0].reason == "owner_left"


# --- duplicate contacts ---


def test_a_duplicate_contact_is_a_touchpoint_and_reminds_the_owner() -> None:
    lead = new_lead()
    lead.record_duplicate_contact(channel="call_center", name="张三", interest="SUV", now=T0,
                                  referral_id="R-1", referrer_customer_id="C-9")
    assert recorded(lead) == [DuplicateContactRecorded, OwnerReminded]
    assert lead.touchpoints == 1
    assert lead.referral_ids == ["R-1"]


def test_an_identical_contact_within_the_resend_window_is_the_same_contact_sent_again() -> None:
    lead = new_lead()  # captured at T0 from online_shop, name 张三, no interest
    window = POLICY.resend_window
    assert lead.is_resend_of_last_contact(channel="online_shop", name=" 张三 ", interest=None, now=T0 + window,
                                          policy=POLICY)
    assert not lead.is_resend_of_last_contact(channel="online_shop", name="张三", interest=None,
                                              now=T0 + window + timedelta(seconds=1), policy=POLICY)
    assert not lead.is_resend_of_last_contact(channel="call_center", name="张三", interest=None, now=T0,
                                              policy=POLICY)
    assert not lead.is_resend_of_last_contact(channel="online_shop", name="张三", interest="SUV", now=T0,
                                              policy=POLICY)


def test_the_last_contact_moves_with_each_repeat_contact() -> None:
    lead = new_lead()
    later = T0 + timedelta(hours=1)
    lead.record_duplicate_contact(channel="call_center", name="张三", interest="SUV", now=later)
    lead = loaded(lead)
    assert lead.is_resend_of_last_contact(channel="call_center", name="张三", interest="SUV", now=later,
                                          policy=POLICY)
    assert not lead.is_resend_of_last_contact(channel="online_shop", name="张三", interest=None, now=later,
                                              policy=POLICY)


def test_a_duplicate_contact_on_an_unowned_lead_reminds_nobody() -> None:
    lead = new_lead(owner_id=None)
    lead.record_duplicate_contact(channel="call_center", name=None, interest=None, now=T0)
    assert recorded(lead) == [DuplicateContactRecorded]


def test_a_closed_lead_takes_no_duplicate_contact() -> None:
    lead = lost(new_lead())
    refused(lead, errors.LeadClosedError, lambda: lead.record_duplicate_contact(
        channel="call_center", name=None, interest=None, now=T0))


def test_a_lead_waiting_for_a_loss_decision_is_not_released_to_the_pool_until_the_decision() -> None:
    lead = new_lead()
    lead.request_loss(reason="price", competitor_model=None, note=None, by="c1", now=T0, policy=POLICY)
    assert lead.pool_timer_due(POLICY) is None
    assert not lead.release_to_pool(now=T0 + 2 * POLICY.pool_idle, policy=POLICY)
    lead.reject_loss(manager_id="m1", note=None, now=T0 + 2 * POLICY.pool_idle)
    assert lead.pool_timer_due(POLICY) == T0 + POLICY.pool_idle
    assert lead.release_to_pool(now=T0 + 2 * POLICY.pool_idle, policy=POLICY)
