"""Commission plans from config/commission_plans.json (data, versioned)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson

from services.reporting.domain.commission import CommissionPlan, Tier

PLANS_FILE = Path(__file__).resolve().parent.parent / "config" / "commission_plans.json"


def load_plans(path: Path = PLANS_FILE) -> tuple[list[CommissionPlan], str]:
    doc = orjson.loads(path.read_bytes())
    plans = [CommissionPlan(
        plan_id=p["plan_id"], version=int(p["version"]), effective_from=p["effective_from"], basis=p["basis"],
        mode=p["mode"], min_attainment=Decimal(str(p.get("min_attainment", "0"))),
        tiers=tuple(Tier(Decimal(str(t["threshold"])), Decimal(str(t["rate"]))) for t in p["tiers"]),
    ) for p in doc["plans"]]
    return plans, str(doc.get("default_plan", plans[0].plan_id if plans else ""))
