"""Campaigns and their spend (推广活动 and 推广预算): created and edited by a manager or a director, spend recorded
entry by entry. Each campaign is an aggregate (stream ``campaign-<id>``); ``leads_campaigns`` (written after the
append in the same transaction) answers the capture's question "which campaign is this id / this utm_campaign",
and its unique ``code`` keeps two campaigns from sharing a code even when created at the same moment (the loser's
unit of work is retried and then answers 409 ``campaign_code_taken``).

A capture links a lead to a campaign by ``campaign_id`` (unknown: 422 naming ``campaign_id``), or, without one,
by a ``utm_campaign`` equal to a campaign's code (:func:`resolve_attribution`); the lead's ``LeadCreated`` carries
both, so reporting can divide the campaign's spend by what it brought.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from services.leads.app import access
from services.leads.app.ports import Clock, CommandContext, IdFactory, UnitOfWork, UnitOfWorkFactory
from services.leads.domain import errors
from services.leads.domain.campaign import (
    MAX_UTM_LENGTH,
    NO_ATTRIBUTION,
    UTM_FIELDS,
    Attribution,
    Campaign,
    utm_fields,
)
from services.leads.domain.campaign_events import CampaignSpendRecorded
from shared.commands import ExpectedVersion
from shared.domain import InvalidFieldError
from shared.unit_of_work.retry import CommandRunner

Money = Annotated[int, Field(description="minor units (fen for CNY)", examples=[5_000_000])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217", examples=["CNY"])]
UtmValue = Annotated[str | None, Field(max_length=MAX_UTM_LENGTH)]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributionFields:
    """The campaign and UTM fields of every command that can bring a lead (a capture, a walk-in at reception):
    declared once, so their HTTP constraints and descriptions are the same everywhere. Keyword-only, so a command
    can inherit them ahead of its own required fields."""

    campaign_id: Annotated[str | None, Field(max_length=100, description="the campaign the lead came from (GET "
                                                                         "/v1/campaigns); unknown: 422")] = None
    utm_source: UtmValue = None
    utm_medium: UtmValue = None
    utm_campaign: Annotated[str | None, Field(max_length=MAX_UTM_LENGTH, description=(
        "UTM parameters of the link the prospect followed; a utm_campaign equal to a campaign's code links the "
        "campaign when no campaign_id is given"))] = None
    utm_content: UtmValue = None
    utm_term: UtmValue = None


@dataclass(frozen=True, slots=True)
class CreateCampaign:
    """A campaign: a roadshow, an exhibition, an ad-platform package, ..."""

    code: Annotated[str, Field(min_length=1, max_length=80, description="unique; a lead whose utm_campaign is this "
                                                                        "code is linked to the campaign",
                               examples=["spring-roadshow-2026"])]
    name: Annotated[str, Field(min_length=1, max_length=200, examples=["春季巡展 2026"])]
    kind: Annotated[str, Field(min_length=1, max_length=40, description="GET /v1/campaign-kinds",
                               examples=["roadshow"])]
    channel: Annotated[str, Field(min_length=1, max_length=40, description="GET /v1/channels",
                                  examples=["roadshow"])]
    starts_on: date
    ends_on: date
    budget_minor: Money
    currency: Currency = "CNY"


@dataclass(frozen=True, slots=True)
class UpdateCampaign:
    """Change a campaign's fields (those given; the code and currency stay)."""

    campaign_id: str
    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    kind: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    channel: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    starts_on: date | None = None
    ends_on: date | None = None
    budget_minor: Annotated[int | None, Field(description="minor units")] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class RecordCampaignSpend:
    """Money spent on the campaign (an invoice, a day's ad spend); negative to correct earlier entries."""

    campaign_id: str
    amount_minor: Money
    spent_at: Annotated[datetime | None, Field(description="when it was spent (default now; not in the future); "
                                                           "reports count it on that day")] = None
    note: Annotated[str | None, Field(max_length=500)] = None
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class SpendEntry:
    campaign: Campaign
    entry: CampaignSpendRecorded


class CampaignHandlers:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory,
                 kinds: Collection[str], channels: Collection[str]) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._new_id = new_id
        self._kinds = kinds
        self._channels = channels

    async def create(self, command: CreateCampaign, context: CommandContext) -> Campaign:
        if context.caller is not None:
            access.require_campaigns(context.caller)

        async def decide(uow: UnitOfWork, now: datetime) -> Campaign:
            taken = await uow.campaign_with_code(command.code.strip())
            if taken is not None:
                raise errors.CampaignCodeTakenError(f"campaign {taken} has the code {command.code!r}",
                                                    campaign_id=taken, campaign_code=command.code)
            campaign = Campaign.create(
                campaign_id=self._new_id(), code=command.code, name=command.name, kind=command.kind,
                channel=command.channel, starts_on=command.starts_on, ends_on=command.ends_on,
                budget_minor=command.budget_minor, currency=command.currency, known_kinds=self._kinds,
                known_channels=self._channels, by=context.actor, now=now)
            uow.add(campaign)
            return campaign
        return await self._commands.run(decide, context)

    async def update(self, command: UpdateCampaign, context: CommandContext) -> Campaign:
        if context.caller is not None:
            access.require_campaigns(context.caller)

        async def decide(uow: UnitOfWork, now: datetime) -> Campaign:
            campaign = await self._campaign(uow, command.campaign_id, command.expected_version)
            campaign.update(changes={"name": command.name, "kind": command.kind, "channel": command.channel,
                                     "starts_on": command.starts_on, "ends_on": command.ends_on,
                                     "budget_minor": command.budget_minor},
                            known_kinds=self._kinds, known_channels=self._channels, by=context.actor, now=now)
            return campaign
        return await self._commands.run(decide, context, expected_version=command.expected_version)

    async def record_spend(self, command: RecordCampaignSpend, context: CommandContext) -> SpendEntry:
        if context.caller is not None:
            access.require_campaigns(context.caller)

        async def decide(uow: UnitOfWork, now: datetime) -> SpendEntry:
            campaign = await self._campaign(uow, command.campaign_id, command.expected_version)
            entry = campaign.record_spend(entry_id=self._new_id(), amount_minor=command.amount_minor,
                                          spent_at=command.spent_at or now, note=command.note, by=context.actor,
                                          now=now)
            return SpendEntry(campaign, entry)
        return await self._commands.run(decide, context, expected_version=command.expected_version)

    @staticmethod
    async def _campaign(uow: UnitOfWork, campaign_id: str, expected_version: int | None) -> Campaign:
        return await uow.get(Campaign, campaign_id, expected_version=expected_version, missing=lambda: (
            errors.CampaignNotFoundError(f"no campaign {campaign_id}", campaign_id=campaign_id)))


async def resolve_attribution(uow: UnitOfWork, requested: AttributionFields) -> Attribution:
    """A command's campaign and UTM parameters, checked: ``campaign_id`` must name a campaign (422 naming the field
    otherwise); without it, a ``utm_campaign`` equal to a campaign's code links that campaign (an unknown one is
    kept as sent: UTM values are the ad platform's, not ours). No query when the command names neither."""
    clean = utm_fields({f: getattr(requested, f) for f in UTM_FIELDS})
    linked = requested.campaign_id.strip() if requested.campaign_id else None
    if linked:
        if not await uow.campaign_exists(linked):
            raise InvalidFieldError("campaign_id", f"unknown campaign {linked!r}")
    elif clean["utm_campaign"]:
        linked = await uow.campaign_with_code(clean["utm_campaign"])
    elif not any(clean.values()):
        return NO_ATTRIBUTION
    return Attribution(campaign_id=linked or None, **clean)
