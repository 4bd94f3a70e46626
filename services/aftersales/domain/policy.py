"""Configurable rules as plain values: the care template, the satisfaction scale, complaint SLAs and points
rules. They are loaded from ``config/aftersales.json`` by the composition root and passed in; nothing here reads
files or the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shared.domain import InvalidFieldError


@dataclass(frozen=True, slots=True)
class VisitTemplate:
    """One return visit of the plan: ``offset_days`` after delivery, done by ``assignee_role``."""

    label: str
    offset_days: int
    assignee_role: str = "consultant"


@dataclass(frozen=True, slots=True)
class CareTemplate:
    visits: tuple[VisitTemplate, ...]
    # A visit is overdue this long after its due time: the due *day* is still on time.
    overdue_grace: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ScoreScale:
    """Satisfaction scale, e.g. 1–5 or 0–10; scores at or below ``low_threshold`` open a manager follow-up."""

    minimum: int
    maximum: int
    low_threshold: int

    def __post_init__(self) -> None:
        if not self.minimum < self.maximum or not self.minimum <= self.low_threshold < self.maximum:
            raise ValueError(f"bad score scale {self.minimum}..{self.maximum} low≤{self.low_threshold}")

    def is_low(self, score: int) -> bool:
        return score <= self.low_threshold

    def normalised(self, score: int) -> float:
        """0–100, so summaries stay comparable if the scale changes."""
        return round(100 * (score - self.minimum) / (self.maximum - self.minimum), 2)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Complaint SLA: acknowledge within ``acknowledge``, resolve within ``resolve`` of opening (or reopening);
    severities may have tighter limits."""

    acknowledge: timedelta = timedelta(hours=24)
    resolve: timedelta = timedelta(hours=48)
    by_severity: Mapping[str, tuple[timedelta, timedelta]] = field(default_factory=dict)

    def limits(self, severity: str) -> tuple[timedelta, timedelta]:
        return self.by_severity.get(severity, (self.acknowledge, self.resolve))


@dataclass(frozen=True, slots=True)
class PointsRules:
    """Delivery: ``delivery_base`` + one point per ``minor_per_point`` of the order total; referral: a flat
    ``referral_points`` to the referrer when the referred prospect's order is delivered."""

    delivery_base: int = 100
    minor_per_point: int = 10_000
    referral_points: int = 500

    # One award never exceeds this: a mistyped order total must not mint millions of points (or, above the
    # account's per-change limit, dead-letter the delivery and with it the care plan).
    max_delivery_points: int = 100_000

    def delivery_points(self, total_minor: int) -> int:
        per_amount = total_minor // self.minor_per_point if self.minor_per_point > 0 else 0
        return min(self.max_delivery_points, max(0, self.delivery_base + per_amount))


COMPLAINT_CATEGORIES = ("purchase", "delivery", "product", "service", "other")
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class AftersalesPolicy:
    care: CareTemplate
    scale: ScoreScale
    sla: SlaPolicy
    points: PointsRules
    categories: tuple[str, ...] = COMPLAINT_CATEGORIES
    severities: tuple[str, ...] = SEVERITIES


def _hours(value: Any) -> timedelta:
    return timedelta(hours=float(value))


def policy_from_dict(data: Mapping[str, Any]) -> AftersalesPolicy:
    """Build the policy from configuration data (the JSON file's content). Raises ValueError on bad data."""
    care = data["care_template"]
    visits = tuple(VisitTemplate(v["label"], int(v["offset_days"]), v.get("assignee_role", "consultant"))
                   for v in care["visits"])
    if not visits or len({v.label for v in visits}) != len(visits):
        raise ValueError("care_template.visits must be non-empty with unique labels")
    scale = data["score_scale"]
    sla = data["complaint_sla"]
    by_severity = {k: (_hours(v["acknowledge_hours"]), _hours(v["resolve_hours"]))
                   for k, v in sla.get("by_severity", {}).items()}
    points = data["points_rules"]
    return AftersalesPolicy(
        care=CareTemplate(visits, _hours(care.get("overdue_grace_hours", 24))),
        scale=ScoreScale(int(scale["min"]), int(scale["max"]), int(scale["low_threshold"])),
        sla=SlaPolicy(_hours(sla["acknowledge_hours"]), _hours(sla["resolve_hours"]), by_severity),
        points=PointsRules(int(points["delivery_base"]), int(points["minor_per_point"]),
                           int(points["referral_points"])),
        categories=tuple(data.get("complaint_categories", COMPLAINT_CATEGORIES)),
        severities=tuple(data.get("severities", SEVERITIES)),
    )


def optional_text(field_name: str, value: str | None, *, max_length: int) -> str | None:
    """Trimmed text, or None when empty; InvalidFieldError naming the field when too long."""
    clean = (value or "").strip()
    if len(clean) > max_length:
        raise InvalidFieldError(field_name, f"must be at most {max_length} characters")
    return clean or None


def require_text(field_name: str, value: str | None, *, max_length: int) -> str:
    """Trimmed text; InvalidFieldError naming the field when empty or too long."""
    clean = optional_text(field_name, value, max_length=max_length)
    if clean is None:
        raise InvalidFieldError(field_name, "must not be empty")
    return clean
