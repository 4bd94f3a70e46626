"""The delivery checklist (交车检查表): what must be done before a vehicle is handed over. Which items a
department requires is configuration (``config/delivery_checklists/``), not code; each item is completed by an
event on the order (who, when, with what reference)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    item_id: str  # e.g. invoice; what DeliveryChecklistItemCompleted.item names
    label: str  # for people: 购车发票


@dataclass(frozen=True, slots=True)
class DeliveryChecklist:
    """A department's checklist: the items in the order they are shown."""

    items: tuple[ChecklistItem, ...]

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.item_id for item in self.items)

    def open_items(self, completed: set[str] | frozenset[str]) -> list[str]:
        return [item_id for item_id in self.item_ids if item_id not in completed]
