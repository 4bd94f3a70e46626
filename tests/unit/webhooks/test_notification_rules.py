"""The notification rules (pure): each trigger event reaches the person a department expects — the owner, the
owner's manager for an H-grade lead, the requester's manager for a loss approval — and nobody when the person is
unknown."""

from __future__ import annotations

from services.webhooks.notifications.domain import rules
from services.webhooks.notifications.domain.rules import Facts, intents

OWNED = Facts(owner_id="c1", grade="A", team_id="t1", managers=("m1",))


def people(found: list[rules.Intent]) -> list[tuple[str, str]]:
    return [(i.rule, i.recipient_id) for i in found]


def test_an_overdue_follow_up_reaches_its_owner_and_an_h_grade_one_the_team_manager_too() -> None:
    data = {"lead_id": "L1", "owner_id": "c1", "due_at": "2026-12-02T08:00:00+00:00"}
    assert people(intents(rules.FOLLOW_UP_OVERDUE, data, OWNED)) == [("follow_up_overdue", "c1")]
    hot = Facts(owner_id="c1", grade="H", team_id="t1", managers=("m1", "m2"))
    assert people(intents(rules.FOLLOW_UP_OVERDUE, data, hot)) == [
        ("follow_up_overdue", "c1"), ("h_grade_overdue", "m1"), ("h_grade_overdue", "m2")]
    found = intents(rules.FOLLOW_UP_OVERDUE, data, hot)
    assert found[1].lead_id == "L1"
    assert found[1].team_id == "t1"
    assert "L1" in found[1].text


def test_the_events_owner_wins_over_the_directory_and_an_unknown_owner_raises_nothing() -> None:
    data = {"lead_id": "L1", "owner_id": "c9"}
    assert people(intents(rules.FOLLOW_UP_OVERDUE, data, OWNED)) == [("follow_up_overdue", "c9")]
    assert intents(rules.FOLLOW_UP_OVERDUE, {"lead_id": "L1"}, Facts()) == []


def test_no_shows_of_appointments_and_test_drives_reach_the_owner() -> None:
    missed = {"lead_id": "L1", "appointment_id": "A1", "kind": "showroom_visit"}
    assert people(intents(rules.APPOINTMENT_MISSED, missed, OWNED)) == [("no_show", "c1")]
    assert "showroom visit" in intents(rules.APPOINTMENT_MISSED, missed, OWNED)[0].text
    drive = {"lead_id": "L1", "booking_id": "B1", "vehicle_id": "V1"}
    assert people(intents(rules.TEST_DRIVE_MISSED, drive, OWNED)) == [("no_show", "c1")]


def test_a_loss_request_reaches_the_managers_and_not_the_consultant() -> None:
    data = {"lead_id": "L1", "reason": "price", "requested_by": "c1"}
    assert people(intents(rules.LOSS_REQUESTED, data, OWNED)) == [("loss_pending_approval", "m1")]
    assert intents(rules.LOSS_REQUESTED, data, Facts(owner_id="c1", team_id="t1")) == []


def test_a_duplicate_contact_reminder_reaches_the_owner_it_names() -> None:
    data = {"lead_id": "L1", "owner_id": "c2", "reason": "duplicate_contact"}
    assert people(intents(rules.OWNER_REMINDED, data, OWNED)) == [("duplicate_contact", "c2")]


def test_an_escalated_complaint_reaches_the_seller_and_from_level_two_the_managers() -> None:
    first = {"complaint_id": "K1", "level": 1, "escalated_to": "service_manager", "reason": "ack SLA"}
    assert people(intents(rules.COMPLAINT_ESCALATED, first, OWNED)) == [("complaint_escalated", "c1")]
    second = {**first, "level": 2, "escalated_to": "general_manager"}
    assert people(intents(rules.COMPLAINT_ESCALATED, second, OWNED)) == [
        ("complaint_escalated", "c1"), ("complaint_escalated", "m1")]
    manager_sold_it = Facts(owner_id="m1", team_id="t1", managers=("m1",))
    assert people(intents(rules.COMPLAINT_ESCALATED, second, manager_sold_it)) == [("complaint_escalated", "m1")]


def test_other_events_raise_nothing() -> None:
    assert intents("salesflow.leads.LeadCreated", {"lead_id": "L1"}, OWNED) == []
