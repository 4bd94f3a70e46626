"""Capturing leads: idempotency on (source system, external id), dedupe on the normalised phone, round-robin
assignment. Also used by the reactions to orders' checkouts and after-sales' referrals."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from services.leads.app import access
from services.leads.app.assignment import pick
from services.leads.app.campaigns import AttributionFields, resolve_attribution
from services.leads.app.ports import Clock, CommandContext, IdFactory, UnitOfWork, UnitOfWorkFactory
from services.leads.domain.campaign import NO_ATTRIBUTION, Attribution
from services.leads.domain.lead import CaptureFields, Lead, Stage, capture_fields
from services.leads.domain.policy import LeadPolicy
from shared.domain import InvalidFieldError
from shared.unit_of_work.retry import CommandRunner

Outcome = Literal["created", "duplicate_request", "duplicate_contact"]


@dataclass(frozen=True, slots=True)
class CaptureLead(AttributionFields):
    """A lead from any channel."""

    # The HTTP body is this command minus CAPTURE_INTERNAL (shared/runtime/command_body.py).
    name: Annotated[str, Field(min_length=1, max_length=100, description="the prospect's name",
                               examples=["张三"])]
    phone: Annotated[str, Field(min_length=1, max_length=40, description="any common format; stored as E.164",
                                examples=["138 1234 5678"])]
    channel: Annotated[str, Field(min_length=1, max_length=40, description="channel code, see GET /v1/channels",
                                  examples=["online_shop"])]
    interest: Annotated[str | None, Field(max_length=200, description="model or product of interest")] = None
    team_id: Annotated[str | None, Field(max_length=100,
                                         description="team to assign in (default: configured)")] = None
    source_system: Annotated[str | None, Field(
        max_length=100, description="sending system; with external_id the idempotency key")] = None
    external_id: Annotated[str | None, Field(max_length=200, description="the inquiry's id in that system")] = None
    referral_id: str | None = None
    referrer_customer_id: str | None = None
    order_id: str | None = None
    stage: Stage = Stage.NEW
    # Set by an outreach batch (app/outreach.py), which deals its own round robin over consultants it checked.
    owner_id: str | None = None


CAPTURE_INTERNAL = ("referral_id", "referrer_customer_id", "order_id", "stage", "owner_id")
"""The capture's fields only the service's reactions set."""


@dataclass(frozen=True, slots=True)
class LeadCaptured:
    """What capturing answered: the lead (new, or the existing one for a duplicate) and what happened."""

    lead: Lead
    version: int
    outcome: Outcome = "created"
    reactivated: bool = False
    """A created lead of a known customer whose leads were all closed (the bulk import reports it)."""


class CaptureLeadHandler:
    def __init__(
        self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory, channels: Collection[str],
        policy: LeadPolicy, default_team_id: str | None = None,
    ) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._new_id = new_id
        self._channels = channels
        self._policy = policy
        self._default_team_id = default_team_id

    @property
    def channels(self) -> Collection[str]:
        return self._channels

    async def __call__(self, command: CaptureLead, context: CommandContext, *, conn: Any = None) -> LeadCaptured:
        if context.caller is not None:
            access.require_capture(context.caller)
        # Refuse bad fields before any lock or round-robin ticket is taken: a refused capture costs nobody a turn.
        fields = self.validate(command)

        async def decide(uow: UnitOfWork, now: datetime) -> LeadCaptured:
            # The campaign is checked before the phone lock or a ticket, like the other fields.
            attribution = await resolve_attribution(uow, command)
            return await self.decide(uow, command, fields, now, attribution=attribution)

        # No client-pinned version here: a concurrent append to the matched lead just means "decide again".
        # Inside the consumer's transaction (``conn``) its savepoints and retries take over.
        return await self._commands.run(decide, context, conn=conn)

    def validate(self, command: CaptureLead) -> CaptureFields:
        """The capture's fields, valid and normalised (InvalidFieldError naming the first bad one)."""
        if (command.source_system is None) != (command.external_id is None):
            raise InvalidFieldError("external_id", "source_system and external_id come together")
        return capture_fields(name=command.name, phone=command.phone, channel=command.channel,
                              interest=command.interest, known_channels=self._channels)

    async def decide(self, uow: UnitOfWork, command: CaptureLead, fields: CaptureFields, now: datetime, *,
                     attribution: Attribution = NO_ATTRIBUTION) -> LeadCaptured:
        """The capture's one rule set, for HTTP, a referral and a shop checkout (a walk-in and a call validate and
        create through this handler too): the same inquiry (or referral) answers with its lead; a phone with an
        open lead adds to that lead (a checkout signs it, unless it is already past signing); otherwise a new lead,
        assigned round robin."""
        # Everyone capturing this phone waits here, so two channels racing cannot both create a lead.
        # Not with a referral, which may still find its lead below without a ticket.
        found = await uow.lock_phone(fields.phone, source_system=command.source_system,
                                     external_id=command.external_id,
                                     rotation_team=self.rotation_team(command) if command.referral_id is None else None)
        if found.external_id_lead is not None:
            return await self._existing(uow, found.external_id_lead, "duplicate_request")
        if command.referral_id is not None and (referred := await uow.lead_for_referral(command.referral_id)):
            return await self._existing(uow, referred, "duplicate_request")  # one lead (or touchpoint) a referral
        if found.open_lead is not None:
            lead = await uow.load(Lead, found.open_lead)
            assert lead is not None, "the lead index points at a missing stream"
            if command.order_id is None:
                return self._record_duplicate(uow, lead, command, now)
            if lead.stage.rank < Stage.CONTRACT_SIGNED.rank:
                return self._sign_for_checkout(uow, lead, command.order_id, now)
            # The open lead signed another order already: this checkout is a new lead of the same customer.
        lead = await self.create(uow, command, fields, now, known_customer=found.known_customer,
                                 attribution=attribution)
        return LeadCaptured(lead, lead.version, reactivated=found.known_customer is not None)

    def rotation_team(self, command: CaptureLead) -> str | None:
        """The team whose rotation ticket ``create`` takes for this command's new lead (None: it takes none). A
        caller passes it to ``lock_phone`` when the phone finding no lead means a new lead: the unit of work may then
        take the ticket with the phone's lock, in the same round trip."""
        return (command.team_id or self._default_team_id) if command.owner_id is None else None

    async def create(
        self, uow: UnitOfWork, command: CaptureLead, fields: CaptureFields, now: datetime, *,
        known_customer: str | None, attribution: Attribution = NO_ATTRIBUTION,
    ) -> Lead:
        """Create the lead inside ``uow`` (the caller holds the phone lock, decided no open lead fits and says
        whose phone it is): same customer if the phone is known (reactivation), next consultant of the team,
        lookup keys."""
        team_id = command.team_id or self._default_team_id
        owner_id = command.owner_id
        if team_id is not None and owner_id is None:
            rotation = await uow.take_rotation_ticket(team_id)  # after the phone lock: one lock order
            if rotation is None:
                if command.team_id is not None:
                    raise InvalidFieldError("team_id", f"unknown team {team_id!r}")
                team_id = None  # the configured default team is not registered (yet): capture unassigned
            elif command.stage is Stage.NEW:
                owner_id = pick(rotation.consultants, rotation.ticket)
        lead = Lead.capture(
            lead_id=self._new_id(), customer_id=known_customer or self._new_id(), fields=fields,
            captured_at=now, owner_id=owner_id, team_id=team_id,
            source_system=command.source_system, external_id=command.external_id,
            referral_id=command.referral_id, referrer_customer_id=command.referrer_customer_id,
            order_id=command.order_id, stage=command.stage, reactivated=known_customer is not None,
            policy=self._policy, attribution=attribution,
            assignment_reason="round_robin" if command.owner_id is None else "outreach_batch",
        )
        uow.add(lead)
        if known_customer is None:
            uow.link_customer(fields.phone, lead.customer_id)
        self._link_keys(uow, command, lead.id)
        return lead

    def _record_duplicate(self, uow: UnitOfWork, lead: Lead, command: CaptureLead, now: datetime) -> LeadCaptured:
        keyless = command.source_system is None and command.referral_id is None
        if keyless and lead.is_resend_of_last_contact(channel=command.channel, name=command.name,
                                                      interest=command.interest, now=now, policy=self._policy):
            return LeadCaptured(lead, lead.version, "duplicate_request")
        lead.record_duplicate_contact(
            channel=command.channel, name=command.name, interest=command.interest, now=now,
            source_system=command.source_system, external_id=command.external_id,
            referral_id=command.referral_id, referrer_customer_id=command.referrer_customer_id,
        )
        uow.add(lead)
        # The resend of this inquiry must answer with this lead, not add a second touchpoint.
        self._link_keys(uow, command, lead.id)
        return LeadCaptured(lead, lead.version, "duplicate_contact")

    @staticmethod
    def _sign_for_checkout(uow: UnitOfWork, lead: Lead, order_id: str, now: datetime) -> LeadCaptured:
        """A shop checkout by the customer of an open lead: that lead signed (one checkout, one lead)."""
        lead.sign_contract(order_id=order_id, now=now)
        uow.add(lead)
        uow.link_order(order_id, lead.id)
        return LeadCaptured(lead, lead.version, "duplicate_contact")

    @staticmethod
    def _link_keys(uow: UnitOfWork, command: CaptureLead, lead_id: str) -> None:
        if command.source_system is not None and command.external_id is not None:
            uow.link_external_id(command.source_system, command.external_id, lead_id)
        if command.referral_id is not None:
            uow.link_referral(command.referral_id, lead_id)
        if command.order_id is not None:
            uow.link_order(command.order_id, lead_id)

    @staticmethod
    async def _existing(uow: UnitOfWork, lead_id: str, outcome: Outcome) -> LeadCaptured:
        lead = await uow.load(Lead, lead_id)
        assert lead is not None, "an idempotency key points at a missing stream"
        return LeadCaptured(lead, lead.version, outcome)
