"""Reporting's targets unit of work in memory, for handler tests: the kernel's in-memory unit of work (same
contract as PostgreSQL; see tests/support/unit_of_work_contract.py) with the service's projection hook keeping
the current target lines as ``report_targets`` does (services/reporting/adapters/targets.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from services.reporting.adapters.targets import TARGET_STREAMS
from services.reporting.domain.targets import TargetLine, TargetSet
from shared.unit_of_work.memory import InMemoryEventStore, InMemoryTimers, InMemoryUnitOfWork

LineKey = tuple[str, str, str, str]


class InMemoryTargetsUnitOfWork(InMemoryUnitOfWork):
    def __init__(self, owner: InMemoryTargets) -> None:
        super().__init__(owner.events, InMemoryTimers(), TARGET_STREAMS)
        self._owner = owner

    async def after_append(self, now: Any) -> None:
        for target in self.added:
            for e in target.pending_events:
                assert isinstance(e, TargetSet)
                self._owner.lines[(e.scope, e.scope_id, e.month, e.metric)] = TargetLine(
                    e.scope, e.scope_id, e.month, e.metric, e.base, e.stretch, e.parent_team)


class InMemoryTargets:
    """The unit-of-work factory (``targets()`` / ``targets(conn)``) and the current lines the tests inspect."""

    def __init__(self) -> None:
        self.events = InMemoryEventStore()
        self.lines: dict[LineKey, TargetLine] = {}

    @asynccontextmanager
    async def __call__(self, conn: Any = None) -> AsyncIterator[InMemoryTargetsUnitOfWork]:
        yield InMemoryTargetsUnitOfWork(self)
