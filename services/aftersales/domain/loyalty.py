"""A customer's loyalty account: points awarded (delivery, referral) and redeemed. The balance can never go
negative, and every change is an event (the history). Awards carry a reference (``delivery:<order>``,
``referral:<id>``) so the same reason never pays twice."""

from __future__ import annotations

from datetime import datetime

from services.aftersales.domain.errors import DuplicateReferenceError, InsufficientPointsError, InvalidPointsError
from services.aftersales.domain.events import PointsAwarded, PointsRedeemed
from services.aftersales.domain.policy import require_text
from shared.domain import Aggregate, DomainEvent

MAX_POINTS_PER_CHANGE = 10_000_000


class LoyaltyAccount(Aggregate):
    """Identified by the customer id; a new stream means a zero balance."""

    stream_type = "loyalty_account"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.balance = 0
        self.references: set[str] = set()
        self.redemptions: dict[str, int] = {}  # reference → points, to recognise a retried redemption

    @staticmethod
    def _check_points(points: int) -> None:
        if not 0 < points <= MAX_POINTS_PER_CHANGE:
            raise InvalidPointsError(f"points must be between 1 and {MAX_POINTS_PER_CHANGE}", points=points)

    def award(self, points: int, *, reason: str, reference: str, at: datetime) -> bool:
        """Add points; False (nothing recorded) if this reference was already awarded or points is 0."""
        if reference in self.references or points == 0:
            return False
        self._check_points(points)
        self._record(PointsAwarded(customer_id=self.id, points=points, reason=reason, reference=reference,
                                   balance_after=self.balance + points, awarded_at=at))
        return True

    def redeem(self, points: int, *, reason: str, reference: str, at: datetime) -> bool:
        """Spend points. More than the balance is refused (InsufficientPointsError) and nothing is recorded.
        The same redemption again (same reference and points: a client's retry) records nothing and answers
        False; a reference already used for something else is refused."""
        self._check_points(points)
        clean_reason = require_text("reason", reason, max_length=200)
        if self.redemptions.get(reference) == points:
            return False
        if reference in self.references:
            raise DuplicateReferenceError(f"reference {reference!r} was already used", reference=reference)
        if points > self.balance:
            raise InsufficientPointsError(f"cannot redeem {points} points, the balance is {self.balance}",
                                          points=points, balance=self.balance)
        self._record(PointsRedeemed(customer_id=self.id, points=points, reason=clean_reason, reference=reference,
                                    balance_after=self.balance - points, redeemed_at=at))
        return True

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case PointsAwarded():
                self.balance += event.points
                self.references.add(event.reference)
            case PointsRedeemed():
                self.balance -= event.points
                self.references.add(event.reference)
                self.redemptions[event.reference] = event.points
            case _:
                raise TypeError(f"LoyaltyAccount cannot apply {type(event).__name__}")
