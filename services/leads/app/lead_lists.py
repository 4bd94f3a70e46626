"""The consultants' lists that are filtered by the caller's access rule after the query — due follow-ups, the
shared pool (公海), the reception register — a page at a time (shared/pagination.py ``filtered_page``: the rule
stays the one in app/access.py, and a page is still full whenever more rows the caller may see exist; the cursor
holds the sort key of the last row shown, so rows added meanwhile never make a page repeat or skip one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.leads.app import access
from services.leads.app.ports import LeadQueries, ShowroomQueries
from shared.auth.principal import Principal
from shared.pagination import KeyValue, Page, filtered_page

FOLLOW_UPS = "follow-ups"
POOL = "pool"
VISITS = "showroom-visits"
_KEY = (datetime, str)


def _due_key(row: dict[str, Any]) -> tuple[KeyValue, ...]:
    return datetime.fromisoformat(row["follow_up_due_at"] or row["captured_at"]), row["lead_id"]


def _pooled_key(row: dict[str, Any]) -> tuple[KeyValue, ...]:
    return datetime.fromisoformat(row["released_at"] or row["captured_at"]), row["lead_id"]


def _arrival_key(row: dict[str, Any]) -> tuple[KeyValue, ...]:
    return datetime.fromisoformat(row["arrived_at"]), row["visit_id"]


async def follow_ups_page(queries: LeadQueries, caller: Principal, *, owner_id: str, due_before: datetime,
                          cursor: str | None, limit: int) -> Page[dict[str, Any]]:
    """The owner's follow-ups overdue or due before ``due_before``, soonest due first."""
    return await filtered_page(
        FOLLOW_UPS, cursor, limit, _KEY,
        fetch=lambda after, n: queries.follow_ups(owner_id, due_before, after=after, limit=n),
        keep=lambda rows: access.visible(caller, rows), key_of=_due_key)


async def pool_page(queries: LeadQueries, caller: Principal, *, team_id: str | None, cursor: str | None,
                    limit: int) -> Page[dict[str, Any]]:
    """The pool's leads the caller sees, longest in the pool first."""
    return await filtered_page(
        POOL, cursor, limit, _KEY, fetch=lambda after, n: queries.pool(team_id, after=after, limit=n),
        keep=lambda rows: access.visible(caller, rows), key_of=_pooled_key)


async def visits_page(queries: ShowroomQueries, caller: Principal, *, arrived_from: datetime, arrived_to: datetime,
                      team_id: str | None, consultant_id: str | None, cursor: str | None,
                      limit: int) -> Page[dict[str, Any]]:
    """The register's entries in the window the caller sees, in arrival order (403 for who is not on the floor)."""
    return await filtered_page(
        VISITS, cursor, limit, _KEY,
        fetch=lambda after, n: queries.visits(arrived_from=arrived_from, arrived_to=arrived_to, team_id=team_id,
                                              consultant_id=consultant_id, after=after, limit=n),
        keep=lambda rows: access.visits_visible(caller, rows), key_of=_arrival_key)
