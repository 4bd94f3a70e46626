"""Customer search over ``leads_view`` and the orders' vehicles (app/customer_search.py says what is looked for).

Indexes (migration 0009): trigram GIN indexes (pg_trgm) on the name and the phone serve ``=``, prefix and
substring ``LIKE`` — a name part (``小明``) and the last digits (``LIKE '%5678'``) included, which a btree cannot —
and ``leads_view (customer_id)`` the per-customer reads. A pattern shorter than three characters (a two-character
name) gives the trigram index nothing to narrow and becomes a scan of the index, still correct (PostgreSQL
rechecks every row), just slower; the access scope narrows it further. VIN and plate are exact, on btree indexes of
``leads_customer_orders`` (migration 0011).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.leads.app.customer_search import CUSTOMER_SEARCH, CustomerSearchScope, Match, SearchTerms
from shared.pagination import Page, decode_cursor, page_of


def _like_literal(text: str) -> str:
    """``text`` as a LIKE pattern matching only itself (the user's % and _ are not wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SEARCH = f"""
WITH matched AS (
    SELECT customer_id, min(match) AS match FROM (
        SELECT customer_id, CASE
                   WHEN phone = $1 THEN {Match.PHONE:d}
                   WHEN lower(name) = lower($3) THEN {Match.NAME:d}
                   WHEN name ILIKE $4 THEN {Match.NAME_PREFIX:d}
                   WHEN phone LIKE $2 THEN {Match.PHONE_LAST_DIGITS:d}
                   ELSE {Match.NAME_PART:d} END AS match
        FROM leads_view
        WHERE phone = $1 OR phone LIKE $2 OR name ILIKE $5
        UNION ALL  -- the vehicles of the customers' orders (an order's lead: its own, or the reaction's link)
        SELECT l.customer_id, CASE WHEN o.vin = $12 THEN {Match.VIN:d} ELSE {Match.PLATE:d} END
        FROM leads_customer_orders o
        JOIN leads_view l ON l.lead_id = COALESCE(
            o.lead_id, (SELECT lo.lead_id FROM leads_orders lo WHERE lo.order_id = o.order_id))
        WHERE o.vin = $12 OR o.plate = $13
    ) AS hits
    GROUP BY customer_id
)
SELECT m.customer_id, m.match, newest.lead_id, newest.name, newest.phone, newest.stage, newest.grade,
       newest.owner_id, newest.team_id, counts.leads, counts.open_leads
FROM matched m
CROSS JOIN LATERAL (
    SELECT lead_id, name, phone, stage, grade, owner_id, team_id FROM leads_view
    WHERE customer_id = m.customer_id ORDER BY captured_at DESC, lead_id DESC LIMIT 1) newest
CROSS JOIN LATERAL (
    SELECT count(*) AS leads, count(*) FILTER (WHERE is_open) AS open_leads FROM leads_view
    WHERE customer_id = m.customer_id) counts
WHERE ($6 OR EXISTS (SELECT 1 FROM leads_view s WHERE s.customer_id = m.customer_id
                     AND (s.owner_id = $7 OR s.team_id = $8)))
  AND ($9::int IS NULL OR (m.match, m.customer_id) > ($9::int, $10::text))
ORDER BY m.match, m.customer_id
LIMIT $11"""


class PostgresCustomerSearch:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def search(self, terms: SearchTerms, scope: CustomerSearchScope, *, cursor: str | None, limit: int
                     ) -> Page[dict[str, Any]]:
        after = decode_cursor(CUSTOMER_SEARCH, cursor, (int, str))
        name = terms.name
        rows = await self._pool.fetch(
            _SEARCH, terms.phone,
            "%" + terms.phone_last_digits if terms.phone_last_digits else None,
            name, _like_literal(name) + "%" if name else None, "%" + _like_literal(name) + "%" if name else None,
            scope.everyone, scope.owner_id, scope.team_id, *(after or (None, None)), limit + 1, terms.vin, terms.plate)
        page = page_of(CUSTOMER_SEARCH, rows, limit, lambda r: (r["match"], r["customer_id"]))
        return Page([{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(r).items()}
                     for r in page.items], page.next_cursor)
