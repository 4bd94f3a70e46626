"""Tiered commission (阶梯式提成) from a versioned plan.

A plan says what commission is computed on (``basis``: contracts → count, revenue → minor units), the tiers
(each from a threshold, with a rate: per unit for contracts, a fraction for revenue), and *explicitly* how tiers
apply (``mode``):

* ``whole``: the whole amount at the rate of the highest tier reached;
* ``marginal``: each band at its own rate (like income tax brackets).

A minimum attainment gate (actual / target of the same metric) below which commission is zero; a consultant
without a target fails a non-zero gate. Money is exact (Decimal), rounded half up to the minor unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from shared.domain import InvalidFieldError

MODES = ("whole", "marginal")
BASES = ("contracts", "revenue")


@dataclass(frozen=True, slots=True)
class Tier:
    threshold: Decimal  # the tier starts at this amount (inclusive)
    rate: Decimal


@dataclass(frozen=True, slots=True)
class CommissionPlan:
    plan_id: str
    version: int
    effective_from: str  # YYYY-MM
    basis: str
    mode: str
    tiers: tuple[Tier, ...]
    min_attainment: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidFieldError("mode", f"one of {', '.join(MODES)}")
        if self.basis not in BASES:
            raise InvalidFieldError("basis", f"one of {', '.join(BASES)}")
        if not self.tiers or self.tiers[0].threshold != 0:
            raise InvalidFieldError("tiers", "the first tier must start at 0")
        if any(b.threshold <= a.threshold for a, b in zip(self.tiers, self.tiers[1:], strict=False)):
            raise InvalidFieldError("tiers", "thresholds must increase")


def plan_for(plans: Sequence[CommissionPlan], plan_id: str, month: str) -> CommissionPlan | None:
    """The latest version of the plan in force in ``month``."""
    candidates = [p for p in plans if p.plan_id == plan_id and p.effective_from <= month]
    return max(candidates, key=lambda p: (p.effective_from, p.version), default=None)


def tiered_amount(plan: CommissionPlan, amount: Decimal) -> Decimal:
    """Commission before the gate, unrounded."""
    if amount <= 0:
        return Decimal(0)
    if plan.mode == "whole":
        rate = next(t.rate for t in reversed(plan.tiers) if amount >= t.threshold)
        return amount * rate
    total = Decimal(0)
    for tier, upper in zip(plan.tiers, [*(t.threshold for t in plan.tiers[1:]), None], strict=True):
        if amount <= tier.threshold:
            break
        top = amount if upper is None else min(amount, upper)
        total += (top - tier.threshold) * tier.rate
    return total


@dataclass(frozen=True, slots=True)
class Statement:
    consultant_id: str
    month: str
    plan_id: str
    plan_version: int
    mode: str
    basis: str
    amount: Decimal
    target: Decimal | None
    attainment: Decimal | None
    gate: Decimal
    gate_passed: bool
    commission_minor: int


def statement(plan: CommissionPlan, *, consultant_id: str, month: str, amount: Decimal,
              target: Decimal | None) -> Statement:
    attainment = None if not target else amount / target
    passed = plan.min_attainment <= 0 or (attainment is not None and attainment >= plan.min_attainment)
    raw = tiered_amount(plan, amount) if passed else Decimal(0)
    return Statement(
        consultant_id=consultant_id, month=month, plan_id=plan.plan_id, plan_version=plan.version, mode=plan.mode,
        basis=plan.basis, amount=amount, target=target,
        attainment=None if attainment is None else attainment.quantize(Decimal("0.0001"), ROUND_HALF_UP),
        gate=plan.min_attainment, gate_passed=passed,
        commission_minor=int(raw.quantize(Decimal(1), ROUND_HALF_UP)),
    )
