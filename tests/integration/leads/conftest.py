"""Fixtures of the leads service's integration tests: one database and one in-process service per module."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable

import pytest

from tests.support.infra import Infra
from tests.support.leads import LeadsInProcess, ctx, leads_in_process, scratch_database

_phones = itertools.count(10_000_001)
_names = itertools.count(1)


@pytest.fixture(scope="module")
async def leads(infra: Infra) -> AsyncIterator[LeadsInProcess]:
    async with scratch_database(infra, "leads") as dsn, leads_in_process(dsn) as app:
        yield app


@pytest.fixture
def phone() -> Callable[[], str]:
    """Fresh mobile numbers, written the way people type them."""
    return lambda: f"139 {next(_phones):08d}"


@pytest.fixture
def name() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}{next(_names)}"


async def team_with(app: LeadsInProcess, team_id: str, consultants: list[str], manager: str | None = None) -> None:
    from services.leads.app.organisation import RegisterConsultant, RegisterTeam

    await app.organisation.register_team(RegisterTeam(team_id, f"Team {team_id}"), ctx())
    for consultant in consultants:
        await app.organisation.register_consultant(RegisterConsultant(consultant, consultant, team_id), ctx())
    if manager:
        await app.organisation.register_consultant(RegisterConsultant(manager, manager, team_id, "manager"), ctx())
