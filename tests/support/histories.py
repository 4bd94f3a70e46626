"""Generated dealer histories for reporting's tests: leads captured, assigned and reassigned, graded, followed up,
invited, visiting (reception register entries; the first lead's customer always comes back, others sometimes), test
driving, quoted, signing (some through an online-shop checkout that leads later links to the lead), paying a
deposit, financing, delivered, cancelled, lost or invalidated, return visits with scores, complaints, consultants
moving team, campaigns with their spend (and the leads naming them) — every event as the upstream service would
publish it, on its own topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from shared.contracts.aftersales import (
    CarePlanScheduledV1,
    ComplaintOpenedV1,
    ComplaintSlaBreachedV1,
    PointsAwardedV1,
    ReturnVisitCompletedV1,
    ScheduledVisitV1,
)
from shared.contracts.base import IntegrationEvent
from shared.contracts.campaigns import CampaignCreatedV1, CampaignSpendRecordedV1, CampaignUpdatedV1
from shared.contracts.leads import (
    AppointmentAttendedV1,
    AppointmentMissedV1,
    AppointmentScheduledV1,
    CallRecordedV1,
    ConsultantMovedTeamV1,
    ConsultantRegisteredV1,
    FollowUpLoggedV1,
    FollowUpOverdueV1,
    FollowUpScheduledV1,
    LeadAssignedV1,
    LeadCreatedV1,
    LeadGradedV1,
    LeadInvalidatedV1,
    LossApprovedV1,
    LossRequestedV1,
    StageAdvancedV1,
)
from shared.contracts.orders import (
    ContractSignedV1,
    DeliveredV1,
    FinancingApprovedV1,
    OrderCancelledV1,
    OrderLine,
    PaymentReceivedV1,
    QuoteIssuedV1,
    QuoteLine,
)
from shared.contracts.showroom import VisitArrivedV1
from tests.support.upstream import FakeRecord, upstream_message

BASE = datetime(2026, 3, 1, tzinfo=UTC)
CONSULTANTS = {"c1": "t1", "c2": "t1", "c3": "t2"}
CAMPAIGNS = {"K1": "call_center", "K2": "online_shop"}
STAGES = ("new", "contacted", "visited", "needs_analysed", "presented", "test_driven", "negotiating")


@dataclass(frozen=True)
class Published:
    topic: str  # leads | orders | aftersales
    key: str
    event: IntegrationEvent


def _at(draw: st.DrawFn, start: datetime, max_hours: int = 300) -> datetime:
    return start + timedelta(minutes=draw(st.integers(1, max_hours * 60)))


def _register_entries(draw: st.DrawFn, lead: str, before: int, count: int,
                      at: datetime) -> tuple[list[Published], datetime]:
    """``count`` reception register entries of the lead's customer after its ``before`` earlier ones, the first at
    ``at``, each received by a drawn consultant; and the moment after the last."""
    out = []
    for number in range(before + 1, before + count + 1):
        out.append(Published("leads", f"visit-{lead}-{number}", VisitArrivedV1(
            visit_id=f"visit-{lead}-{number}", lead_id=lead, customer_id=f"cust-{lead}", visit_number=number,
            first_visit=number == 1, party_size=2, purpose="first_look",
            consultant_id=draw(st.sampled_from(sorted(CONSULTANTS))), walk_in_lead=number == 1, arrived_at=at)))
        at = _at(draw, at, 72)
    return out, at


@st.composite
def histories(draw: st.DrawFn, max_leads: int = 8) -> list[Published]:
    out: list[Published] = []
    for consultant, team in CONSULTANTS.items():
        out.append(Published("leads", consultant, ConsultantRegisteredV1(
            consultant_id=consultant, name=consultant, team_id=team, role="consultant",
            registered_at=BASE - timedelta(days=30))))
    if draw(st.booleans()):
        out.append(Published("leads", "c2", ConsultantMovedTeamV1(
            consultant_id="c2", from_team_id="t1", to_team_id="t2", moved_at=_at(draw, BASE, 900))))
    for campaign, channel in CAMPAIGNS.items():
        out.extend(_campaign(draw, campaign, channel))
    for n in range(draw(st.integers(1, max_leads))):
        lead = f"L{n}"
        captured = _at(draw, BASE, 700)
        owner = draw(st.sampled_from(sorted(CONSULTANTS)))
        out.append(Published("leads", lead, LeadCreatedV1(
            lead_id=lead, customer_id=f"cust-{lead}", name="张三", phone="+8613800000000",
            channel=draw(st.sampled_from(("call_center", "online_shop", "referral"))),
            interest=draw(st.sampled_from(("Model Y", "Han"))), captured_at=captured,
            referral_id=f"ref-{lead}" if draw(st.booleans()) else None,
            campaign_id=draw(st.sampled_from((None, *CAMPAIGNS))))))
        out.append(Published("leads", lead, LeadAssignedV1(
            lead_id=lead, owner_id=owner, team_id=CONSULTANTS[owner], reason="round_robin",
            assigned_at=captured + timedelta(seconds=1))))
        now = captured
        stage = "new"
        visits = 0
        if n == 0:  # every history has a customer who came back (二次到店): the first lead's 1st and 2nd entries
            entries, now = _register_entries(draw, lead, visits, 2, _at(draw, now, 48))
            out.extend(entries)
            visits += len(entries)
        for _ in range(draw(st.integers(0, 4))):
            now = _at(draw, now, 120)
            kind = draw(st.sampled_from(("move", "grade", "follow_up", "appointment", "reassign", "call",
                                              "walk_in")))
            if kind == "move":
                to = draw(st.sampled_from([s for s in STAGES if s != stage]))
                out.append(Published("leads", lead, StageAdvancedV1(
                    lead_id=lead, from_stage=stage, to_stage=to, backwards=STAGES.index(to) < STAGES.index(stage),
                    reason="back", moved_at=now)))
                stage = to
            elif kind == "grade":
                out.append(Published("leads", lead, LeadGradedV1(
                    lead_id=lead, grade=draw(st.sampled_from(("H", "A", "B", "C"))), previous_grade="N",
                    reason="r", graded_at=now)))
            elif kind == "follow_up":
                due = _at(draw, now, 72)
                out.append(Published("leads", lead, FollowUpScheduledV1(
                    lead_id=lead, sequence=1, due_at=due, owner_id=owner)))
                if draw(st.booleans()):
                    out.append(Published("leads", lead, FollowUpLoggedV1(
                        lead_id=lead, kind="call", outcome="ok", logged_by=owner, logged_at=_at(draw, now, 96))))
                else:
                    out.append(Published("leads", lead, FollowUpOverdueV1(
                        lead_id=lead, sequence=1, due_at=due, owner_id=owner, detected_at=due)))
            elif kind == "appointment":
                appointment = f"ap-{lead}-{len(out)}"
                kind_ = draw(st.sampled_from(("showroom_visit", "test_drive")))
                out.append(Published("leads", lead, AppointmentScheduledV1(
                    lead_id=lead, appointment_id=appointment, kind=kind_, scheduled_for=now + timedelta(days=1),
                    scheduled_by=owner)))
                outcome = draw(st.sampled_from(("attended", "missed", "pending")))
                if outcome == "attended":
                    out.append(Published("leads", lead, AppointmentAttendedV1(
                        lead_id=lead, appointment_id=appointment, kind=kind_,
                        attended_at=now + timedelta(days=1))))
                elif outcome == "missed":
                    out.append(Published("leads", lead, AppointmentMissedV1(
                        lead_id=lead, appointment_id=appointment, kind=kind_,
                        recorded_at=now + timedelta(days=1, minutes=30))))
            elif kind == "call":
                # A call-center call: answered (talk time, the follow-up logged by the agent's consultant) or
                # missed (a call-back due in 2 h, called back in time, late or not at all).
                agent = draw(st.sampled_from(sorted(CONSULTANTS)))
                answered = draw(st.booleans())
                talk = draw(st.integers(5, 900)) if answered else 0
                out.append(Published("leads", lead, CallRecordedV1(
                    lead_id=lead, call_id=f"call-{lead}-{len(out)}", direction="inbound",
                    outcome="answered" if answered else "missed", agent_id=f"agent-{agent}", consultant_id=agent,
                    started_at=now - timedelta(seconds=talk), duration_seconds=talk,
                    call_back_due_at=None if answered else now + timedelta(hours=2), recorded_at=now)))
                if answered:
                    out.append(Published("leads", lead, FollowUpLoggedV1(
                        lead_id=lead, kind="call", outcome="answered", logged_by=agent, logged_at=now)))
                elif draw(st.booleans()):
                    out.append(Published("leads", lead, FollowUpLoggedV1(
                        lead_id=lead, kind="call", outcome="called back", logged_by=owner,
                        logged_at=now + timedelta(minutes=draw(st.integers(1, 240))))))
            elif kind == "walk_in":
                # Register entries at the reception: the customer's first visit or a later one, and sometimes a
                # return within days (二次到店 counts the 2nd entry; a 3rd counts nowhere).
                entries, now = _register_entries(draw, lead, visits, draw(st.integers(1, 2)), now)
                out.extend(entries)
                visits += len(entries)
            else:
                owner = draw(st.sampled_from(sorted(CONSULTANTS)))
                out.append(Published("leads", lead, LeadAssignedV1(
                    lead_id=lead, owner_id=owner, team_id=None, reason="manual", assigned_at=now)))
        ending = draw(st.sampled_from(("open", "contract", "checkout", "lost", "invalid")))
        now = _at(draw, now, 200)
        if ending in ("contract", "checkout"):
            order = f"o-{lead}"
            quote = f"q-{lead}"
            checkout = ending == "checkout"
            if not checkout:
                out.append(Published("orders", quote, QuoteIssuedV1(
                    quote_id=quote, revision=1, lead_id=lead, consultant_id=owner,
                    lines=[QuoteLine(product="Model Y", quantity=1, unit_price_minor=300_000,
                                     line_total_minor=300_000)],
                    subtotal_minor=300_000, discount_minor=10_000, total_minor=290_000, currency="CNY",
                    valid_until=now + timedelta(days=7), issued_at=now - timedelta(hours=5))))
            # A shop checkout names no lead and no consultant: leads links it to the customer's open lead later.
            out.append(Published("orders", order, ContractSignedV1(
                order_id=order, lead_id=None if checkout else lead, consultant_id=None if checkout else owner,
                channel="online_shop" if checkout else None, customer_phone="+8613800000000",
                # the car from the catalogue at its list price or typed below it (平均优惠 counts that), or typed
                lines=[OrderLine(product="Model Y", quantity=1, unit_price_minor=290_000, kind="model",
                                 **draw(st.sampled_from(({}, {"catalogue_id": "model-y", "list_price_minor": 290_000},
                                                         {"catalogue_id": "model-y", "list_price_minor": 296_000})))),
                       *(OrderLine(product=kind, quantity=1, unit_price_minor=1_000, kind=kind)
                         for kind in draw(st.sets(st.sampled_from(("accessory", "insurance", "financing",
                                                                    "plates")))))],
                total_minor=290_000,
                currency="CNY", payment_plan="deposit_balance", signed_at=now,
                quote_id=None if checkout else quote, subtotal_minor=300_000, discount_minor=10_000)))
            if checkout:
                out.append(Published("leads", lead, StageAdvancedV1(
                    lead_id=lead, from_stage=stage, to_stage="contract_signed", order_id=order,
                    reason="contract_signed", moved_at=now + timedelta(minutes=draw(st.integers(1, 3000))))))
            out.append(Published("orders", order, PaymentReceivedV1(
                order_id=order, payment_id=f"p-{lead}", kind="deposit", amount_minor=10_000, currency="CNY",
                paid_total_minor=10_000, received_at=now + timedelta(hours=1))))
            if draw(st.booleans()):
                out.append(Published("orders", order, FinancingApprovedV1(
                    order_id=order, provider="bank", amount_minor=100_000, currency="CNY",
                    approved_at=now + timedelta(hours=3))))
            after = draw(st.sampled_from(("delivered", "cancelled", "signed")))
            if after == "delivered":
                delivered = _at(draw, now, 300)
                out.append(Published("orders", order, DeliveredV1(
                    order_id=order, lead_id=None if checkout else lead, consultant_id=None if checkout else owner,
                    total_minor=290_000, currency="CNY", delivered_at=delivered)))
                out.append(Published("aftersales", order, CarePlanScheduledV1(
                    plan_id=order, order_id=order, customer_id=f"cust-{lead}", lead_id=None,
                    consultant_id=None if checkout else owner, delivered_at=delivered,
                    visits=[ScheduledVisitV1(visit_no=1, label="D+1", due_at=delivered + timedelta(days=1),
                                             overdue_at=delivered + timedelta(days=2), assignee_role="consultant")])))
                out.append(Published("aftersales", order, ReturnVisitCompletedV1(
                    plan_id=order, customer_id=f"cust-{lead}", visit_no=1, label="D+1",
                    score=draw(st.integers(1, 5)), scale_min=1, scale_max=5, low_score=False, late=False,
                    completed_at=delivered + timedelta(days=1))))
                out.append(Published("aftersales", f"cust-{lead}", PointsAwardedV1(
                    customer_id=f"cust-{lead}", points=100, reason="delivery", reference=f"delivery:{order}",
                    balance_after=100, awarded_at=delivered + timedelta(hours=2))))
                if draw(st.booleans()):
                    complaint = f"cp-{lead}"
                    opened = delivered + timedelta(days=2)
                    out.append(Published("aftersales", complaint, ComplaintOpenedV1(
                        complaint_id=complaint, customer_id=f"cust-{lead}", order_id=order, category="delivery",
                        severity="low", opened_at=opened, acknowledge_due_at=opened + timedelta(hours=4),
                        resolve_due_at=opened + timedelta(days=2))))
                    if draw(st.booleans()):
                        out.append(Published("aftersales", complaint, ComplaintSlaBreachedV1(
                            complaint_id=complaint, stage="acknowledge", cycle=1,
                            due_at=opened + timedelta(hours=4), detected_at=opened + timedelta(hours=5))))
            elif after == "cancelled":
                out.append(Published("orders", order, OrderCancelledV1(
                    order_id=order, lead_id=None if checkout else lead, reason="changed mind",
                    refund_due_minor=0, currency="CNY", cancelled_at=_at(draw, now, 100))))
        elif ending == "lost":
            out.append(Published("leads", lead, LossRequestedV1(
                lead_id=lead, reason="price", requested_by=owner, requested_at=now)))
            out.append(Published("leads", lead, LossApprovedV1(
                lead_id=lead, reason="price", competitor_model=draw(st.sampled_from((None, "BYD Han"))),
                approved_by="mgr", approved_at=now + timedelta(hours=2))))
        elif ending == "invalid":
            out.append(Published("leads", lead, LeadInvalidatedV1(lead_id=lead, reason="empty number",
                                                                  invalidated_at=now)))
    return out


def _campaign(draw: st.DrawFn, campaign: str, channel: str) -> list[Published]:
    """A campaign, maybe edited (its channel or budget), with spend entries (a correction among them) on days
    spread over the history's months."""
    out: list[Published] = [Published("leads", campaign, CampaignCreatedV1(
        campaign_id=campaign, code=campaign.lower(), campaign_name=campaign, kind="roadshow", channel=channel,
        starts_on=BASE.date(), ends_on=(BASE + timedelta(days=40)).date(), budget_minor=1_000_000,
        created_at=BASE - timedelta(days=1)))]
    if draw(st.booleans()):
        out.append(Published("leads", campaign, CampaignUpdatedV1(
            campaign_id=campaign, changes={"budget_minor": {"from": 1_000_000, "to": 1_500_000},
                                           "channel": {"from": channel, "to": "referral"}},
            updated_at=_at(draw, BASE, 900))))
    total = 0
    for n in range(draw(st.integers(0, 4))):
        amount = draw(st.sampled_from((50_000, 120_000, -20_000))) if total > 20_000 else 80_000
        total += amount
        out.append(Published("leads", campaign, CampaignSpendRecordedV1(
            campaign_id=campaign, entry_id=f"{campaign}-{n}", amount_minor=amount,
            channel=draw(st.sampled_from((channel, "referral"))), spent_at=_at(draw, BASE, 1400),
            total_spent_minor=total, recorded_at=BASE + timedelta(days=60))))
    return out


def as_records(history: list[Published], prefix: str = "test") -> list[FakeRecord]:
    return [FakeRecord(*upstream_message(p.event, key=p.key), topic=f"{prefix}.{p.topic}", offset=i)
            for i, p in enumerate(history)]
