"""The after-sales unit of work in memory, for handler and reaction tests: the kernel's in-memory unit of work
(same contract as PostgreSQL; see tests/support/unit_of_work_contract.py) with the service's timer plans, and the
two lookups answered from the streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from services.aftersales.adapters.repository import AFTERSALES_STREAMS
from services.aftersales.app.ports import CommandContext
from services.aftersales.app.timers import timer_plans
from services.aftersales.domain.care_plan import CarePlan
from services.aftersales.domain.referral import Referral
from shared.domain import Aggregate
from shared.unit_of_work.memory import InMemoryEventStore, InMemoryTimers, InMemoryUnitOfWork

A = TypeVar("A", bound=Aggregate)


class InMemoryAftersalesUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, owner: InMemoryAftersales) -> None:
        super().__init__(owner.events, owner.timer_table, AFTERSALES_STREAMS, plan_timers=timer_plans)
        self._owner = owner

    async def referral_for_lead(self, lead_id: str) -> str | None:
        for referral in await self._owner.all(Referral):
            if referral.lead_id == lead_id:
                return referral.id
        return None

    async def delivered_order_for_lead(self, lead_id: str) -> str | None:
        for plan in await self._owner.all(CarePlan):
            if plan.lead_id == lead_id:
                return plan.id
        return None

    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]:
        versions = await super().commit(context, now)
        if versions:
            self._owner.commits += 1
        return versions


class InMemoryAftersales:
    """The unit-of-work factory (``store()`` / ``store(conn)``), the read port (``load``) and what tests inspect."""

    def __init__(self) -> None:
        self.events = InMemoryEventStore()
        self.timer_table = InMemoryTimers()
        self.commits = 0

    @asynccontextmanager
    async def __call__(self, conn: Any = None) -> AsyncIterator[InMemoryAftersalesUnitOfWork]:
        yield InMemoryAftersalesUnitOfWork(self)

    async def load(self, cls: type[A], aggregate_id: str) -> A | None:
        async with self() as uow:
            return await uow.load(cls, aggregate_id)

    async def all(self, cls: type[A]) -> list[A]:
        prefix = AFTERSALES_STREAMS.stream_id(cls, "")
        ids = [s.removeprefix(prefix) for s in self.events.streams if s.startswith(prefix)]
        return [a for a in [await self.load(cls, i) for i in ids] if a is not None]

    async def commit(self, *aggregates: Aggregate, now: datetime) -> None:
        async with self() as uow:
            for aggregate in aggregates:
                uow.add(aggregate)
            await uow.commit(CommandContext("test"), now)

    def types(self, cls: type[Aggregate], aggregate_id: str) -> list[str]:
        return [e.event_type for e in self.events.events(AFTERSALES_STREAMS.stream_id(cls, aggregate_id))]
