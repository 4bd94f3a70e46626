"""Channel and campaign cost: the formulas (cost per lead / visit / sale, ROI — with zero spend, zero leads and
rounding), the rows per channel and per campaign, and what the ledger folds for a campaign's spend and the leads
that name it (invalidated leads are not valid, cancelled contracts do not count, spend goes to its channel)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.reporting.app.campaigns import report_days
from services.reporting.domain.campaigns import CampaignInfo, catalogue, cost_per, figures, report_rows, roi
from services.reporting.domain.ledger import ConsultantTeams, entities_of, measures_at
from shared.contracts.campaigns import CampaignCreatedV1, CampaignSpendRecordedV1, CampaignUpdatedV1
from shared.contracts.leads import LeadCreatedV1, LeadInvalidatedV1, StageAdvancedV1
from shared.contracts.orders import ContractSignedV1, OrderCancelledV1, OrderLine
from shared.domain import InvalidFieldError
from tests.unit.reporting.test_reporting_ledger import fact

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ORDER_LINE = OrderLine(product="p", quantity=1, unit_price_minor=1)


def test_cost_per_unit_is_the_spend_divided_rounded_half_up_to_whole_minor_units() -> None:
    assert cost_per(1_000_000, 3) == 333_333
    assert cost_per(5, 2) == 3  # 2.5 → 3 (half up, not to even)
    assert cost_per(7, 2) == 4
    assert cost_per(0, 4) == 0  # free leads cost nothing each
    assert cost_per(1_000, 0) is None  # no lead to divide by


def test_roi_is_revenue_minus_spend_over_spend_and_undefined_without_spend() -> None:
    assert roi(3_000_000, 1_000_000) == 2.0
    assert roi(500_000, 1_000_000) == -0.5
    assert roi(0, 1_000_000) == -1.0
    assert roi(1, 3) == -0.6667
    assert roi(2_900_000, 0) is None


@given(spend=st.integers(0, 10**12), leads=st.integers(0, 10**6), invalid=st.integers(0, 10**6),
       visits=st.integers(0, 10**6), contracts=st.integers(0, 10**5), revenue=st.integers(0, 10**12))
def test_figures_follow_the_formulas_for_any_counters(spend: int, leads: int, invalid: int, visits: int,
                                                      contracts: int, revenue: int) -> None:
    invalid = min(invalid, leads)
    row = figures({"spend": spend, "leads": leads, "invalid_leads": invalid, "visits": visits,
                   "contracts": contracts, "revenue": revenue})
    assert row["valid_leads"] == leads - invalid
    for key, count in (("cost_per_lead_minor", leads), ("cost_per_valid_lead_minor", leads - invalid),
                       ("cost_per_visit_minor", visits), ("cost_per_sale_minor", contracts)):
        if count == 0:
            assert row[key] is None
        else:  # within half a minor unit of the exact quotient
            assert abs(row[key] * count - spend) * 2 <= count
    if spend == 0:
        assert row["roi"] is None
    else:
        assert abs(row["roi"] - (revenue - spend) / spend) <= 0.00005 + 1e-12 * abs(revenue / spend)


def test_rows_per_channel_hold_every_lead_and_rows_per_campaign_those_that_named_it() -> None:
    flows = {("leads", "website", "K1"): 3, ("leads", "website", ""): 2, ("invalid_leads", "website", "K1"): 1,
             ("spend", "website", "K1"): 900, ("contracts", "exhibition", "K1"): 1, ("revenue", "exhibition", "K1"):
             5_000, ("leads", "exhibition", "K1"): 1}
    campaigns = {"K1": CampaignInfo("K1", code="k1", channel="website", starts_on="2026-03-01",
                                    ends_on="2026-03-31", budget_minor=1_000),
                 "K2": CampaignInfo("K2", code="k2", channel="website", starts_on="2026-03-10",
                                    ends_on="2026-03-12", budget_minor=500),
                 "K3": CampaignInfo("K3", code="k3", channel="roadshow", starts_on="2026-05-01",
                                    ends_on="2026-05-02", budget_minor=7)}
    channels, rows = report_rows(flows, campaigns, start=date(2026, 3, 1), end=date(2026, 4, 1))
    by_channel = {c["channel"]: c for c in channels}
    assert (by_channel["website"]["leads"], by_channel["website"]["valid_leads"], by_channel["website"]["spend_minor"],
            by_channel["website"]["cost_per_lead_minor"], by_channel["website"]["budget_minor"]) == (5, 4, 900, 180,
                                                                                                1_500)
    assert by_channel["exhibition"]["roi"] is None  # revenue without spend
    assert "roadshow" not in by_channel  # K3 runs in May
    k1 = next(r for r in rows if r["campaign_id"] == "K1")
    assert (k1["leads"], k1["valid_leads"], k1["contracts"], k1["cost_per_sale_minor"], k1["roi"]) == (
        4, 3, 1, 900, round((5_000 - 900) / 900, 4))
    k2 = next(r for r in rows if r["campaign_id"] == "K2")
    assert (k2["leads"], k2["cost_per_lead_minor"], k2["roi"]) == (0, None, None)  # running, nothing yet
    assert [r["campaign_id"] for r in rows] == ["K1", "K2"]


def test_the_catalogue_follows_a_campaigns_edits() -> None:
    created = CampaignCreatedV1(campaign_id="K", code="k", campaign_name="n", kind="roadshow", channel="website",
                                starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 2), budget_minor=10, created_at=T)
    updated = CampaignUpdatedV1(campaign_id="K", changes={"channel": {"from": "website", "to": "exhibition"},
                                                          "ends_on": {"from": "2026-03-02", "to": "2026-03-09"}},
                                updated_at=T)
    info = catalogue([("CampaignCreated", created.model_dump(mode="json")),
                      ("CampaignUpdated", updated.model_dump(mode="json"))])["K"]
    assert (info.name, info.channel, info.ends_on, info.budget_minor) == ("n", "exhibition", "2026-03-09", 10)
    assert info.overlaps(date(2026, 3, 9), date(2026, 3, 10))
    assert not info.overlaps(date(2026, 3, 10), date(2026, 3, 11))


def test_the_report_days_are_a_period_or_start_and_end() -> None:
    assert report_days("2026-03", None, None) == (date(2026, 3, 1), date(2026, 4, 1))
    assert report_days(None, date(2026, 3, 5), date(2026, 3, 6)) == (date(2026, 3, 5), date(2026, 3, 6))
    for period, start, end, field in (("2026-3", None, None, "period"), ("2026-03", date(2026, 3, 1), None, "period"),
                                      (None, date(2026, 3, 5), date(2026, 3, 5), "end")):
        with pytest.raises(InvalidFieldError) as refused:
            report_days(period, start, end)
        assert refused.value.field == field


def test_the_fold_credits_leads_visits_contracts_and_spend_to_the_leads_campaign_and_channel() -> None:
    lead = [fact(LeadCreatedV1(lead_id="L1", customer_id="c", name="x", phone="+8613800000000", channel="website",
                               captured_at=T, campaign_id="K1"), "L1"),
            fact(StageAdvancedV1(lead_id="L1", from_stage="new", to_stage="visited",
                                 moved_at=T + timedelta(days=1)), "L1"),
            fact(ContractSignedV1(order_id="o1", lead_id="L1", lines=[ORDER_LINE],
                                  total_minor=290_000, currency="CNY", payment_plan="full",
                                  signed_at=T + timedelta(days=2)), "o1"),
            fact(ContractSignedV1(order_id="o2", lead_id="L1", lines=[ORDER_LINE],
                                  total_minor=100, currency="CNY", payment_plan="full",
                                  signed_at=T + timedelta(days=2)), "o2"),
            fact(OrderCancelledV1(order_id="o2", lead_id="L1", reason="r", refund_due_minor=0, currency="CNY",
                                  cancelled_at=T + timedelta(days=3)), "o2")]
    measured = measures_at(lead, T + timedelta(days=5), ConsultantTeams())
    campaign = {k[1:]: v for k, v in measured.items() if k[0] == "campaign"}
    assert campaign == {("2026-03-02", "leads", "website", "K1"): 1, ("2026-03-03", "visits", "website", "K1"): 1,
                        ("2026-03-04", "contracts", "website", "K1"): 1,
                        ("2026-03-04", "revenue", "website", "K1"): 290_000}
    invalidated = [*lead, fact(LeadInvalidatedV1(lead_id="L1", reason="empty number",
                                                 invalidated_at=T + timedelta(days=10)), "L1")]
    before, after = (measures_at(invalidated, T + timedelta(days=d), ConsultantTeams()) for d in (9, 11))
    key = ("campaign", "2026-03-02", "invalid_leads", "website", "K1")
    assert (before.get(key), after.get(key)) == (None, 1)  # the capture day's cohort, known when it happens

    spend = fact(CampaignSpendRecordedV1(campaign_id="K1", entry_id="e1", amount_minor=70_000, channel="website",
                                         spent_at=T - timedelta(days=1), total_spent_minor=70_000, recorded_at=T),
                 "K1")
    assert entities_of(spend.event_type, spend.data, spend.event_id)[0] == "campaign:K1"
    assert spend.at == T - timedelta(days=1)  # counted on the day it was spent, not when it was recorded
    assert {k: v for k, v in measures_at([spend], T, ConsultantTeams()).items() if k[0] == "campaign"} == {
        ("campaign", "2026-03-01", "spend", "website", "K1"): 70_000}
