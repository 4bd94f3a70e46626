"""Commands (imperative) and their handlers."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from services.leads.app.ports import Clock, CommandContext, IdFactory, LeadRepository
from services.leads.domain.lead import Lead


@dataclass(frozen=True, slots=True)
class CaptureLead:
    name: str
    phone: str
    channel: str
    interest: str | None = None


@dataclass(frozen=True, slots=True)
class LeadCaptured:
    """What capturing answered: the lead and its version after the append."""

    lead: Lead
    version: int


class CaptureLeadHandler:
    def __init__(self, *, leads: LeadRepository, clock: Clock, new_id: IdFactory, channels: Collection[str]) -> None:
        self._leads = leads
        self._clock = clock
        self._new_id = new_id
        self._channels = channels

    async def __call__(self, command: CaptureLead, context: CommandContext) -> LeadCaptured:
        now = self._clock()
        lead = Lead.capture(
            lead_id=self._new_id(), customer_id=self._new_id(), name=command.name, phone=command.phone,
            channel=command.channel, interest=command.interest, captured_at=now, known_channels=self._channels,
        )
        version = await self._leads.save(lead, context=context, now=now)
        return LeadCaptured(lead, version)
