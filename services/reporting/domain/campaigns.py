"""Channel and campaign cost (推广成本效益评估): what a channel or a campaign cost and what it brought, and the
ratios between them (pure: the formulas of the reporting README, *Campaigns and channel cost*).

Money is in minor units. Costs per lead / visit / sale are exact decimals rounded half up to whole minor units;
ROI = (revenue − spend) / spend, rounded to 4 places. A ratio over nothing is undefined (``None``): cost per lead
with no leads, ROI with no spend. Spend over something free is a cost of 0 (leads but no spend: cost per lead 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

COUNTED = ("leads", "invalid_leads", "visits", "test_drives", "contracts", "revenue", "spend")
COLUMNS = ["level", "channel", "campaign_id", "code", "name", "kind", "starts_on", "ends_on", "budget_minor",
           "leads", "valid_leads", "visits", "test_drives", "contracts", "revenue_minor", "spend_minor",
           "cost_per_lead_minor", "cost_per_valid_lead_minor", "cost_per_visit_minor", "cost_per_sale_minor", "roi"]


def cost_per(spend_minor: float, count: float) -> int | None:
    """Spend per unit in whole minor units (half up); None when there is no unit to divide by."""
    if count <= 0:
        return None
    return int((Decimal(round(spend_minor)) / Decimal(round(count))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def roi(revenue_minor: float, spend_minor: float) -> float | None:
    """(revenue − spend) / spend, 4 places (half up); None without spend."""
    if spend_minor <= 0:
        return None
    value = (Decimal(round(revenue_minor)) - Decimal(round(spend_minor))) / Decimal(round(spend_minor))
    return float(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def figures(counters: Mapping[str, float]) -> dict[str, Any]:
    """A row's counts, money and ratios from its counters (``leads``, ``invalid_leads``, ``visits``, ...)."""
    leads, invalid = int(counters.get("leads", 0)), int(counters.get("invalid_leads", 0))
    visits, contracts = int(counters.get("visits", 0)), int(counters.get("contracts", 0))
    revenue, spend = round(counters.get("revenue", 0)), round(counters.get("spend", 0))
    return {"leads": leads, "valid_leads": leads - invalid, "visits": visits,
            "test_drives": int(counters.get("test_drives", 0)), "contracts": contracts, "revenue_minor": revenue,
            "spend_minor": spend, "cost_per_lead_minor": cost_per(spend, leads),
            "cost_per_valid_lead_minor": cost_per(spend, leads - invalid),
            "cost_per_visit_minor": cost_per(spend, visits), "cost_per_sale_minor": cost_per(spend, contracts),
            "roi": roi(revenue, spend)}


@dataclass(slots=True)
class CampaignInfo:
    """A campaign as its CampaignCreated / CampaignUpdated facts describe it at a moment."""

    campaign_id: str
    code: str = ""
    name: str = ""
    kind: str = ""
    channel: str = ""
    starts_on: str = ""
    ends_on: str = ""
    budget_minor: int = 0
    currency: str = "CNY"

    def overlaps(self, start: date, end: date) -> bool:
        """Whether the campaign's period meets [start, end) (a campaign with no dates known yet does)."""
        if not self.starts_on or not self.ends_on:
            return True
        return date.fromisoformat(self.starts_on) < end and start <= date.fromisoformat(self.ends_on)


def catalogue(facts: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, CampaignInfo]:
    """Campaigns from their facts ``(event type short name, data)``, in occurrence order."""
    out: dict[str, CampaignInfo] = {}
    for event_type, data in facts:
        info = out.setdefault(data["campaign_id"], CampaignInfo(data["campaign_id"]))
        if event_type == "CampaignCreated":
            info.name = data.get("campaign_name") or ""
            for name in ("code", "kind", "channel", "starts_on", "ends_on", "budget_minor", "currency"):
                if data.get(name) is not None:
                    setattr(info, name, data[name])
        elif event_type == "CampaignUpdated":
            for name, change in (data.get("changes") or {}).items():
                if hasattr(info, name):
                    setattr(info, name, change.get("to"))
    return out


def report_rows(flows: Mapping[tuple[Any, ...], float], campaigns: Mapping[str, CampaignInfo], *,
                start: date, end: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per channel, per campaign) rows from the period's counters ``(metric, channel, campaign)``. A channel row
    holds every lead of the channel, with a campaign or without; its budget is the budget of its campaigns running
    in the period. A campaign row holds the leads that named it, whatever their channel; campaigns running in the
    period are listed even when nothing happened yet."""
    per_channel: dict[str, dict[str, float]] = {}
    per_campaign: dict[str, dict[str, float]] = {}
    for (metric, channel, campaign), value in flows.items():
        per_channel.setdefault(channel, {}).setdefault(metric, 0)
        per_channel[channel][metric] += value
        if campaign:
            per_campaign.setdefault(campaign, {}).setdefault(metric, 0)
            per_campaign[campaign][metric] += value
    running = {c.campaign_id: c for c in campaigns.values() if c.overlaps(start, end)}
    for campaign_id in running:
        per_campaign.setdefault(campaign_id, {})
    budgets: dict[str, int] = {}
    for info in running.values():
        budgets[info.channel] = budgets.get(info.channel, 0) + int(info.budget_minor)
        per_channel.setdefault(info.channel, {})
    channels = [{"level": "channel", "channel": channel, "budget_minor": budgets.get(channel, 0),
                 **figures(counters)} for channel, counters in sorted(per_channel.items())]
    rows = []
    for campaign_id, counters in per_campaign.items():
        info = campaigns.get(campaign_id, CampaignInfo(campaign_id))
        rows.append({"level": "campaign", "campaign_id": campaign_id, "code": info.code, "name": info.name,
                     "kind": info.kind, "channel": info.channel, "starts_on": info.starts_on or None,
                     "ends_on": info.ends_on or None, "budget_minor": int(info.budget_minor),
                     "currency": info.currency, **figures(counters)})
    rows.sort(key=lambda r: (r["channel"], r["code"], r["campaign_id"]))
    return channels, rows
