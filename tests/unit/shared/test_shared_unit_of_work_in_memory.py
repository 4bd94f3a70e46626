"""The abstract unit-of-work suite against the in-memory implementation (what handler unit tests use)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from shared.unit_of_work.memory import (
    InMemoryEventStore,
    InMemoryTimers,
    InMemoryUnitOfWork,
    InMemoryUnitOfWorkFactory,
    in_memory_units_of_work,
)
from tests.support.unit_of_work_contract import CATALOG, UnitOfWorkContract


class TestInMemoryUnitOfWork(UnitOfWorkContract):
    @pytest.fixture
    def units_of_work(self) -> InMemoryUnitOfWorkFactory[InMemoryUnitOfWork]:
        self.store, self.timers = InMemoryEventStore(), InMemoryTimers()
        return in_memory_units_of_work(CATALOG, self.store, self.timers)

    async def stored(self, stream_id: str) -> list[tuple[int, dict[str, Any], dict[str, Any]]]:
        return [(e.version, e.data, e.metadata) for e in self.store.events(stream_id)]

    async def pending_timers(self) -> Mapping[str, datetime]:
        return {timer_id: t.due_at for timer_id, t in self.timers.pending.items()}
