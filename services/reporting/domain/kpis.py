"""Dealer KPIs (经销商关键指标) from activity counters: each is a ratio or an average of two counters, so it can be
computed for any consultant, team or period by summing the counters first (see the reporting README for the
formulas and where each counter comes from)."""

from __future__ import annotations

from collections.abc import Mapping

from services.reporting.domain.funnel import ratio

# name → (numerator counter, denominator counter, scale)
KPIS: dict[str, tuple[str, str, float]] = {
    "invitation_to_visit_rate": ("invited_visits", "invitations", 1.0),  # 邀约到店率
    "second_visit_rate": ("second_visits", "first_visits", 1.0),  # 二次到店率
    "test_drive_rate": ("test_drives", "visits", 1.0),  # 试驾率
    "visit_to_order_rate": ("contracts", "visits", 1.0),  # 到店成交率
    "quote_to_contract_rate": ("quotes_signed", "quotes_issued", 1.0),  # 报价成交率
    "average_discount_rate": ("discount_minor", "subtotal_minor", 1.0),  # 平均优惠率
    "average_discount_minor": ("discount_minor", "priced_contracts", 1.0),  # 单车平均优惠
    "deposit_to_delivery_days": ("deposit_to_delivery_hours", "deposit_deliveries", 1 / 24),  # 订金到交车天数
    "financing_approval_rate": ("financing_approved", "financing_decisions", 1.0),  # 金融审批通过率
    "referral_rate": ("referral_leads", "new_leads", 1.0),  # 转介绍率
    "satisfaction": ("satisfaction_sum", "satisfaction_visits", 1.0),  # 满意度 (0–1)
}
COUNTS = ("invitations", "invited_visits", "first_visits", "second_visits", "test_drives_attended", "quotes_issued",
          "quotes_signed", "financing_approved", "financing_declined", "referral_leads")


def kpis(counters: Mapping[str, float]) -> dict[str, float | int | None]:
    """The KPI values and the counts they are made of, from summed counters."""
    values = dict(counters)
    values["financing_decisions"] = values.get("financing_approved", 0) + values.get("financing_declined", 0)
    out: dict[str, float | int | None] = {c: int(values.get(c, 0)) for c in COUNTS}
    for name, (numerator, denominator, scale) in KPIS.items():
        r = ratio(values.get(numerator, 0) * scale, values.get(denominator, 0))
        out[name] = None if r is None else round(r, 4)
    out["points_awarded"] = int(sum(v for k, v in values.items() if k.startswith("points:")))
    return out
