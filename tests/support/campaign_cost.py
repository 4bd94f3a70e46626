"""What a row of reporting's campaign report (GET /v1/reports/campaigns) should say, computed by a test from what it
did and the formulas of services/reporting/README.md (*Campaigns and channel cost*) — on its own, not with
reporting's code."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def per(spend: int, count: int) -> int | None:
    """Spend per unit in whole minor units, half up (the README's rule); none when there is nothing to divide by."""
    return None if count == 0 else int((Decimal(spend) / count).to_integral_value(rounding=ROUND_HALF_UP))


def expected_row(*, leads: int, invalid: int, visits: int, contracts: int, revenue: int, spend: int,
                 test_drives: int = 0) -> dict[str, Any]:
    """A channel's or a campaign's figures from its counts: the costs per lead / valid lead / visit / sale and
    ROI = (revenue − spend) / spend to 4 places, half up (none without spend)."""
    return {"leads": leads, "valid_leads": leads - invalid, "visits": visits, "test_drives": test_drives,
            "contracts": contracts, "revenue_minor": revenue, "spend_minor": spend,
            "cost_per_lead_minor": per(spend, leads), "cost_per_valid_lead_minor": per(spend, leads - invalid),
            "cost_per_visit_minor": per(spend, visits), "cost_per_sale_minor": per(spend, contracts),
            "roi": None if spend == 0 else float(((Decimal(revenue) - spend) / spend).quantize(
                Decimal("0.0001"), rounding=ROUND_HALF_UP))}


FIGURES = tuple(expected_row(leads=0, invalid=0, visits=0, contracts=0, revenue=0, spend=0))
"""The figures of a report row (its counts, money and ratios; not its campaign's description)."""


def figures_of(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in FIGURES}
