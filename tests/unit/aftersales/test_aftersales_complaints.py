"""Complaints are opened with a known category and severity, acknowledged, resolved, reopened; SLA timers that
find a limit missed record one breach and one escalation, and stale timers change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.aftersales.domain.complaint import Complaint
from services.aftersales.domain.errors import (
    ComplaintAlreadyAcknowledgedError,
    ComplaintNotOpenError,
    ComplaintNotResolvedError,
)
from services.aftersales.domain.events import (
    ComplaintAcknowledged,
    ComplaintEscalated,
    ComplaintOpened,
    ComplaintResolved,
    ComplaintSlaBreached,
)
from services.aftersales.domain.policy import COMPLAINT_CATEGORIES, SEVERITIES, SlaPolicy
from shared.domain import InvalidFieldError

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SLA = SlaPolicy(timedelta(hours=24), timedelta(hours=48), {"critical": (timedelta(hours=4), timedelta(hours=24))})
H = timedelta(hours=1)


def opened(severity: str = "medium", category: str = "delivery") -> Complaint:
    complaint = Complaint.open_complaint(complaint_id="K-1", customer_id="C-1", order_id="O-1", category=category,
                               severity=severity, description="car delivered dirty", opened_by="U-1", opened_at=T0,
                               sla=SLA, categories=COMPLAINT_CATEGORIES, severities=SEVERITIES)
    return Complaint.rehydrate("K-1", complaint.pending_events)


def types(complaint: Complaint) -> list[type]:
    return [type(e) for e in complaint.pending_events]


def test_opening_sets_the_acknowledge_and_resolve_deadlines_from_the_sla() -> None:
    complaint = Complaint.open_complaint(complaint_id="K-1", customer_id=" C-1 ", order_id=None, category="product",
                               severity="medium", description=" noisy ", opened_by=None, opened_at=T0, sla=SLA,
                               categories=COMPLAINT_CATEGORIES, severities=SEVERITIES)
    [event] = complaint.pending_events
    assert isinstance(event, ComplaintOpened)
    assert (event.customer_id, event.description) == ("C-1", "noisy")
    assert (event.acknowledge_due_at, event.resolve_due_at) == (T0 + 24 * H, T0 + 48 * H)
    assert complaint.sla_state == "on_track"


def test_a_severity_can_have_tighter_limits() -> None:
    complaint = opened(severity="critical")
    assert (complaint.acknowledge_due_at, complaint.resolve_due_at) == (T0 + 4 * H, T0 + 24 * H)


@pytest.mark.parametrize(("field", "overrides"), [("category", {"category": "weather"}),
                                                  ("severity", {"severity": "apocalyptic"})])
def test_unknown_categories_and_severities_are_refused(field: str, overrides: dict[str, str]) -> None:
    with pytest.raises(InvalidFieldError) as error:
        opened(**overrides)
    assert error.value.field == field


def test_an_empty_description_is_refused() -> None:
    with pytest.raises(InvalidFieldError):
        Complaint.open_complaint(complaint_id="K", customer_id="C", order_id=None, category="other", severity="low",
                       description="  ", opened_by=None, opened_at=T0, sla=SLA, categories=COMPLAINT_CATEGORIES,
                       severities=SEVERITIES)


def test_acknowledge_then_resolve() -> None:
    complaint = opened()
    complaint.acknowledge(by="U-2", at=T0 + H)
    complaint.resolve(resolution="cleaned and apologised", by="U-2", at=T0 + 2 * H)
    assert types(complaint) == [ComplaintAcknowledged, ComplaintResolved]
    assert (complaint.status, complaint.sla_state) == ("resolved", "resolved")


def test_acknowledging_twice_is_refused() -> None:
    complaint = opened()
    complaint.acknowledge(by=None, at=T0)
    with pytest.raises(ComplaintAlreadyAcknowledgedError):
        complaint.acknowledge(by=None, at=T0)


def test_resolving_an_unacknowledged_complaint_acknowledges_it_too() -> None:
    complaint = opened()
    complaint.resolve(resolution="refund", by="U-2", at=T0 + H)
    assert types(complaint) == [ComplaintAcknowledged, ComplaintResolved]


def test_a_resolved_complaint_is_not_open() -> None:
    complaint = opened()
    complaint.resolve(resolution="refund", by=None, at=T0 + H)
    for action in (lambda: complaint.acknowledge(by=None, at=T0),
                   lambda: complaint.resolve(resolution="again", by=None, at=T0)):
        with pytest.raises(ComplaintNotOpenError) as error:
            action()
        assert (error.value.code, error.value.http_status) == ("complaint_not_open", 409)


def test_only_a_resolved_complaint_can_be_reopened_and_it_gets_a_new_resolve_deadline() -> None:
    complaint = opened()
    with pytest.raises(ComplaintNotResolvedError):
        complaint.reopen(reason="still dirty", by=None, at=T0, sla=SLA)
    complaint.resolve(resolution="cleaned", by=None, at=T0 + H)
    complaint.reopen(reason="still dirty", by="C-1", at=T0 + 10 * H, sla=SLA)
    assert (complaint.status, complaint.cycle, complaint.acknowledged) == ("open", 2, True)
    assert complaint.resolve_due_at == T0 + 58 * H


def test_a_missed_acknowledgement_records_one_breach_and_one_escalation() -> None:
    complaint = opened()
    assert not complaint.check_sla("acknowledge", cycle=1, now=T0 + 23 * H)
    assert complaint.check_sla("acknowledge", cycle=1, now=T0 + 24 * H)
    assert not complaint.check_sla("acknowledge", cycle=1, now=T0 + 25 * H)
    assert types(complaint) == [ComplaintSlaBreached, ComplaintEscalated]
    breach, escalation = complaint.pending_events
    assert isinstance(breach, ComplaintSlaBreached)
    assert isinstance(escalation, ComplaintEscalated)
    assert (breach.stage, breach.due_at) == ("acknowledge", T0 + 24 * H)
    assert (escalation.level, escalation.escalated_to) == (1, "service_manager")
    assert complaint.sla_state == "acknowledge_breached"


def test_an_acknowledged_complaint_does_not_breach_the_acknowledge_limit() -> None:
    complaint = opened()
    complaint.acknowledge(by=None, at=T0 + H)
    assert not complaint.check_sla("acknowledge", cycle=1, now=T0 + 30 * H)


def test_a_missed_resolution_escalates_further() -> None:
    complaint = opened()
    complaint.check_sla("acknowledge", cycle=1, now=T0 + 24 * H)
    complaint.acknowledge(by=None, at=T0 + 25 * H)
    assert complaint.sla_state == "on_track"
    assert complaint.check_sla("resolve", cycle=1, now=T0 + 48 * H)
    escalation = complaint.pending_events[-1]
    assert isinstance(escalation, ComplaintEscalated)
    assert (escalation.level, escalation.escalated_to) == (2, "general_manager")
    assert complaint.sla_state == "resolve_breached"


def test_timers_of_a_resolved_complaint_or_an_older_cycle_change_nothing() -> None:
    complaint = opened()
    complaint.resolve(resolution="done", by=None, at=T0 + H)
    assert not complaint.check_sla("resolve", cycle=1, now=T0 + 100 * H)
    complaint.reopen(reason="no", by=None, at=T0 + 2 * H, sla=SLA)
    assert not complaint.check_sla("resolve", cycle=1, now=T0 + 100 * H)
    assert complaint.check_sla("resolve", cycle=2, now=T0 + 50 * H)


def test_an_unknown_sla_stage_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="stage"):
        opened().check_sla("lunch", cycle=1, now=T0 + 100 * H)
