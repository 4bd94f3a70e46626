"""Outreach batches' pure rules: the batch counts its tasks, the consultants are named once each, and a dormant lead
handed over by a batch is claimed from the pool or reassigned, with its follow-up due when the batch says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.leads.domain.errors import LeadClosedError
from services.leads.domain.lead import Lead
from services.leads.domain.outreach import Audience, OutreachBatch, OutreachTask, TaskAction, check_consultant_ids
from services.leads.domain.policy import LeadPolicy
from shared.domain import InvalidFieldError
from tests.support.leads_builders import captured_lead

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = LeadPolicy()
DUE = T0 + timedelta(days=20)


def a_lead(owner: str = "c1") -> Lead:
    return captured_lead(lead_id="L1", customer_id="C1", name="张三", phone="138 0000 0001", channel="website",
                         interest=None, known_channels={"website"}, captured_at=T0, owner_id=owner, team_id="t1",
                         policy=POLICY)


def types(lead: Lead, since: int) -> list[str]:
    return [e.event_type for e in lead.pending_events[since:]]


def test_a_pooled_dormant_lead_is_claimed_for_the_consultant_with_its_follow_up_due() -> None:
    lead = a_lead()
    now = T0 + POLICY.pool_idle + timedelta(days=1)
    assert lead.release_to_pool(now=now, policy=POLICY)
    before = len(lead.pending_events)

    lead.hand_over_for_outreach(consultant_id="c1", team_id="t1", due_at=DUE, by="m1", now=now)

    assert types(lead, before) == ["LeadClaimed", "FollowUpScheduled"]
    assert (lead.owner_id, lead.pooled, lead.follow_up_due_at) == ("c1", False, DUE)


def test_another_owners_dormant_lead_is_reassigned_and_the_owners_own_only_gets_the_follow_up() -> None:
    lead = a_lead(owner="c1")
    before = len(lead.pending_events)
    lead.hand_over_for_outreach(consultant_id="c2", team_id="t1", due_at=DUE, by="m1", now=T0)
    assert types(lead, before) == ["LeadAssigned", "FollowUpScheduled"]
    assert lead.pending_events[before].reason == "outreach_batch"  # type: ignore[attr-defined]

    again = len(lead.pending_events)
    lead.hand_over_for_outreach(consultant_id="c2", team_id="t1", due_at=DUE + timedelta(days=1), by="m1", now=T0)
    assert types(lead, again) == ["FollowUpScheduled"]
    same = len(lead.pending_events)
    lead.hand_over_for_outreach(consultant_id="c2", team_id="t1", due_at=DUE + timedelta(days=1), by="m1", now=T0)
    assert types(lead, same) == []


def test_a_closed_lead_is_not_handed_over() -> None:
    lead = a_lead()
    lead.invalidate(reason="spam", by="c1", now=T0)
    with pytest.raises(LeadClosedError):
        lead.hand_over_for_outreach(consultant_id="c2", team_id="t1", due_at=DUE, by="m1", now=T0)


def test_a_batch_counts_its_tasks_by_action() -> None:
    tasks = [OutreachTask(customer_id=f"C{i}", source_lead_id=f"L{i}", lead_id=f"N{i}", consultant_id="c1",
                          action=(TaskAction.REACTIVATED if i % 3 else TaskAction.SCHEDULED).value) for i in range(7)]

    batch = OutreachBatch.create(batch_id="B1", team_id="t1", audience=Audience.LOST, filters={},
                                 consultant_ids=["c1", "c2"], due_at=DUE, note=None, by="m1", now=T0, tasks=tasks)

    created = batch.created
    assert created is not None
    assert (created.selected, created.reactivated, created.scheduled) == (7, 4, 3)
    assert [e.event_type for e in batch.pending_events] == ["OutreachBatchCreated"]


@pytest.mark.parametrize("consultants", [[], ["c1", "c1"], [f"c{i}" for i in range(51)]])
def test_the_consultants_are_named_once_each_and_at_least_one(consultants: list[str]) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        check_consultant_ids(consultants)
    assert refused.value.field == "consultant_ids"
