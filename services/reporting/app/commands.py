"""Commands of the reporting service: targets are reporting's own, event-sourced data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.reporting.domain.targets import Target, TargetLine, TargetSet, target_stream_id


@dataclass(frozen=True, slots=True)
class SetTarget:
    scope: str
    scope_id: str
    month: str
    metric: str
    base: float
    stretch: float | None = None
    parent_team: str | None = None
    set_by: str | None = None


class TargetRepository(Protocol):
    async def load(self, stream_id: str) -> Target:
        """The target rebuilt from its stream (a new one if the stream is empty)."""

    async def save(self, target: Target) -> None:
        """Append pending events with the loaded version (ConcurrencyError on a race) and update the target
        lines read model in the same transaction."""

    async def lines(self, *, month: str | None = None, as_of: datetime | None = None) -> list[TargetLine]:
        """Target lines, current or as they stood at ``as_of``."""


class SetTargetHandler:
    def __init__(self, repository: TargetRepository, clock: Callable[[], datetime]) -> None:
        self._repository = repository
        self._clock = clock

    async def __call__(self, command: SetTarget) -> TargetSet:
        scope_id = "" if command.scope == "org" else command.scope_id
        target = await self._repository.load(target_stream_id(command.scope, scope_id, command.month,
                                                              command.metric))
        event = target.set(scope=command.scope, scope_id=scope_id, month=command.month, metric=command.metric,
                           base=command.base, stretch=command.stretch, parent_team=command.parent_team,
                           set_by=command.set_by, now=self._clock())
        await self._repository.save(target)
        return event
