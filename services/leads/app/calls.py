"""Call-center calls become work (issue 17): ``RecordCall`` finds the caller's open lead by the normalised number
— under the phone's lock, the same dedupe as a capture — and records the call on it (``Lead.record_call``: an
answered call is a follow-up by the agent's consultant, a missed one a call-back due soon); an unknown caller
becomes a lead with channel ``call_center`` through the capture's own creation (round robin, reactivation of a
known customer). Idempotent on the call id: (``call-center``, call id) is recorded as the lead's external id in
the same transaction, so a call reported twice is recorded once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.leads.app.commands import CaptureLead, CaptureLeadHandler
from services.leads.app.ports import Clock, CommandContext, UnitOfWork, UnitOfWorkFactory
from services.leads.domain.calls import Call
from services.leads.domain.lead import Lead
from services.leads.domain.policy import LeadPolicy
from shared.domain import InvalidFieldError
from shared.domain.phone import InvalidPhoneError
from shared.unit_of_work.retry import CommandRunner

CALL_CENTER = "call-center"
"""Source system of calls: with the call id, the key that makes a call count once."""
CALL_CENTER_CHANNEL = "call_center"
UNKNOWN_CALLER = "call-center caller"  # a new lead's name when the call center does not know it


@dataclass(frozen=True, slots=True)
class RecordCall:
    caller_number: str
    call: Call  # as reported; validated by the handler
    caller_name: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecorded:
    """The lead the call was recorded on, and whether this command recorded it (False: reported before)."""

    lead: Lead
    recorded: bool
    new_lead: bool = False


class RecordCallHandler:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, capture: CaptureLeadHandler,
                 policy: LeadPolicy, agents: Mapping[str, str]) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._capture = capture
        self._policy = policy
        self._agents = dict(agents)

    def consultant_of(self, agent_id: str | None) -> str | None:
        """The consultant an agent is: the configured one, else the consultant with the agent's id."""
        return self._agents.get(agent_id, agent_id) if agent_id else None

    async def __call__(self, command: RecordCall, context: CommandContext, *, conn: Any = None) -> CallRecorded:
        # Refuse bad fields before the phone lock, as a capture does.
        call = command.call.validated()
        # The capture an unknown caller becomes, validated by the capture's rules (the phone normalised there, once).
        capture = CaptureLead(name=command.caller_name or UNKNOWN_CALLER, phone=command.caller_number,
                              channel=CALL_CENTER_CHANNEL, source_system=CALL_CENTER, external_id=call.call_id)
        try:
            fields = self._capture.validate(capture)
        except InvalidPhoneError as exc:
            raise InvalidFieldError("caller_number", exc.reason) from None
        phone = fields.phone
        consultant = self.consultant_of(call.agent_id)

        async def decide(uow: UnitOfWork, now: datetime) -> CallRecorded:
            # Neither this call's lead nor an open lead means a new lead: its ticket may come with the lock.
            found = await uow.lock_phone(phone, source_system=CALL_CENTER, external_id=call.call_id,
                                         rotation_team=self._capture.rotation_team(capture))
            if found.external_id_lead is not None:
                seen = await uow.load(Lead, found.external_id_lead)
                assert seen is not None, "an idempotency key points at a missing stream"
                return CallRecorded(seen, recorded=False)
            lead = await uow.load(Lead, found.open_lead) if found.open_lead else None
            if lead is None:
                lead = await self._capture.create(uow, capture, fields, now, known_customer=found.known_customer)
                created = True
            else:
                uow.link_external_id(CALL_CENTER, call.call_id, lead.id)
                created = False
            lead.record_call(call=call, consultant_id=consultant, now=now, policy=self._policy)
            uow.add(lead)
            return CallRecorded(lead, recorded=True, new_lead=created)

        return await self._commands.run(decide, context, conn=conn)
