"""What happens when a durable timer fires (inside the timer runner's transaction: the events and the timer's
"fired" mark commit together, so an overdue visit or an SLA breach is recorded exactly once)."""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from services.aftersales.app.ports import AftersalesStore, Clock, CommandContext, Tx
from services.aftersales.app.timers import COMPLAINT_SLA, VISIT_OVERDUE
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.complaint import Complaint
from shared.timers import Timer, TimerHandler

log = structlog.get_logger(__name__)


class AftersalesTimers:
    def __init__(self, *, store: AftersalesStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    @staticmethod
    def _context(timer: Timer) -> CommandContext:
        return CommandContext(correlation_id=timer.timer_id, causation_id=timer.timer_id, actor="timer")

    async def on_visit_overdue(self, tx: Tx, timer: Timer) -> None:
        plan = await self._store.load(CarePlan, str(timer.payload["plan_id"]), tx=tx)
        now = self._clock()
        if plan is not None and plan.mark_overdue(int(timer.payload["visit_no"]), now=now):
            await self._store.commit([plan], context=self._context(timer), now=now, tx=tx)
            log.info("aftersales.visit_overdue", plan_id=plan.id, visit_no=timer.payload["visit_no"])

    async def on_complaint_sla(self, tx: Tx, timer: Timer) -> None:
        complaint = await self._store.load(Complaint, str(timer.payload["complaint_id"]), tx=tx)
        now = self._clock()
        if complaint is not None and complaint.check_sla(str(timer.payload["stage"]),
                                                         cycle=int(timer.payload["cycle"]), now=now):
            await self._store.commit([complaint], context=self._context(timer), now=now, tx=tx)
            log.warning("aftersales.complaint_sla_breached", complaint_id=complaint.id,
                        stage=timer.payload["stage"], escalation_level=complaint.escalation_level)

    def handlers(self) -> Mapping[str, TimerHandler]:
        return {VISIT_OVERDUE: self.on_visit_overdue, COMPLAINT_SLA: self.on_complaint_sla}
