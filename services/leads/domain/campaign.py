"""Campaigns and their cost (推广预算, 成本效益评估): a roadshow, an exhibition, an ad-platform package — with a
channel, a period, a budget and the spend actually recorded, entry by entry. Reporting divides the spend by the
leads, visits and contracts the campaign brought (services/reporting/README.md, "Campaigns and channel cost").

A lead carries the campaign it came from and its UTM parameters (:class:`Attribution`); a ``utm_campaign`` equal
to a campaign's ``code`` links the lead to it, so ad links need no salesflow ids.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.leads.domain.campaign_events import CampaignCreated, CampaignSpendRecorded, CampaignUpdated
from services.leads.domain.values import text_field
from shared.domain import Aggregate, DomainEvent, InvalidFieldError

MAX_UTM_LENGTH = 200
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")
EDITABLE = ("name", "kind", "channel", "starts_on", "ends_on", "budget_minor")


@dataclass(frozen=True, slots=True)
class Attribution:
    """Where a lead came from beyond its channel: the campaign (validated against the known campaigns) and the
    UTM parameters of the link the prospect followed, as sent (trimmed)."""

    campaign_id: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None

    def as_fields(self) -> dict[str, str | None]:
        return {"campaign_id": self.campaign_id, **{f: getattr(self, f) for f in UTM_FIELDS}}


NO_ATTRIBUTION = Attribution()


def utm_fields(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """The UTM parameters, trimmed and length-checked (InvalidFieldError naming the first bad one)."""
    return {f: text_field(f, values.get(f), MAX_UTM_LENGTH) for f in UTM_FIELDS}


def _required(field: str, value: str, limit: int) -> str:
    clean = text_field(field, value, limit)
    if not clean:
        raise InvalidFieldError(field, "must not be empty")
    return clean


def _check_period(starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise InvalidFieldError("ends_on", "the campaign ends before it starts")


def _check_budget(budget_minor: int) -> int:
    if budget_minor < 0:
        raise InvalidFieldError("budget_minor", "must not be negative")
    return budget_minor


def _check_choice(field: str, value: str, known: Collection[str], what: str) -> str:
    if value not in known:
        raise InvalidFieldError(field, f"unknown {what} {value!r}; known: {', '.join(sorted(known))}")
    return value


class Campaign(Aggregate):
    stream_type = "campaign"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.code = ""
        self.name = ""
        self.kind = ""
        self.channel = ""
        self.starts_on = date.min
        self.ends_on = date.min
        self.budget_minor = 0
        self.currency = "CNY"
        self.spent_minor = 0
        self.spend_entries: list[CampaignSpendRecorded] = []
        self.created_at: datetime | None = None

    @classmethod
    def create(cls, *, campaign_id: str, code: str, name: str, kind: str, channel: str, starts_on: date,
               ends_on: date, budget_minor: int, currency: str, known_kinds: Collection[str],
               known_channels: Collection[str], by: str | None, now: datetime) -> Campaign:
        clean_code = code.strip()
        if not CODE_PATTERN.match(clean_code):
            raise InvalidFieldError("code", "1–80 letters, digits, '_', '.' or '-', starting with a letter or digit "
                                            "(it is matched against utm_campaign)")
        _check_period(starts_on, ends_on)
        campaign = cls(campaign_id)
        campaign._record(CampaignCreated(
            campaign_id=campaign_id, code=clean_code, name=_required("name", name, 200),
            kind=_check_choice("kind", kind, known_kinds, "campaign kind"),
            channel=_check_choice("channel", channel, known_channels, "channel"), starts_on=starts_on,
            ends_on=ends_on, budget_minor=_check_budget(budget_minor), currency=currency, created_by=by,
            created_at=now))
        return campaign

    def update(self, *, changes: Mapping[str, Any], known_kinds: Collection[str],
               known_channels: Collection[str], by: str | None, now: datetime) -> bool:
        """Apply the given fields (None: unchanged); records only what differs, and nothing when nothing does."""
        new: dict[str, Any] = {f: getattr(self, f) for f in EDITABLE}
        for field, value in changes.items():
            if value is not None:
                new[field] = value
        new["name"] = _required("name", new["name"], 200)
        _check_choice("kind", new["kind"], known_kinds, "campaign kind")
        _check_choice("channel", new["channel"], known_channels, "channel")
        _check_budget(new["budget_minor"])
        _check_period(new["starts_on"], new["ends_on"])
        diff = {f: {"from": _plain(getattr(self, f)), "to": _plain(new[f])} for f in EDITABLE
                if new[f] != getattr(self, f)}
        if not diff:
            return False
        self._record(CampaignUpdated(campaign_id=self.id, changes=diff, updated_by=by, updated_at=now))
        return True

    def record_spend(self, *, entry_id: str, amount_minor: int, spent_at: datetime, note: str | None,
                     by: str | None, now: datetime) -> CampaignSpendRecorded:
        """A spend entry; a negative amount corrects earlier ones but the total never goes below zero."""
        if amount_minor == 0:
            raise InvalidFieldError("amount_minor", "must not be zero (a correction is negative)")
        if spent_at > now:
            raise InvalidFieldError("spent_at", "must not be in the future")
        total = self.spent_minor + amount_minor
        if total < 0:
            raise InvalidFieldError("amount_minor", f"the correction exceeds the spend recorded ({self.spent_minor})")
        entry = CampaignSpendRecorded(
            campaign_id=self.id, entry_id=entry_id, amount_minor=amount_minor, currency=self.currency,
            channel=self.channel, spent_at=spent_at, note=text_field("note", note, 500), total_spent_minor=total,
            recorded_by=by, recorded_at=now)
        self._record(entry)
        return entry

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case CampaignCreated():
                self.code, self.name, self.kind, self.channel = event.code, event.name, event.kind, event.channel
                self.starts_on, self.ends_on = event.starts_on, event.ends_on
                self.budget_minor, self.currency, self.created_at = event.budget_minor, event.currency, \
                    event.created_at
            case CampaignUpdated():
                for field, change in event.changes.items():
                    value = change["to"]
                    setattr(self, field, date.fromisoformat(value) if field in ("starts_on", "ends_on") else value)
            case CampaignSpendRecorded():
                self.spent_minor = event.total_spent_minor
                self.spend_entries.append(event)
            case _:
                raise TypeError(f"Campaign cannot apply {type(event).__name__}")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
