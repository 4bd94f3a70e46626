"""Loading the business configuration (``config/*.json``): data, not code."""

from __future__ import annotations

import json
from pathlib import Path

from services.orders.app.ports import OrdersConfig
from services.orders.domain.checklist import ChecklistItem, DeliveryChecklist

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


def load_config(directory: Path = CONFIG_DIR, *, refund_percent_override: int | None = None) -> OrdersConfig:
    discounts = json.loads((directory / "discounts.json").read_text())
    orders = json.loads((directory / "orders.json").read_text())
    limits = {str(role): int(bp) for role, bp in discounts["limits_bp"].items()}
    if any(not 0 <= bp <= 10_000 for bp in limits.values()):
        raise ValueError("discount limits are basis points between 0 and 10000")
    refund = orders["cancellation"]["refund_percent_of_paid"]
    if refund_percent_override is not None:
        refund = refund_percent_override
    if not 0 <= int(refund) <= 100:
        raise ValueError("refund_percent_of_paid is a percentage between 0 and 100")
    return OrdersConfig(discount_limits_bp=limits, currencies=frozenset(orders["currencies"]),
                        refund_percent_of_paid=int(refund),
                        delivery_checklists=load_delivery_checklists(directory / "delivery_checklists"))


def load_delivery_checklists(directory: Path) -> dict[str, DeliveryChecklist]:
    """One checklist per file: ``<team id>.json`` for a department, ``default.json`` for the others."""
    checklists = {}
    for path in sorted(directory.glob("*.json")):
        items = [ChecklistItem(str(item["id"]), str(item["label"])) for item in json.loads(path.read_text())["items"]]
        ids = [item.item_id for item in items]
        if len(set(ids)) != len(ids) or not all(i.strip() for i in ids):
            raise ValueError(f"{path}: checklist item ids must be unique and not empty")
        checklists[path.stem] = DeliveryChecklist(tuple(items))
    return checklists
