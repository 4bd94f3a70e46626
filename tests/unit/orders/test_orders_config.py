"""The business configuration is data: the shipped files load, and nonsense in them stops the service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.orders.app.config import CONFIG_DIR, load_config


def write(tmp_path: Path, limits: dict[str, int], refund: int = 100) -> Path:
    (tmp_path / "discounts.json").write_text(json.dumps({"limits_bp": limits}))
    (tmp_path / "orders.json").write_text(json.dumps({"currencies": ["CNY"],
                                                      "cancellation": {"refund_percent_of_paid": refund}}))
    return tmp_path


def test_the_shipped_configuration_loads_with_limits_rising_by_seniority() -> None:
    config = load_config(CONFIG_DIR)
    limits = config.discount_limits_bp
    assert limits["consultant"] < limits["senior_consultant"] < limits["sales_manager"] < limits["general_manager"]
    assert "CNY" in config.currencies
    assert config.refund_percent_of_paid == 100


@pytest.mark.parametrize(("limits", "refund"), [({"consultant": -1}, 100), ({"consultant": 10_001}, 100),
                                                ({"consultant": 300}, 101)])
def test_out_of_range_limits_or_refund_shares_are_refused(tmp_path: Path, limits: dict[str, int],
                                                          refund: int) -> None:
    with pytest.raises(ValueError, match="between"):
        load_config(write(tmp_path, limits, refund))


def test_the_refund_share_can_be_overridden_by_the_environment_setting(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, {"consultant": 300}), refund_percent_override=80).refund_percent_of_paid == 80
