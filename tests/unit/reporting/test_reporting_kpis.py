"""Dealer KPIs from the ledger's counters: the call-center KPIs (calls, connect rate, talk time, call-back within
SLA) and the showroom KPIs (留档率, 二次到店率, 试驾签单率, no-show rate, attach rates) with their attribution,
checked against values worked out by hand from the events."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.reporting.domain.kpis import kpis
from services.reporting.domain.ledger import ConsultantTeams, Fact, measures_at
from shared.contracts.leads import (
    AppointmentAttendedV1,
    AppointmentMissedV1,
    AppointmentScheduledV1,
    CallRecordedV1,
    FollowUpLoggedV1,
    LeadAssignedV1,
    LeadCreatedV1,
    LeadInvalidatedV1,
    StageAdvancedV1,
)
from shared.contracts.orders import ContractSignedV1, LineOption, OrderCancelledV1, OrderLine
from shared.contracts.showroom import VisitArrivedV1
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


def test_a_call_reported_after_its_call_back_was_due_is_due_at_once_and_not_in_sla() -> None:
    recorded = BASE + timedelta(hours=5)
    late = fact(CallRecordedV1(
        lead_id="L", call_id="late", direction="inbound", outcome="missed", consultant_id=None,
        started_at=recorded - timedelta(hours=3), duration_seconds=0,
        call_back_due_at=recorded - timedelta(hours=1), recorded_at=recorded))
    facts = [*_lead(), late, _logged(5 * 60 + 10)]
    now = measures_at(facts, recorded, ConsultantTeams())
    assert activity(now, "call_backs_due") == {("c1", "t1"): 1}
    assert activity(now, "call_backs_in_sla") == {}


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


# --- showroom KPIs -------------------------------------------------------------------------------------------------

def _visit(lead: str, minutes: int, number: int, receiver: str = "c2") -> Fact:
    return fact(VisitArrivedV1(
        visit_id=f"v-{lead}-{number}", lead_id=lead, customer_id=f"cust-{lead}", visit_number=number,
        first_visit=number == 1, party_size=1, purpose="first_look", consultant_id=receiver,
        walk_in_lead=number == 1, arrived_at=BASE + timedelta(minutes=minutes)))


def _stage(lead: str, minutes: int, to: str) -> Fact:
    return fact(StageAdvancedV1(lead_id=lead, from_stage="new", to_stage=to,
                                moved_at=BASE + timedelta(minutes=minutes)))


def _signed(lead: str, minutes: int, kinds: tuple[str, ...], order: str | None = None) -> Fact:
    lines = [OrderLine(product="Y", quantity=1, unit_price_minor=100, kind="model"),
             *(OrderLine(product=k, quantity=1, unit_price_minor=10, kind=k) for k in kinds)]
    return fact(ContractSignedV1(order_id=order or f"o-{lead}", lead_id=lead, consultant_id="c1", lines=lines,
                                 total_minor=100, currency="CNY", payment_plan="full",
                                 signed_at=BASE + timedelta(minutes=minutes)))


def test_the_record_rate_counts_first_visits_whose_lead_is_still_a_valid_record() -> None:
    kept = [*_lead("A"), _visit("A", 10, 1), _visit("A", 2000, 2)]  # a second visit is not a walk-in
    invalid = [*_lead("B"), _visit("B", 10, 1),
               fact(LeadInvalidatedV1(lead_id="B", reason="fake number", invalidated_at=BASE + timedelta(days=2)))]
    teams = ConsultantTeams([("c2", BASE - timedelta(days=1), "t2")])
    total: dict[str, float] = {}
    for group in (kept, invalid):
        for k, v in _counters(measures_at(group, END, teams)).items():
            total[k] = total.get(k, 0) + v
    assert (total["walk_ins"], total["walk_ins_recorded"]) == (2, 1)
    assert kpis(total)["walk_in_record_rate"] == 0.5
    assert activity(measures_at(kept, END, teams), "walk_ins") == {("c2", "t2"): 1}  # who received the visitor
    # Before the invalidation, B's visit still counted as recorded.
    before = measures_at(invalid, BASE + timedelta(days=1), teams)
    assert activity(before, "walk_ins_recorded") == {("c2", "t2"): 1}


def test_the_second_visit_rate_counts_the_registers_first_and_second_entries_not_invited_appointments() -> None:
    # A came three times (the 1st received by c2, the 2nd by c3, the 3rd counts nowhere) and also kept an invited
    # showroom appointment, which is 邀约到店 only; B came once; C was only invited (no register entry).
    invited = [fact(AppointmentScheduledV1(lead_id="A", appointment_id="a1", kind="showroom_visit",
                                           scheduled_for=BASE + timedelta(minutes=30), scheduled_by="c1")),
               fact(AppointmentAttendedV1(lead_id="A", appointment_id="a1", kind="showroom_visit",
                                          attended_at=BASE + timedelta(minutes=30)))]
    a = [*_lead("A"), _visit("A", 10, 1), *invited, _visit("A", 2000, 2, receiver="c3"), _visit("A", 4000, 3)]
    b = [*_lead("B"), _visit("B", 10, 1)]
    c = [*_lead("C"), fact(AppointmentAttendedV1(lead_id="C", appointment_id="a2", kind="showroom_visit",
                                                 attended_at=BASE + timedelta(minutes=30)))]
    teams = ConsultantTeams([("c2", BASE - timedelta(days=1), "t2"), ("c3", BASE - timedelta(days=1), "t3")])
    total: dict[str, float] = {}
    for group in (a, b, c):
        for k, v in _counters(measures_at(group, END, teams)).items():
            total[k] = total.get(k, 0) + v
    assert (total["first_visits"], total["second_visits"], total["invited_visits"]) == (2, 1, 2)
    assert kpis(total)["second_visit_rate"] == 0.5
    assert activity(measures_at(a, END, teams), "first_visits") == {("c2", "t2"): 1}  # who received the visitor
    assert activity(measures_at(a, END, teams), "second_visits") == {("c3", "t3"): 1}
    # As of a moment between A's first and second entry, A has a first visit only.
    assert activity(measures_at(a, BASE + timedelta(minutes=1000), teams), "second_visits") == {}


def test_test_drive_to_contract_counts_the_test_driven_leads_that_signed() -> None:
    signed = [*_lead("A"), _stage("A", 60, "test_driven"), _signed("A", 600, ())]
    unsigned = [*_lead("B"), _stage("B", 60, "test_driven")]
    total: dict[str, float] = {}
    for group in (signed, unsigned):
        for k, v in _counters(measures_at(group, END, ConsultantTeams())).items():
            total[k] = total.get(k, 0) + v
    assert (total["test_drives"], total["test_drives_signed"]) == (2, 1)
    assert kpis(total)["test_drive_to_contract_rate"] == 0.5
    # Credited on the test drive's day, known once the contract is signed.
    early = measures_at(signed, BASE + timedelta(minutes=300), ConsultantTeams())
    assert activity(early, "test_drives_signed") == {}


def test_the_no_show_rate_is_missed_appointments_over_those_that_came_due() -> None:
    def appointment(n: int, outcome: str | None) -> list[Fact]:
        at = BASE + timedelta(hours=n)
        out = [fact(AppointmentScheduledV1(lead_id="L", appointment_id=f"a{n}", kind="test_drive",
                                           scheduled_for=at, scheduled_by="c1"))]
        if outcome == "attended":
            out.append(fact(AppointmentAttendedV1(lead_id="L", appointment_id=f"a{n}", kind="test_drive",
                                                  attended_at=at)))
        elif outcome == "missed":
            out.append(fact(AppointmentMissedV1(lead_id="L", appointment_id=f"a{n}", kind="test_drive",
                                                recorded_at=at)))
        return out

    facts = [*_lead(), *appointment(1, "attended"), *appointment(2, "missed"), *appointment(3, "missed"),
             *appointment(4, None)]  # the last has no outcome yet: not due
    values = kpis(_counters(measures_at(facts, END, ConsultantTeams())))
    assert (values["appointments_kept"], values["appointments_missed"]) == (1, 2)
    assert values["no_show_rate"] == round(2 / 3, 4)


def test_attach_rates_count_each_contract_once_per_kind_and_leave_cancelled_ones_out() -> None:
    facts = [*_lead("A"), _signed("A", 10, ("accessory", "insurance", "accessory")),
             *_lead("B"), _signed("B", 10, ("financing",)),
             *_lead("C"), _signed("C", 10, ("plates", "insurance")),
             fact(OrderCancelledV1(order_id="o-C", lead_id="C", reason="r", refund_due_minor=0, currency="CNY",
                                   cancelled_at=BASE + timedelta(days=1)))]
    values = kpis(_counters(measures_at(facts, END, ConsultantTeams())))
    assert values["contracts"] == 2
    assert (values["contracts_with_accessory"], values["contracts_with_insurance"],
            values["contracts_with_financing"], values["contracts_with_plates"]) == (1, 1, 1, 0)
    assert values["accessory_attach_rate"] == 0.5
    assert values["plates_attach_rate"] == 0


# --- 平均优惠: a price typed below the list price is a discount ----------------------------------------------------

def test_a_price_typed_below_the_list_price_counts_as_discount_over_the_list_subtotal() -> None:
    # A: a car listed 300 000 typed at 290 000 with a 2 000 option (the contract line's unit price includes the
    # option), two floor mats listed 500 typed at 400, and a 1 000 discount on the whole contract.
    # B: a hand-typed line (no list price) with a 3 000 discount. C: list price kept, no discount.
    def signed(lead: str, lines: list[OrderLine], subtotal: int, discount: int) -> Fact:
        return fact(ContractSignedV1(order_id=f"o-{lead}", lead_id=lead, consultant_id="c1", lines=lines,
                                     total_minor=subtotal - discount, currency="CNY", payment_plan="full",
                                     signed_at=BASE + timedelta(minutes=10), subtotal_minor=subtotal,
                                     discount_minor=discount))

    a = signed("A", [OrderLine(product="Y", quantity=1, unit_price_minor=292_000, kind="model", catalogue_id="y",
                               list_price_minor=300_000, options=[LineOption(code="red", price_minor=2_000)]),
                     OrderLine(product="mats", quantity=2, unit_price_minor=400, kind="accessory",
                               catalogue_id="mats", list_price_minor=500)], subtotal=292_800, discount=1_000)
    b = signed("B", [OrderLine(product="X", quantity=1, unit_price_minor=100_000)], subtotal=100_000, discount=3_000)
    c = signed("C", [OrderLine(product="Z", quantity=1, unit_price_minor=50_000, kind="model", catalogue_id="z",
                               list_price_minor=50_000)], subtotal=50_000, discount=0)
    below_a = (300_000 + 2_000 - 292_000) + 2 * (500 - 400)  # 10 200 typed off the list
    counters: dict[str, float] = {}
    for group in ([*_lead("A"), a], [*_lead("B"), b], [*_lead("C"), c]):
        for k, v in _counters(measures_at(group, END, ConsultantTeams())).items():
            counters[k] = counters.get(k, 0) + v
    assert counters["below_list_minor"] == below_a
    values = kpis(counters)
    concession = below_a + 1_000 + 3_000
    assert values["average_discount_rate"] == round(concession / (292_800 + below_a + 100_000 + 50_000), 4)
    assert values["average_discount_minor"] == round(concession / 3, 4)
    # Typed-down prices alone (no discount on the contract) are a discount too: before, this read 0.
    typed = signed("A", [OrderLine(product="Y", quantity=1, unit_price_minor=290_000, kind="model", catalogue_id="y",
                                   list_price_minor=300_000)], subtotal=290_000, discount=0)
    only_typed = kpis(_counters(measures_at([*_lead("A"), typed], END, ConsultantTeams())))
    assert only_typed["average_discount_rate"] == round(10_000 / 300_000, 4)
    assert only_typed["average_discount_minor"] == 10_000
