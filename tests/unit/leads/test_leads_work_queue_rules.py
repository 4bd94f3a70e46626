"""The work queue's pure rules: what is due on a lead (follow-up, call-back, appointment), the queue order (due time,
then H before A before B before C), the round robin of outreach batches, the page cursor and the filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.leads.app import work_queue as wq
from services.leads.domain.calls import Call
from services.leads.domain.lead import Lead
from services.leads.domain.policy import LeadPolicy
from services.leads.domain.work_queue import (
    GRADE_ORDER,
    WorkKind,
    grade_rank,
    lead_work_items,
    round_robin,
    work_order_key,
)
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal
from shared.domain import InvalidFieldError
from shared.pagination import decode_cursor, encode_cursor, page_of
from tests.support.leads_builders import captured_lead

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = LeadPolicy()


def a_lead(lead_id: str = "L1", owner: str | None = "c1") -> Lead:
    return captured_lead(lead_id=lead_id, customer_id="C1", name="张三", phone="138 0000 0001", channel="website",
                         interest=None, known_channels={"website"}, captured_at=T0, owner_id=owner, team_id="t1",
                         policy=POLICY)


def test_the_queue_orders_by_due_time_then_h_before_a_before_b_before_c_then_ungraded() -> None:
    items = [(T0 + timedelta(hours=1), "H", "x1"), (T0, "C", "x2"), (T0, "N", "x3"), (T0, "H", "x4"),
             (T0, "A", "x5"), (T0, "B", "x6")]

    ordered = sorted(items, key=lambda i: work_order_key(*i))

    assert [i[2] for i in ordered] == ["x4", "x5", "x6", "x2", "x3", "x1"]
    assert GRADE_ORDER == ("H", "A", "B", "C", "N")
    assert [grade_rank(g) for g in GRADE_ORDER] == [1, 2, 3, 4, 5]
    assert grade_rank("Z") == 6


def test_equal_due_time_and_grade_are_ordered_by_item_id_so_a_page_boundary_is_exact() -> None:
    assert work_order_key(T0, "A", "a") < work_order_key(T0, "A", "b")


def test_a_new_leads_first_contact_is_a_follow_up_of_its_owner() -> None:
    lead = a_lead()

    [item] = lead_work_items(lead)

    assert (item.kind, item.lead_id, item.due_at, item.item_id) == (
        WorkKind.FOLLOW_UP, "L1", T0 + POLICY.interval("N"), "follow-up:L1")


def test_a_missed_call_makes_the_next_follow_up_a_call_back_and_a_logged_follow_up_ends_it() -> None:
    lead = a_lead()
    missed = Call(call_id="K1", direction="inbound", outcome="missed", started_at=T0 + timedelta(hours=1),
                  duration_seconds=0).validated()
    lead.record_call(call=missed, consultant_id="c1", now=T0 + timedelta(hours=1), policy=POLICY)
    lead = Lead.rehydrate("L1", list(lead.pending_events))  # as the store folds it back

    [call_back] = lead_work_items(lead)
    assert (call_back.kind, call_back.due_at) == (WorkKind.CALL_BACK, T0 + timedelta(hours=1) + POLICY.call_back_within)

    lead.log_follow_up(kind="call", outcome="called back", notes=None, by="c1", now=T0 + timedelta(hours=2),
                       policy=POLICY)
    assert [i.kind for i in lead_work_items(lead)] == [WorkKind.FOLLOW_UP]


def test_an_answered_call_is_no_call_back() -> None:
    lead = a_lead()
    answered = Call(call_id="K2", direction="inbound", outcome="answered", started_at=T0, duration_seconds=60)
    lead.record_call(call=answered.validated(), consultant_id="c1", now=T0 + timedelta(minutes=5), policy=POLICY)

    assert [i.kind for i in lead_work_items(lead)] == [WorkKind.FOLLOW_UP]


def test_an_open_appointment_is_work_until_it_is_attended() -> None:
    lead = a_lead()
    visit_at = T0 + timedelta(days=2)
    lead.schedule_appointment(appointment_id="AP1", kind="test_drive", scheduled_for=visit_at, by="c1", now=T0)

    appointment = [i for i in lead_work_items(lead) if i.kind is WorkKind.APPOINTMENT]
    assert [(i.item_id, i.due_at, i.detail) for i in appointment] == [("appointment:AP1", visit_at, "test_drive")]

    lead.record_appointment_outcome(appointment_id="AP1", attended=True, by="c1", now=visit_at, policy=POLICY)
    assert [i.kind for i in lead_work_items(lead)] == [WorkKind.FOLLOW_UP]


def test_a_lost_or_pooled_lead_has_no_work_and_a_lost_lead_keeps_its_reason() -> None:
    lead = a_lead()
    lead.request_loss(reason="price", competitor_model=None, note=None, by="c1", now=T0, policy=POLICY)
    lead.approve_loss(manager_id="m1", now=T0)
    assert lead_work_items(lead) == []
    assert lead.lost_reason == "price"

    pooled = a_lead("L2")
    assert pooled.release_to_pool(now=T0 + POLICY.pool_idle + timedelta(days=1), policy=POLICY)
    assert lead_work_items(pooled) == []


def test_round_robin_deals_in_the_given_order_and_the_same_request_deals_the_same_hands() -> None:
    dealt = round_robin(["a", "b", "c", "d", "e"], ["ann", "bob"])

    assert dealt == [("a", "ann"), ("b", "bob"), ("c", "ann"), ("d", "bob"), ("e", "ann")]
    assert round_robin(["a", "b", "c", "d", "e"], ["ann", "bob"]) == dealt
    with pytest.raises(ValueError, match="at least one consultant"):
        round_robin(["a"], [])


def test_a_cursor_gives_back_the_key_it_was_made_from() -> None:
    cursor = encode_cursor("work-queue", (T0, 2, "follow-up:L1"))

    assert decode_cursor("work-queue", cursor, (datetime, int, str)) == (T0, 2, "follow-up:L1")
    assert decode_cursor("work-queue", None, (datetime, int, str)) is None
    assert "follow-up" not in cursor  # opaque: base64url, not the key in clear


@pytest.mark.parametrize("cursor", ["not base64 !", "bm90IGpzb24", encode_cursor("leads", (1, T0, "x")),
                                    encode_cursor("work-queue", (T0, 2)), encode_cursor("work-queue", ("x", 2, "y")),
                                    encode_cursor("work-queue", (T0.replace(tzinfo=None), 2, "y"))])
def test_a_bad_cursor_is_refused_naming_the_field(cursor: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        decode_cursor("work-queue", cursor, (datetime, int, str))
    assert refused.value.field == "cursor"


def test_a_page_has_a_cursor_only_when_more_rows_exist() -> None:
    rows = [1, 2, 3]

    more = page_of("n", rows, 2, lambda r: (r,))
    last = page_of("n", rows, 3, lambda r: (r,))

    assert more.items == [1, 2]
    assert decode_cursor("n", more.next_cursor, (int,)) == (2,)
    assert last.items == [1, 2, 3]
    assert last.next_cursor is None


@pytest.mark.parametrize(("filters", "field"), [
    (wq.WorkFilters(wq.LeadFilters(grade="X")), "grade"), (wq.WorkFilters(wq.LeadFilters(stage="gone")), "stage"),
    (wq.WorkFilters(wq.LeadFilters(channel="fax")), "channel"),
    (wq.WorkFilters(wq.LeadFilters(lost_reason="weather")), "lost_reason"), (wq.WorkFilters(kind="chores"), "kind"),
])
def test_an_unknown_filter_value_is_refused_naming_the_field(filters: wq.WorkFilters, field: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        filters.checked(channels={"website"}, loss_reasons={"price"})
    assert refused.value.field == field


def test_a_lost_reason_lists_lost_leads_and_contradicting_it_is_refused() -> None:
    assert wq.list_status(None, wq.LeadFilters(lost_reason="price")) == "lost"
    assert wq.list_status(None, wq.LeadFilters()) == "open"
    with pytest.raises(InvalidFieldError) as refused:
        wq.list_status("open", wq.LeadFilters(lost_reason="price"))
    assert refused.value.field == "lost_reason"


def test_a_consultant_may_not_read_the_teams_queue_and_a_manager_only_their_own_team() -> None:
    consultant = Principal("c1", frozenset({"consultant"}), team_id="t1")
    manager = Principal("m1", frozenset({"manager"}), team_id="t1")
    director = Principal("d1", frozenset({"director"}))

    with pytest.raises(ForbiddenError):
        wq.team_work_scope(consultant, team_id=None)
    with pytest.raises(ForbiddenError):
        wq.team_work_scope(manager, team_id="t2")
    assert wq.team_work_scope(manager, team_id=None) == wq.ListScope(team_id="t1")
    assert wq.team_work_scope(director, team_id=None) == wq.ListScope(everything=True)
    assert wq.my_work_scope(consultant) == wq.ListScope(own="c1")
    assert wq.lead_list_scope(consultant) == wq.ListScope(own="c1", pool_team_id="t1")
