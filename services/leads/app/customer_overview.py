"""The one customer page (issue 18): everything known about a customer, across the services, on one timeline with
a summary on top.

The leads service owns the customer, so it composes the page: its own streams (every lead's history — capture,
grades, follow-ups, appointments, showroom visits, test drives, stages — and the customer card's changes) and the
read model of what orders and aftersales published about the customer (app/customer_history.py: quotes, the
contract, payments and refunds, delivery, care plans, return visits, complaints, referrals, points). A merged
duplicate's leads are the survivor's, and so is what was published under the duplicate's id.

Who may open it: whoever may work one of the customer's leads — its owner, that team's manager, a director (the
card's rule); a customer none of whose leads the caller sees does not exist for them (404), one they see but may not
work is 403. Phones are shown in full only to who sees one of the leads' full phone.

The timeline is also served page by page, newest first (:meth:`CustomerOverview.timeline`, ``GET
/v1/customers/{id}/timeline``), with the kernel's keyset cursor (shared/pagination.py) over ``(at, id)``: an entry's
``id`` names its stream and version (``leads/<lead>/<version>``, ``card/<customer>/<version>``) or the other
service's event (``orders/<event id>``), so the key is unique and what is added later never shifts a page. The page
is cut from the customer's whole history, composed as for the overview: one customer's history is hundreds of
entries, and it lives in several streams and a read model that no single query orders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from services.leads.app import access
from services.leads.app.ports import CustomerQueries, LeadHistory
from services.leads.domain.customer_card import CustomerCard
from shared.auth.principal import Principal
from shared.domain.phone import mask_phone_for_display
from shared.pagination import Page, decode_cursor, page_of

TIMELINE_LIST = "customer-timeline"


class CustomerHistoryQueries(Protocol):
    async def customer_activity(self, customer_id: str, lead_ids: list[str]) -> dict[str, Any]: ...


def _open(lead: dict[str, Any]) -> bool:
    return bool(lead["status"] == "open" and lead["stage"] != "delivered")


def _moment(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])


def _key(entry: dict[str, Any]) -> tuple[datetime, str]:
    return _moment(entry), entry["id"]


class CustomerOverview:
    def __init__(self, *, customers: CustomerQueries, leads: LeadHistory, activity: CustomerHistoryQueries) -> None:
        self._customers = customers
        self._leads = leads
        self._activity = activity

    async def overview(self, caller: Principal, customer_id: str) -> dict[str, Any]:
        leads, full_phone, card, activity, timeline = await self._compose(caller, customer_id)
        timeline.sort(key=_moment)  # stable: a stream's own order holds within one instant

        newest = leads[-1]
        orders = [{**o, "balance_minor": None if o["total_minor"] is None else o["total_minor"] - o["paid_minor"]}
                  for o in activity["orders"]]
        balances: dict[str, int] = {}
        for order in orders:
            if order["status"] != "cancelled" and order["balance_minor"] and order["currency"]:
                balances[order["currency"]] = balances.get(order["currency"], 0) + order["balance_minor"]
        return {
            "customer_id": customer_id,
            "name": newest["name"],
            "phone": newest["phone"] if full_phone else mask_phone_for_display(newest["phone"]),
            "merged_customer_ids": activity["merged_customer_ids"],
            "summary": {
                "open_leads": [self._lead(r) for r in leads if _open(r)],
                "leads": [self._lead(r) for r in leads],
                "orders": orders,
                "balance_due_minor": balances,
                "points": activity["points"],
                "card": card.values,
            },
            "timeline": timeline,
        }

    async def timeline(self, caller: Principal, customer_id: str, *, cursor: str | None, limit: int
                       ) -> Page[dict[str, Any]]:
        """One page of the customer's timeline, newest first; the overview's access rule."""
        after = decode_cursor(TIMELINE_LIST, cursor, (datetime, str))
        *_, timeline = await self._compose(caller, customer_id)
        timeline.sort(key=_key, reverse=True)
        if after is not None:
            timeline = [entry for entry in timeline if _key(entry) < after]
        return page_of(TIMELINE_LIST, timeline[:limit + 1], limit, _key)

    async def _compose(self, caller: Principal, customer_id: str) -> tuple[
            list[dict[str, Any]], bool, CustomerCard, dict[str, Any], list[dict[str, Any]]]:
        """The customer's leads (after the access check), whether the caller sees full phones, the card, the other
        services' read model and the timeline's entries (unsorted)."""
        leads = await self._customers.customer_leads(customer_id)
        access.require_customer_work(caller, customer_id, [
            access.LeadScope(r["owner_id"], r["team_id"], r["pooled"]) for r in leads])
        full_phone = any(access.sees_full_phone(caller, owner_id=r["owner_id"], team_id=r["team_id"]) for r in leads)
        card, card_history = await self._customers.customer_card(customer_id)
        activity = await self._activity.customer_activity(customer_id, [r["lead_id"] for r in leads])

        timeline: list[dict[str, Any]] = []
        for lead in leads:
            timeline += [self._own(entry, f"leads/{lead['lead_id']}", lead["lead_id"], full_phone)
                         for entry in await self._leads.history(lead["lead_id"])]
        timeline += [self._own(entry, f"card/{customer_id}", None, full_phone) for entry in card_history]
        timeline += [{"id": f"{e['source']}/{e['event_id']}", "at": e["occurred_at"], "source": e["source"],
                      "event_type": e["event_type"], "lead_id": e["lead_id"], "order_id": e["order_id"],
                      "subject": e["subject"], "actor": None, "data": e["summary"]} for e in activity["events"]]
        return leads, full_phone, card, activity, timeline

    @staticmethod
    def _lead(row: dict[str, Any]) -> dict[str, Any]:
        return {k: row[k] for k in ("lead_id", "status", "stage", "grade", "owner_id", "team_id", "channel",
                                    "captured_at", "last_activity_at", "order_id")} | {"open": _open(row)}

    @staticmethod
    def _own(entry: dict[str, Any], stream: str, lead_id: str | None, full_phone: bool) -> dict[str, Any]:
        shown = entry if full_phone else access.masked_entry(entry)
        return {"id": f"{stream}/{entry['version']}", "at": shown["occurred_at"], "source": "leads",
                "event_type": shown["event_type"],
                "lead_id": lead_id, "order_id": None, "subject": None, "actor": shown["actor"],
                "data": shown["data"]}
