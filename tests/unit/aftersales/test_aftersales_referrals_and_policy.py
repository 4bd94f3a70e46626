"""Referrals are validated, linked to one lead and rewarded once; the configuration file is data that builds a
valid policy (and bad data is refused at start-up)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.aftersales.domain.errors import ReferralConflictError
from services.aftersales.domain.events import ReferralRewarded
from services.aftersales.domain.policy import ScoreScale, policy_from_dict
from services.aftersales.domain.referral import Referral
from shared.domain import InvalidFieldError

AT = datetime(2026, 3, 1, tzinfo=UTC)
CONFIG = Path(__file__).resolve().parents[3] / "services" / "aftersales" / "config" / "aftersales.json"


def registered(**overrides: Any) -> Referral:
    args: dict[str, Any] = {"referral_id": "R-1", "referrer_customer_id": "C-1", "referrer_order_id": None,
                            "prospect_name": " 李四 ", "prospect_phone": "138 0000 1111", "interest": "Model Y",
                            "registered_by": "U-1", "registered_at": AT}
    args.update(overrides)
    return Referral.register(**args)


def test_a_referral_is_registered_with_trimmed_fields() -> None:
    referral = registered()
    assert (referral.prospect_name, referral.referrer_customer_id, referral.interest) == ("李四", "C-1", "Model Y")


@pytest.mark.parametrize(("field", "value"), [("prospect_name", " "), ("prospect_phone", "abc"),
                                              ("referrer_customer_id", "")])
def test_bad_referral_fields_are_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(InvalidFieldError) as error:
        registered(**{field: value})
    assert error.value.field == field


def test_registering_the_same_id_again_must_be_the_same_referral() -> None:
    referral = registered()
    referral.same_request(referrer_customer_id="C-1", prospect_phone="138 0000 1111")
    with pytest.raises(ReferralConflictError):
        referral.same_request(referrer_customer_id="C-2", prospect_phone="138 0000 1111")


def test_a_referral_links_one_lead_and_is_rewarded_once() -> None:
    referral = registered()
    assert referral.link_lead("L-9", at=AT)
    assert not referral.link_lead("L-10", at=AT)
    assert referral.reward(order_id="O-9", lead_id="L-9", points=500, at=AT)
    assert not referral.reward(order_id="O-10", lead_id="L-9", points=500, at=AT)
    rewarded = referral.pending_events[-1]
    assert isinstance(rewarded, ReferralRewarded)
    assert (rewarded.referrer_customer_id, rewarded.points, referral.lead_id) == ("C-1", 500, "L-9")


def test_the_shipped_configuration_is_the_documented_default() -> None:
    policy = policy_from_dict(json.loads(CONFIG.read_text()))
    assert [(v.label, v.offset_days, v.assignee_role) for v in policy.care.visits] == [
        ("D+1", 1, "consultant"), ("D+3", 3, "consultant"), ("D+7", 7, "manager"), ("D+30", 30, "consultant")]
    assert (policy.sla.acknowledge, policy.sla.resolve) == (timedelta(hours=24), timedelta(hours=48))
    assert (policy.scale.minimum, policy.scale.maximum) == (1, 5)
    assert policy.categories == ("purchase", "delivery", "product", "service", "other")


def test_a_zero_to_ten_scale_can_be_configured() -> None:
    data = json.loads(CONFIG.read_text())
    data["score_scale"] = {"min": 0, "max": 10, "low_threshold": 6}
    scale = policy_from_dict(data).scale
    assert (scale.is_low(6), scale.is_low(7), scale.normalised(10), scale.normalised(5)) == (True, False, 100, 50)


@pytest.mark.parametrize("mutate", [
    lambda d: d["care_template"].update(visits=[]),
    lambda d: d["care_template"].update(visits=[{"label": "x", "offset_days": 1}, {"label": "x", "offset_days": 2}]),
    lambda d: d.update(score_scale={"min": 5, "max": 1, "low_threshold": 2}),
    lambda d: d.update(score_scale={"min": 1, "max": 5, "low_threshold": 5}),
])
def test_bad_configuration_is_refused(mutate: Any) -> None:
    data = json.loads(CONFIG.read_text())
    mutate(data)
    with pytest.raises(ValueError):  # noqa: PT011 - any ValueError names the problem
        policy_from_dict(data)


def test_a_score_scale_rejects_a_threshold_outside_it() -> None:
    with pytest.raises(ValueError, match="score scale"):
        ScoreScale(0, 10, 11)
