"""Dealer KPIs from the ledger's counters: the call-center KPIs (calls, connect rate, talk time, call-back within
SLA) and their attribution, checked against values worked out by hand from the events."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.reporting.domain.kpis import kpis
from services.reporting.domain.ledger import ConsultantTeams, Fact, measures_at
from shared.contracts.leads import CallRecordedV1, FollowUpLoggedV1, LeadAssignedV1, LeadCreatedV1
from tests.support.histories import BASE
from tests.unit.reporting.test_reporting_ledger import END, activity, fact


def _lead(lead: str = "L", owner: str = "c1", team: str = "t1") -> list[Fact]:
    return [fact(LeadCreatedV1(lead_id=lead, customer_id=f"cust-{lead}", name="n", phone="+8613800000000",
                               channel="call_center", captured_at=BASE)),
            fact(LeadAssignedV1(lead_id=lead, owner_id=owner, team_id=team, reason="round_robin",
                                assigned_at=BASE))]


def _call(minutes: int, *, answered: bool, talk: int = 0, agent: str = "c2", lead: str = "L") -> Fact:
    at = BASE + timedelta(minutes=minutes)
    return fact(CallRecordedV1(
        lead_id=lead, call_id=f"call-{minutes}", direction="inbound", outcome="answered" if answered else "missed",
        agent_id="a", consultant_id=agent, started_at=at - timedelta(seconds=talk), duration_seconds=talk,
        call_back_due_at=None if answered else at + timedelta(hours=2), recorded_at=at))


def _logged(minutes: int, by: str = "c1", lead: str = "L") -> Fact:
    return fact(FollowUpLoggedV1(lead_id=lead, kind="call", outcome="ok", logged_by=by,
                                 logged_at=BASE + timedelta(minutes=minutes)))


def _counters(measures: dict[tuple[object, ...], float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, v in measures.items():
        if key[0] == "activity":
            out[str(key[2])] = out.get(str(key[2]), 0) + v
    return out


def test_calls_are_credited_to_the_agents_consultant_with_their_talk_time() -> None:
    facts = [*_lead(), _call(60, answered=True, talk=300), _call(120, answered=True, talk=100),
             _call(180, answered=False)]
    now = measures_at(facts, END, ConsultantTeams([("c2", BASE - timedelta(days=1), "t2")]))
    assert activity(now, "calls") == {("c2", "t2"): 3}
    assert activity(now, "calls_answered") == {("c2", "t2"): 2}
    assert activity(now, "talk_seconds") == {("c2", "t2"): 400}
    values = kpis(_counters(now))
    assert values["connect_rate"] == round(2 / 3, 4)
    assert values["average_talk_seconds"] == 200


def test_a_call_back_counts_as_due_from_its_due_moment_and_within_sla_only_when_done_before_it() -> None:
    in_time = [*_lead(), _call(60, answered=False), _logged(60 + 90)]  # called back after 1.5 h of 2
    late = [*_lead("M"), _call(60, answered=False, lead="M"), _logged(60 + 150, lead="M")]
    never = [*_lead("N"), _call(60, answered=False, lead="N")]
    teams = ConsultantTeams()
    due = BASE + timedelta(minutes=60 + 120)
    for group, in_sla in ((in_time, 1), (late, 0), (never, 0)):
        before = measures_at(group, due - timedelta(seconds=1), teams)
        assert activity(before, "call_backs_due") == {}  # not due yet: neither missed nor kept
        after = measures_at(group, due, teams)
        assert activity(after, "call_backs_due") == {("c1", "t1"): 1}  # the lead's owner is to call back
        assert activity(after, "call_backs_in_sla") == ({("c1", "t1"): 1} if in_sla else {})
    total = _counters(measures_at(in_time, END, teams))
    for group in (late, never):
        for k, v in _counters(measures_at(group, END, teams)).items():
            total[k] = total.get(k, 0) + v
    assert kpis(total)["call_back_sla_rate"] == round(1 / 3, 4)


def test_a_call_back_is_credited_on_its_due_day_to_the_owner_at_that_moment() -> None:
    facts = [*_lead(), _call(23 * 60, answered=False),  # missed at 23:00, due at 01:00 the next day
             fact(LeadAssignedV1(lead_id="L", owner_id="c3", team_id="t2", reason="manual",
                                 assigned_at=BASE + timedelta(hours=24)))]
    keys = [k for k in measures_at(facts, END, ConsultantTeams()) if k[0] == "activity" and k[2] == "call_backs_due"]
    assert keys == [("activity", (BASE + timedelta(days=1)).date().isoformat(), "call_backs_due", "c3", "t2",
                     "call_center", "")]


@given(calls=st.lists(st.tuples(st.booleans(), st.integers(1, 3600)), min_size=1, max_size=20))
def test_the_call_kpis_are_the_ratios_of_the_summed_counters(calls: list[tuple[bool, int]]) -> None:
    facts = [*_lead()]
    for n, (answered, talk) in enumerate(calls):
        facts.append(_call(n * 10 + 1, answered=answered, talk=talk if answered else 0))
    values = kpis(_counters(measures_at(facts, END, ConsultantTeams())))
    answered = [talk for ok, talk in calls if ok]
    assert values["calls"] == len(calls)
    assert values["calls_answered"] == len(answered)
    assert values["connect_rate"] == round(len(answered) / len(calls), 4)
    assert values["average_talk_seconds"] == (round(sum(answered) / len(answered), 4) if answered else None)
    assert values["call_backs_due"] == len(calls) - len(answered)
