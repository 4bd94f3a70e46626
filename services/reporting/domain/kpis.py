"""Dealer KPIs (经销商关键指标) from activity counters: each is a ratio or an average of two counters, so it can be
computed for any consultant, team or period by summing the counters first (see the reporting README for the
formulas and where each counter comes from)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.reporting.domain.funnel import ratio

# name → (numerator counter, denominator counter, scale)
KPIS: dict[str, tuple[str, str, float]] = {
    "invitation_to_visit_rate": ("invited_visits", "invitations", 1.0),  # 邀约到店率
    "second_visit_rate": ("second_visits", "first_visits", 1.0),  # 二次到店率
    "test_drive_rate": ("test_drives", "visits", 1.0),  # 试驾率
    "visit_to_order_rate": ("contracts", "visits", 1.0),  # 到店成交率
    "quote_to_contract_rate": ("quotes_signed", "quotes_issued", 1.0),  # 报价成交率
    "average_discount_rate": ("concession_minor", "list_subtotal_minor", 1.0),  # 平均优惠率
    "average_discount_minor": ("concession_minor", "priced_contracts", 1.0),  # 单车平均优惠
    "deposit_to_delivery_days": ("deposit_to_delivery_hours", "deposit_deliveries", 1 / 24),  # 订金到交车天数
    "financing_approval_rate": ("financing_approved", "financing_decisions", 1.0),  # 金融审批通过率
    "referral_rate": ("referral_leads", "new_leads", 1.0),  # 转介绍率
    "satisfaction": ("satisfaction_sum", "satisfaction_visits", 1.0),  # 满意度 (0–1)
    "connect_rate": ("calls_answered", "calls", 1.0),  # 接通率
    "average_talk_seconds": ("talk_seconds", "calls_answered", 1.0),  # 平均通话时长 (s)
    "call_back_sla_rate": ("call_backs_in_sla", "call_backs_due", 1.0),  # 回拨及时率
    "walk_in_record_rate": ("walk_ins_recorded", "walk_ins", 1.0),  # 留档率
    "test_drive_to_contract_rate": ("test_drives_signed", "test_drives", 1.0),  # 试驾签单率
    "no_show_rate": ("appointments_missed", "appointments_due", 1.0),  # 爽约率
    "accessory_attach_rate": ("contracts_with_accessory", "contracts", 1.0),  # 精品渗透率
    "insurance_attach_rate": ("contracts_with_insurance", "contracts", 1.0),  # 保险渗透率
    "financing_attach_rate": ("contracts_with_financing", "contracts", 1.0),  # 金融渗透率
    "plates_attach_rate": ("contracts_with_plates", "contracts", 1.0),  # 上牌渗透率
}
# Numerators and denominators that are sums of counters. A discount is everything given away against the list:
# the contract's discount plus what its catalogue lines were typed below their list price (the subtotal is
# already lower by that), over the subtotal at list prices — the measure orders' discount policy checks.
_SUMS: dict[str, tuple[str, ...]] = {"financing_decisions": ("financing_approved", "financing_declined"),
                                     "appointments_due": ("appointments_kept", "appointments_missed"),
                                     "concession_minor": ("discount_minor", "below_list_minor"),
                                     "list_subtotal_minor": ("subtotal_minor", "below_list_minor")}
# KPIs a target can be set for: the rates where higher is better. Discount and deposit → delivery time are
# ceilings (lower is better), for which "attainment = actual / target" would read backwards; they have none.
TARGETABLE_KPIS: tuple[str, ...] = (
    "invitation_to_visit_rate", "second_visit_rate", "test_drive_rate", "visit_to_order_rate",
    "quote_to_contract_rate", "financing_approval_rate", "referral_rate", "satisfaction",
)
COUNTS = ("invitations", "invited_visits", "first_visits", "second_visits", "test_drives_attended", "quotes_issued",
          "quotes_signed", "financing_approved", "financing_declined", "referral_leads", "calls", "calls_answered",
          "talk_seconds", "call_backs_due", "call_backs_in_sla", "visits", "test_drives", "contracts", "walk_ins",
          "walk_ins_recorded", "test_drives_signed", "appointments_kept", "appointments_missed",
          "contracts_with_accessory", "contracts_with_insurance", "contracts_with_financing", "contracts_with_plates")


def kpi(name: str, counter: Callable[[str], float]) -> float | None:
    """One KPI from a lookup of summed counters (None without a denominator)."""
    numerator, denominator, scale = KPIS[name]
    above = sum(counter(c) for c in _SUMS.get(numerator, (numerator,)))
    below = sum(counter(c) for c in _SUMS.get(denominator, (denominator,)))
    r = ratio(above * scale, below)
    return None if r is None else round(r, 4)


def kpis(counters: Mapping[str, float]) -> dict[str, float | int | None]:
    """The KPI values and the counts they are made of, from summed counters."""
    def counter(name: str) -> float:
        return counters.get(name, 0)

    out: dict[str, float | int | None] = {c: int(counter(c)) for c in COUNTS}
    for name in KPIS:
        out[name] = kpi(name, counter)
    out["points_awarded"] = int(sum(v for k, v in counters.items() if k.startswith("points:")))
    return out
