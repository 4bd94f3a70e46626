"""Follow-up cadence and pool rules (DESIGN §2). Values come from configuration; the domain only uses them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

DEFAULT_INTERVALS = {"N": timedelta(hours=24), "H": timedelta(days=2), "A": timedelta(days=4),
                     "B": timedelta(days=7), "C": timedelta(days=14)}


@dataclass(frozen=True, slots=True)
class LeadPolicy:
    """``follow_up_intervals``: grade → time until the next follow-up is due (N: first contact).
    ``pool_idle``: without follow-up this long, a lead is released to the pool (公海).
    ``claim_cooldown``: the previous owner cannot claim a pooled lead back before this has passed.
    ``loss_reasons``: allowed reason codes for a loss (战败) request.
    ``call_back_within``: a missed call-center call is to be called back within this time of its start.
    ``resend_window``: a capture without an idempotency key that repeats the lead's last contact exactly (same
    channel, name and interest) within this time is the same contact sent again — a client retrying after a
    timeout — not a new touchpoint."""

    follow_up_intervals: dict[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_INTERVALS))
    pool_idle: timedelta = timedelta(days=7)
    claim_cooldown: timedelta = timedelta(days=3)
    loss_reasons: frozenset[str] = frozenset({"bought_competitor", "price", "no_budget", "postponed", "other"})
    no_show_follow_up: timedelta = timedelta(hours=24)
    resend_window: timedelta = timedelta(minutes=10)
    call_back_within: timedelta = timedelta(hours=2)

    def interval(self, grade: str) -> timedelta:
        return self.follow_up_intervals.get(grade, DEFAULT_INTERVALS[grade])
