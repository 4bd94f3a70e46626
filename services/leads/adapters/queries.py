"""Read side of the leads service: history from the event store, consultants' lists from ``leads_view``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.leads.adapters.unit_of_work import LEADS_STREAMS, lead_stream
from services.leads.domain.customer_card import CustomerCard
from shared.eventstore.store import PostgresEventStore

_COLUMNS = """lead_id, customer_id, name, phone, channel, interest, status, stage, grade, owner_id, team_id, pooled,
    released_by, released_at, follow_up_due_at, overdue, loss_pending, order_id, captured_at, last_activity_at,
    version"""


def _row(record: asyncpg.Record) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(record).items()}


class PostgresLeadQueries:
    """LeadHistory and LeadQueries."""

    def __init__(self, pool: asyncpg.Pool, store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store

    async def history(self, lead_id: str) -> list[dict[str, object]]:
        return [r.audit_entry() for r in await self._store.load(lead_stream(lead_id))]

    async def lead_row(self, lead_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM leads_view WHERE lead_id = $1", lead_id)
        return _row(row) if row else None

    async def lead_for_order(self, order_id: str) -> str | None:
        value = await self._pool.fetchval("SELECT lead_id FROM leads_orders WHERE order_id = $1", order_id)
        return str(value) if value is not None else None

    async def leads_of_phone(self, phone: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM leads_view WHERE phone = $1 ORDER BY captured_at",
                                      phone)
        return [_row(r) for r in rows]

    async def open_leads(self, owner_id: str, grade: str | None) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM leads_view WHERE owner_id = $1 AND is_open AND ($2::text IS NULL OR grade = $2) "
            "ORDER BY grade, follow_up_due_at NULLS LAST", owner_id, grade)
        return [_row(r) for r in rows]

    async def follow_ups(self, owner_id: str, due_before: datetime, *, after: tuple[Any, ...] | None = None,
                         limit: int | None = None) -> list[dict[str, Any]]:
        """Due first (a lead without a due time at its capture), then by lead id: the key ``after`` pages on."""
        after_due, after_id = after or (None, None)
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM leads_view WHERE owner_id = $1 AND is_open AND NOT pooled "
            "AND stage NOT IN ('contract_signed', 'delivered') AND (overdue OR follow_up_due_at <= $2) "
            "AND ($3::timestamptz IS NULL OR (COALESCE(follow_up_due_at, captured_at), lead_id) > ($3, $4::text)) "
            "ORDER BY COALESCE(follow_up_due_at, captured_at), lead_id LIMIT $5",
            owner_id, due_before, after_due, after_id, limit)
        return [_row(r) for r in rows]

    async def pool(self, team_id: str | None, *, after: tuple[Any, ...] | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]:
        """Longest in the pool first (by release, else capture), then by lead id: the key ``after`` pages on."""
        after_at, after_id = after or (None, None)
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM leads_view WHERE pooled AND is_open "
            "AND stage NOT IN ('contract_signed', 'delivered') AND ($1::text IS NULL OR team_id = $1) "
            "AND ($2::timestamptz IS NULL OR (COALESCE(released_at, captured_at), lead_id) > ($2, $3::text)) "
            "ORDER BY COALESCE(released_at, captured_at), lead_id LIMIT $4", team_id, after_at, after_id, limit)
        return [_row(r) for r in rows]

    async def consultants(self, team_id: str | None) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT consultant_id, name, team_id, role, active FROM leads_consultants "
            "WHERE $1::text IS NULL OR team_id = $1 ORDER BY seq", team_id)
        return [dict(r) for r in rows]

    # --- the reception register ---

    _VISIT_COLUMNS = """visit_id, lead_id, customer_id, visit_number, first_visit, party_size, purpose, receptionist_id,
        consultant_id, team_id, walk_in_lead, arrived_at, departed_at, duration_minutes, version"""

    async def visit_row(self, visit_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(f"SELECT {self._VISIT_COLUMNS} FROM leads_visits WHERE visit_id = $1",
                                        visit_id)
        return _row(row) if row else None

    async def visits(self, *, arrived_from: datetime, arrived_to: datetime, team_id: str | None,
                     consultant_id: str | None, after: tuple[Any, ...] | None = None,
                     limit: int | None = None) -> list[dict[str, Any]]:
        """In arrival order, then by visit id: the key ``after`` pages on."""
        after_at, after_id = after or (None, None)
        rows = await self._pool.fetch(
            f"SELECT {self._VISIT_COLUMNS} FROM leads_visits WHERE arrived_at >= $1 AND arrived_at < $2 "
            "AND ($3::text IS NULL OR team_id = $3) AND ($4::text IS NULL OR consultant_id = $4) "
            "AND ($5::timestamptz IS NULL OR (arrived_at, visit_id) > ($5, $6::text)) "
            "ORDER BY arrived_at, visit_id LIMIT $7", arrived_from, arrived_to, team_id, consultant_id, after_at,
            after_id, limit)
        return [_row(r) for r in rows]

    # --- the test-drive fleet ---

    _BOOKING_COLUMNS = """booking_id, vehicle_id, lead_id, starts_at, ends_at, route, status, booked_by, started_at,
        ended_at, feedback_score, feedback_note"""

    async def test_drive_row(self, booking_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(
            f"SELECT {self._BOOKING_COLUMNS} FROM leads_test_drives WHERE booking_id = $1", booking_id)
        return _row(row) if row else None

    async def fleet(self) -> list[dict[str, Any]]:
        rows = await self._pool.fetch("SELECT vehicle_id, model, trim, colour, plate, vin, registered_at, version "
                                      "FROM leads_test_drive_vehicles ORDER BY vehicle_id")
        return [_row(r) for r in rows]

    async def calendar(self, vehicle_id: str, *, starts_from: datetime, starts_to: datetime) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {self._BOOKING_COLUMNS} FROM leads_test_drives WHERE vehicle_id = $1 AND ends_at > $2 "
            "AND starts_at < $3 ORDER BY starts_at", vehicle_id, starts_from, starts_to)
        return [_row(r) for r in rows]

    # --- the customer card ---

    async def customer_leads(self, customer_id: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM leads_view WHERE customer_id = $1 ORDER BY captured_at",
                                      customer_id)
        return [_row(r) for r in rows]

    async def customer_card(self, customer_id: str) -> tuple[CustomerCard, list[dict[str, object]]]:
        """The card as its events fold it, and those events as history entries."""
        records = await self._store.load(LEADS_STREAMS.stream_id(CustomerCard, customer_id))
        card = CustomerCard.rehydrate(customer_id, LEADS_STREAMS.decode(CustomerCard, records))
        return card, [r.audit_entry() for r in records]
