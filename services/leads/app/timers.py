"""Durable timers of the leads service: a missed follow-up becomes FollowUpOverdue, an idle lead goes to the
pool. ``timers_for`` says which timers the lead's state needs; main hands it to the unit of work as data, which
compares that with the timer it armed before and, when the due date moved, cancels the old timer and arms a new one
(fresh id) in the same transaction as the events. A timer that fires for a superseded date finds the aggregate
refusing (the rules are in the Lead), so a late or repeated firing records nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.leads.app.ports import Clock, CommandContext, UnitOfWork, UnitOfWorkFactory
from services.leads.domain.lead import Lead
from services.leads.domain.policy import LeadPolicy
from shared.timer_model import Timer
from shared.unit_of_work.retry import CommandRunner

FOLLOW_UP_OVERDUE = "leads.follow_up_overdue"
POOL_RELEASE = "leads.pool_release"


@dataclass(frozen=True, slots=True)
class TimerPlan:
    kind: str
    due_at: datetime | None  # None: no timer of this kind may stay armed
    payload: dict[str, Any]


def timers_for(lead: Lead, policy: LeadPolicy) -> list[TimerPlan]:
    """The timers the lead's current state needs."""
    return [
        TimerPlan(FOLLOW_UP_OVERDUE, lead.follow_up_timer_due,
                  {"lead_id": lead.id, "sequence": lead.follow_up_sequence}),
        TimerPlan(POOL_RELEASE, lead.pool_timer_due(policy), {"lead_id": lead.id}),
    ]


class LeadTimerHandlers:
    """Run by the TimerRunner inside its transaction (``conn``): the events and the timer's "fired" mark commit
    together, so a crash in between fires the timer again and the aggregate's rules make that a no-op."""

    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, policy: LeadPolicy) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._policy = policy

    def handlers(self) -> dict[str, Any]:
        return {FOLLOW_UP_OVERDUE: self.follow_up_overdue, POOL_RELEASE: self.pool_release}

    async def follow_up_overdue(self, conn: Any, timer: Timer) -> None:
        async def decide(uow: UnitOfWork, now: datetime) -> None:
            lead = await uow.load(Lead, timer.payload["lead_id"])
            if lead is not None and lead.mark_follow_up_overdue(sequence=int(timer.payload["sequence"]), now=now):
                uow.add(lead)
        await self._commands.run(decide, _context(timer), conn=conn)

    async def pool_release(self, conn: Any, timer: Timer) -> None:
        async def decide(uow: UnitOfWork, now: datetime) -> None:
            lead = await uow.load(Lead, timer.payload["lead_id"])
            if lead is not None and lead.release_to_pool(now=now, policy=self._policy):
                uow.add(lead)
        await self._commands.run(decide, _context(timer), conn=conn)


def _context(timer: Timer) -> CommandContext:
    return CommandContext(correlation_id=timer.timer_id, actor="system:timers")
