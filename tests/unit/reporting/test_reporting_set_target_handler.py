"""Reporting's one command, SetTarget, on the in-memory unit of work (no PostgreSQL): its rules, its read table,
and the retry policy every command shares."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.reporting.app.commands import SetTarget, SetTargetHandler
from services.reporting.domain.targets import TargetLine
from shared.commands import CommandContext
from shared.domain import InvalidFieldError
from tests.support.reporting_memory import InMemoryTargets

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CTX = CommandContext(correlation_id="c-1", actor="d1")


@pytest.fixture
def targets() -> InMemoryTargets:
    return InMemoryTargets()


def handler(targets: InMemoryTargets) -> SetTargetHandler:
    return SetTargetHandler(targets, lambda: NOW)


async def test_setting_a_target_twice_replaces_the_line_and_keeps_both_events(targets: InMemoryTargets) -> None:
    first = await handler(targets)(SetTarget("team", "2026-03", "contracts", 10, scope_id="t1", stretch=12), CTX)
    await handler(targets)(SetTarget("team", "2026-03", "contracts", 14, scope_id="t1"), CTX)
    assert first.base == 10
    assert targets.lines == {("team", "t1", "2026-03", "contracts"):
                             TargetLine("team", "t1", "2026-03", "contracts", 14, None, None)}
    [stream] = targets.events.streams.values()
    assert [(e.version, e.data["base"], e.metadata["actor"]) for e in stream] == [(1, 10, "d1"), (2, 14, "d1")]


async def test_an_organisation_target_ignores_the_scope_id(targets: InMemoryTargets) -> None:
    await handler(targets)(SetTarget("org", "2026-03", "revenue", 1e6, scope_id="whatever"), CTX)
    assert list(targets.lines) == [("org", "", "2026-03", "revenue")]


@pytest.mark.parametrize(("command", "field"), [
    (SetTarget("team", "2026-3", "contracts", 10, scope_id="t1"), "month"),
    (SetTarget("team", "2026-03", "contracts", 10), "scope_id"),
    (SetTarget("team", "2026-03", "contracts", 10, scope_id="t1", stretch=5), "stretch"),
    (SetTarget("team", "2026-03", "contracts", 10, scope_id="t1", parent_team="t0"), "parent_team"),
])
async def test_a_refused_target_names_the_field_and_stores_nothing(
    targets: InMemoryTargets, command: SetTarget, field: str
) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        await handler(targets)(command, CTX)
    assert refused.value.field == field
    assert targets.events.streams == {}
    assert targets.lines == {}


async def test_concurrent_unpinned_settings_of_one_target_all_succeed(targets: InMemoryTargets) -> None:
    results = await asyncio.gather(*(
        handler(targets)(SetTarget("team", "2026-03", "visits", base, scope_id="t1"), CTX) for base in range(10)))
    assert sorted(r.base for r in results) == list(range(10))
    [stream] = targets.events.streams.values()
    assert [e.version for e in stream] == list(range(1, 11))
    assert targets.lines[("team", "t1", "2026-03", "visits")].base == stream[-1].data["base"]
