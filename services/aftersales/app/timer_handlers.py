"""What happens when a durable timer fires (inside the timer runner's transaction: the events and the timer's
"fired" mark commit together, so an overdue visit or an SLA breach is recorded exactly once)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import structlog

from services.aftersales.app.ports import AftersalesUnitOfWork, Clock, CommandContext, Tx, UnitOfWorkFactory
from services.aftersales.app.timers import COMPLAINT_SLA, VISIT_OVERDUE
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from shared.timer_model import Timer, TimerHandler
from shared.unit_of_work.retry import CommandRunner

log = structlog.get_logger(__name__)


class AftersalesTimers:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self._commands: CommandRunner[AftersalesUnitOfWork] = CommandRunner(unit_of_work, clock)

    @staticmethod
    def _context(timer: Timer) -> CommandContext:
        return CommandContext(correlation_id=timer.timer_id, causation_id=timer.timer_id, actor="timer")

    async def on_visit_overdue(self, tx: Tx, timer: Timer) -> None:
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> None:
            plan = await uow.load(CarePlan, str(timer.payload["plan_id"]))
            if plan is not None and plan.mark_overdue(int(timer.payload["visit_no"]), now=now):
                uow.add(plan)
                log.info("aftersales.visit_overdue", plan_id=plan.id, visit_no=timer.payload["visit_no"])
        await self._commands.run(decide, self._context(timer), conn=tx)

    async def on_complaint_sla(self, tx: Tx, timer: Timer) -> None:
        async def decide(uow: AftersalesUnitOfWork, now: datetime) -> None:
            complaint = await uow.load(Complaint, str(timer.payload["complaint_id"]))
            if complaint is None or not complaint.check_sla(str(timer.payload["stage"]),
                                                            cycle=int(timer.payload["cycle"]), now=now):
                return
            uow.add(complaint)
            log.warning("aftersales.complaint_sla_breached", complaint_id=complaint.id,
                        stage=timer.payload["stage"], escalation_level=complaint.escalation_level)
        await self._commands.run(decide, self._context(timer), conn=tx)

    def handlers(self) -> Mapping[str, TimerHandler]:
        return {VISIT_OVERDUE: self.on_visit_overdue, COMPLAINT_SLA: self.on_complaint_sla}
