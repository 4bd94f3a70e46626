"""The customer information card (客户信息卡): structured fields about the customer (not the lead), editable with
history — every accepted change is one event naming each changed field's old and new value.

The fields are configuration (``config/customer_card.json``), handed in as :class:`CardField` specs, so a field or a
needs-analysis question is added without code. An update is validated as a whole and refused with *every* bad
field named (:class:`CardFieldsError`, HTTP 422), so nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.leads.domain.customer_events import (
    CustomerCardUpdated,
    CustomerMerged,
    CustomerMergedInto,
    CustomerPhoneChanged,
)
from shared.domain import Aggregate, DomainError, DomainEvent

FIELD_TYPES = frozenset({"choice", "text", "integer", "boolean", "list", "answers"})


class CardFieldsError(DomainError):
    """One or more card fields are invalid: ``fields`` lists each with its reason (the shared 422 format)."""

    code = "validation_error"
    http_status = 422

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in problems),
                         fields=[{"field": name, "reason": reason} for name, reason in problems])
        self.problems = list(problems)


class CustomerMergeError(DomainError):
    """A merge that cannot be: a customer into itself."""

    code = "merge_into_itself"
    http_status = 409


class CustomerAlreadyMergedError(DomainError):
    """One of the two customers was merged into another before (merge into its survivor instead)."""

    code = "customer_already_merged"
    http_status = 409


@dataclass(frozen=True, slots=True)
class CardField:
    name: str
    type: str
    choices: tuple[str, ...] = ()
    max_length: int = 200
    minimum: int | None = None
    maximum: int | None = None
    max_items: int = 10
    questions: tuple[str, ...] = ()

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The value as stored (texts stripped, an empty text or list is a cleared field), or a reason."""
        if value is None:
            return None, None
        match self.type:
            case "choice":
                if value not in self.choices:
                    return None, f"must be one of {', '.join(self.choices)}"
                return value, None
            case "text":
                return _text(value, self.max_length)
            case "integer":
                if isinstance(value, bool) or not isinstance(value, int):
                    return None, "must be a whole number"
                if (self.minimum is not None and value < self.minimum) or (
                        self.maximum is not None and value > self.maximum):
                    return None, f"must be between {self.minimum} and {self.maximum}"
                return value, None
            case "boolean":
                return (value, None) if isinstance(value, bool) else (None, "must be true or false")
            case "list":
                return self._list(value)
            case "answers":
                return self._answers(value)
        return None, f"unknown field type {self.type}"

    def _list(self, value: Any) -> tuple[Any, str | None]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, "must be a list of texts"
        items = [v.strip() for v in value if v.strip()]
        if len(items) > self.max_items:
            return None, f"at most {self.max_items} entries"
        if any(len(v) > self.max_length for v in items):
            return None, f"each entry at most {self.max_length} characters"
        return (items or None), None

    def _answers(self, value: Any) -> tuple[Any, str | None]:
        if not isinstance(value, dict):
            return None, "must map question codes to answers"
        unknown = sorted(set(value) - set(self.questions))
        if unknown:
            return None, f"unknown question {', '.join(unknown)}; known: {', '.join(self.questions)}"
        answers: dict[str, str] = {}
        for code, answer in value.items():
            clean, problem = _text(answer, self.max_length)
            if problem:
                return None, f"{code}: {problem}"
            if clean is not None:
                answers[code] = clean
        return (answers or None), None


def _text(value: Any, limit: int) -> tuple[str | None, str | None]:
    if not isinstance(value, str):
        return None, "must be a text"
    clean = value.strip()
    if len(clean) > limit:
        return None, f"must be at most {limit} characters"
    return (clean or None), None


@dataclass(frozen=True, slots=True)
class CardSchema:
    fields: Mapping[str, CardField] = field(default_factory=dict)

    def validate(self, changes: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
        """The changes as stored; CardFieldsError naming every bad field (unknown ones too)."""
        problems: list[tuple[str, str]] = []
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            spec = self.fields.get(name)
            if spec is None:
                problems.append((name, "unknown card field"))
                continue
            stored, problem = spec.check(value)
            if problem:
                problems.append((name, problem))
            else:
                clean[name] = stored
        after = {**current, **clean}
        low, high = after.get("budget_min_cny"), after.get("budget_max_cny")
        if not problems and isinstance(low, int) and isinstance(high, int) and low > high:
            problems.append(("budget_min_cny", "must not be above budget_max_cny"))
        if problems:
            raise CardFieldsError(problems)
        return clean


class CustomerCard(Aggregate):
    stream_type = "customer"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.values: dict[str, Any] = {}
        self.phone: str | None = None  # known once changed through the card (the leads carry the captured one)
        self.merged_into: str | None = None  # the survivor, once this customer was merged into another
        self.merged_customers: list[str] = []

    def update(self, *, changes: Mapping[str, Any], schema: CardSchema, by: str | None, now: datetime) -> bool:
        """Apply the changes that differ from the card; False (no event) when nothing differs."""
        clean = schema.validate(changes, self.values)
        changed = {name: {"from": self.values.get(name), "to": value} for name, value in clean.items()
                   if self.values.get(name) != value}
        if not changed:
            return False
        self._record(CustomerCardUpdated(customer_id=self.id, changes=changed, updated_by=by, updated_at=now))
        return True

    def change_phone(self, *, phone: str, previous_phone: str, by: str | None, now: datetime) -> None:
        self._record(CustomerPhoneChanged(customer_id=self.id, phone=phone, previous_phone=previous_phone,
                                          changed_by=by, changed_at=now))

    def absorb(self, merged: CustomerCard, *, lead_ids: list[str], phones: list[str], by: str | None,
               now: datetime) -> None:
        """Merge ``merged`` into this card: it is closed (CustomerMergedInto), this card records CustomerMerged, and
        the merged card's fields this one has no value for are taken over (one CustomerCardUpdated; this card's own
        values win). The caller moves the leads and holds the phones' capture locks."""
        if merged.id == self.id:
            raise CustomerMergeError("a customer cannot be merged into itself", customer_id=self.id)
        for card in (self, merged):
            if card.merged_into is not None:
                raise CustomerAlreadyMergedError(f"customer {card.id} was already merged into {card.merged_into}",
                                                 customer_id=card.id, survivor_id=card.merged_into)
        taken = {name: {"from": None, "to": value} for name, value in merged.values.items()
                 if self.values.get(name) is None}
        self._record(CustomerMerged(customer_id=self.id, merged_customer_id=merged.id, lead_ids=lead_ids,
                                    phones=phones, merged_by=by, merged_at=now))
        if taken:
            self._record(CustomerCardUpdated(customer_id=self.id, changes=taken, updated_by=by, updated_at=now))
        merged.close_as_merged(survivor_id=self.id, by=by, now=now)

    def close_as_merged(self, *, survivor_id: str, by: str | None, now: datetime) -> None:
        """The merged side of :meth:`absorb` (which checks the merge)."""
        self._record(CustomerMergedInto(customer_id=self.id, survivor_id=survivor_id, merged_by=by, merged_at=now))

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case CustomerMerged():
                self.merged_customers.append(event.merged_customer_id)
            case CustomerMergedInto():
                self.merged_into = event.survivor_id
            case CustomerCardUpdated():
                for name, change in event.changes.items():
                    if change["to"] is None:
                        self.values.pop(name, None)
                    else:
                        self.values[name] = change["to"]
            case CustomerPhoneChanged():
                self.phone = event.phone
            case _:
                raise TypeError(f"CustomerCard cannot apply {type(event).__name__}")
