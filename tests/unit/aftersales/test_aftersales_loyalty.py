"""Loyalty points: awards are idempotent by reference, redemptions never take the balance below zero, and the
history (the events) always adds up to the balance."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.aftersales.domain.errors import DuplicateReferenceError, InsufficientPointsError, InvalidPointsError
from services.aftersales.domain.events import PointsAwarded, PointsRedeemed, aftersales_events
from services.aftersales.domain.loyalty import LoyaltyAccount
from services.aftersales.domain.policy import PointsRules

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_an_award_adds_points_and_records_the_balance_after() -> None:
    account = LoyaltyAccount("C-1")
    assert account.award(150, reason="delivery", reference="delivery:O-1", at=AT)
    [event] = account.pending_events
    assert isinstance(event, PointsAwarded)
    assert (event.points, event.balance_after, event.reference) == (150, 150, "delivery:O-1")


def test_the_same_reference_is_awarded_only_once() -> None:
    account = LoyaltyAccount("C-1")
    account.award(100, reason="delivery", reference="delivery:O-1", at=AT)
    assert not account.award(100, reason="delivery", reference="delivery:O-1", at=AT)
    assert account.balance == 100


def test_redeeming_more_than_the_balance_is_refused_and_records_nothing() -> None:
    account = LoyaltyAccount("C-1")
    account.award(100, reason="delivery", reference="d", at=AT)
    with pytest.raises(InsufficientPointsError) as error:
        account.redeem(101, reason="gift", reference="r-1", at=AT)
    assert (error.value.code, error.value.http_status) == ("insufficient_points", 409)
    assert error.value.details == {"points": 101, "balance": 100}
    assert len(account.pending_events) == 1


def test_redeeming_the_whole_balance_leaves_zero() -> None:
    account = LoyaltyAccount("C-1")
    account.award(100, reason="delivery", reference="d", at=AT)
    account.redeem(100, reason="free service", reference="r-1", at=AT)
    redeemed = account.pending_events[-1]
    assert isinstance(redeemed, PointsRedeemed)
    assert (redeemed.balance_after, account.balance) == (0, 0)


@pytest.mark.parametrize("points", [0, -5, 10_000_001])
def test_points_must_be_positive_and_bounded(points: int) -> None:
    account = LoyaltyAccount("C-1")
    with pytest.raises(InvalidPointsError):
        account.redeem(points, reason="x", reference="r", at=AT)


def test_a_retried_redemption_spends_nothing_more_but_a_reused_reference_is_refused() -> None:
    account = LoyaltyAccount("C-1")
    account.award(100, reason="delivery", reference="d", at=AT)
    assert account.redeem(10, reason="gift", reference="r-1", at=AT)
    assert not account.redeem(10, reason="gift", reference="r-1", at=AT)
    assert account.balance == 90
    with pytest.raises(DuplicateReferenceError):
        account.redeem(20, reason="gift", reference="r-1", at=AT)
    with pytest.raises(DuplicateReferenceError):
        account.redeem(10, reason="gift", reference="d", at=AT)


@pytest.mark.parametrize(("total_minor", "points"), [(0, 100), (9_999, 100), (30_000_000, 3_100),
                                                     (10**15, 100_000)])
def test_delivery_points_are_a_base_plus_one_per_amount(total_minor: int, points: int) -> None:
    assert PointsRules(delivery_base=100, minor_per_point=10_000).delivery_points(total_minor) == points


operations = st.lists(
    st.tuples(st.sampled_from(["award", "redeem"]), st.integers(min_value=1, max_value=5_000),
              st.sampled_from([f"ref-{n}" for n in range(12)])),
    max_size=40,
)


@given(operations)
def test_the_balance_never_goes_negative_and_always_equals_the_history(ops: list[tuple[str, int, str]]) -> None:
    account = LoyaltyAccount("C-1")
    expected = 0
    for kind, points, reference in ops:
        before = account.balance
        if kind == "award":
            if account.award(points, reason="delivery", reference=reference, at=AT):
                expected += points
        else:
            try:
                if account.redeem(points, reason="gift", reference=reference, at=AT):
                    expected -= points
            except InsufficientPointsError:
                assert points > before
            except DuplicateReferenceError:
                pass
        assert account.balance >= 0
    assert account.balance == expected
    history = account.pending_events
    assert sum(e.points if isinstance(e, PointsAwarded) else -e.points
               for e in history if isinstance(e, PointsAwarded | PointsRedeemed)) == account.balance
    assert all(e.balance_after >= 0 for e in history if isinstance(e, PointsAwarded | PointsRedeemed))
    rebuilt = LoyaltyAccount.rehydrate(
        "C-1", [aftersales_events.decode(e.event_type, e.model_dump(mode="json")) for e in history])
    assert rebuilt.balance == account.balance
