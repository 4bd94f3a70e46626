"""Commands of the reporting service: targets are reporting's own, event-sourced data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, Protocol, TypeVar

from pydantic import Field

from services.reporting.domain.targets import Target, TargetLine, TargetSet, target_stream_id
from shared.commands import CommandContext
from shared.domain import Aggregate
from shared.unit_of_work.core import UnitOfWorkFactory
from shared.unit_of_work.retry import CommandRunner

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True, slots=True)
class SetTarget:
    """Set (or replace) a target line."""

    scope: Literal["org", "team", "consultant"]
    month: Annotated[str, Field(description="YYYY-MM")]
    metric: Literal["new_leads", "visits", "test_drives", "contracts", "deliveries", "revenue",  # targets.METRICS
                    "invitation_to_visit_rate", "second_visit_rate", "test_drive_rate",  # kpis.TARGETABLE_KPIS
                    "visit_to_order_rate", "quote_to_contract_rate", "financing_approval_rate", "referral_rate",
                    "satisfaction"]
    base: Annotated[float, Field(ge=0)]
    scope_id: Annotated[str, Field(description="team or consultant id; empty for the organisation")] = ""
    stretch: Annotated[float | None, Field(ge=0)] = None
    parent_team: Annotated[str | None, Field(description="for a consultant's share of a team target")] = None
    set_by: str | None = None  # the caller (set by the service, never by a body)


class TargetRepository(Protocol):
    async def lines(self, *, month: str | None = None, as_of: datetime | None = None) -> list[TargetLine]:
        """Target lines, current or as they stood at ``as_of``."""


class TargetsUnitOfWork(Protocol):
    """The kernel's unit of work (``shared.unit_of_work``); committing a target also updates its line in
    ``report_targets``, in the same transaction."""

    async def load(self, cls: type[A], aggregate_id: str, *, expected_version: int | None = None) -> A | None: ...
    def add(self, aggregate: Aggregate) -> None: ...
    async def commit(self, context: CommandContext, now: datetime) -> dict[str, int]: ...


class SetTargetHandler:
    def __init__(self, unit_of_work: UnitOfWorkFactory[TargetsUnitOfWork], clock: Callable[[], datetime]) -> None:
        self._commands: CommandRunner[TargetsUnitOfWork] = CommandRunner(unit_of_work, clock)

    async def __call__(self, command: SetTarget, context: CommandContext | None = None) -> TargetSet:
        scope_id = "" if command.scope == "org" else command.scope_id
        stream_id = target_stream_id(command.scope, scope_id, command.month, command.metric)

        async def decide(uow: TargetsUnitOfWork, now: datetime) -> TargetSet:
            target = await uow.load(Target, stream_id) or Target(stream_id)
            event = target.set(scope=command.scope, scope_id=scope_id, month=command.month, metric=command.metric,
                               base=command.base, stretch=command.stretch, parent_team=command.parent_team,
                               set_by=command.set_by, now=now)
            uow.add(target)
            return event

        context = context or CommandContext(correlation_id=str(uuid.uuid4()), actor=command.set_by)
        return await self._commands.run(decide, context)
