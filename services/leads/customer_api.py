"""HTTP API of the customer information card (leads service). Thin, like ``api.py``: a card update names every bad
field at once (422 ``fields``), a phone change answers 409 ``phone_belongs_to_another_customer`` or
``same_phone``, a merge 409 ``merge_into_itself`` or ``customer_already_merged``; a customer none of whose leads the
caller may see is 404."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.leads.app import access
from services.leads.app import customer_card as cc
from services.leads.app import customer_search as cs
from services.leads.app.customer_overview import CustomerOverview
from services.leads.app.ports import CustomerQueries
from services.leads.domain.customer_card import CustomerCard
from shared.auth.http import AUTHENTICATED, CALLER, Caller
from shared.auth.principal import Principal
from shared.domain.phone import mask_phone_for_display
from shared.pagination import DEFAULT_PAGE_SIZE
from shared.runtime.command_body import CommandBody, command_body
from shared.runtime.http import Correlation
from shared.runtime.http import command_context as _context
from shared.runtime.openapi import error_responses
from shared.runtime.params import PageCursor, PageLimit

# The request bodies are the commands (shared/runtime/command_body.py).
if TYPE_CHECKING:
    UpdateCardBody = CommandBody[cc.UpdateCustomerCard]
    ChangePhoneBody = CommandBody[cc.ChangeCustomerPhone]
    MergeBody = CommandBody[cc.MergeCustomers]
else:
    UpdateCardBody = command_body(cc.UpdateCustomerCard, path=("customer_id",))
    ChangePhoneBody = command_body(cc.ChangeCustomerPhone, path=("customer_id",))
    MergeBody = command_body(cc.MergeCustomers, path=("customer_id",))


class TimelineEntry(BaseModel):
    id: str = Field(description="unique on the customer's timeline: the stream and version "
                                "(leads/<lead>/<version>, card/<customer>/<version>) or <service>/<event id>")
    at: str = Field(description="when it happened (ISO 8601)")
    source: str = Field(description="leads, orders or aftersales")
    event_type: str
    lead_id: str | None
    order_id: str | None
    subject: str | None = Field(description="the quote, complaint or referral an orders/aftersales event is about")
    actor: str | None
    data: dict[str, Any]


class TimelinePage(BaseModel):
    customer_id: str
    timeline: list[TimelineEntry] = Field(description="newest first")
    next_cursor: str | None = Field(description="send as ``cursor`` for the next (older) page; null on the last")


class CardView(BaseModel):
    customer_id: str
    fields: dict[str, Any]
    phone: str | None = Field(description="the number set through the card, if it was changed (masked unless the "
                                          "caller sees the customer's phone)")
    version: int


def card_router(*, cards: cc.CustomerCardHandlers, queries: CustomerQueries, search: cs.CustomerSearch,
                overview: CustomerOverview, card_fields: list[dict[str, Any]]) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["customers"], dependencies=AUTHENTICATED)

    async def full_phone(caller: Principal, customer_id: str) -> bool:
        return any(access.sees_full_phone(caller, owner_id=row["owner_id"], team_id=row["team_id"])
                   for row in await queries.customer_leads(customer_id))

    async def view(caller: Principal, card: CustomerCard) -> CardView:
        phone = card.phone if card.phone is None or await full_phone(caller, card.id) else \
            mask_phone_for_display(card.phone)
        return CardView(customer_id=card.id, fields=card.values, phone=phone, version=card.version)

    @router.get("/customers/search", responses=error_responses(403))
    async def search_customers(
            caller: Caller,
            q: Annotated[str, Query(max_length=cs.MAX_QUERY_LENGTH, description=(
                "a name (or its start, or a part of it), a phone number in any format, or its last 4–10 digits"),
                examples=["王小明", "+86 138-1234-5678", "5678"])],
            cursor: PageCursor = None, limit: PageLimit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """Customers the caller may work (the owner of one of their leads, that team's manager, a director) matching
        ``q``, best match first (``match``: phone, name, name_prefix, phone_last_digits, name_part), one row per
        customer with their newest lead; phones masked outside need-to-know. 403 for callers who are not on the
        sales floor; 422 ``q`` when it holds nothing to look for."""
        scope = cs.customer_search_scope(caller)
        page = await search.search(cs.search_terms(q), scope, cursor=cursor, limit=limit)
        return {"customers": [_found(caller, row) for row in page.items], "next_cursor": page.next_cursor}

    @router.get("/customers/{customer_id}/overview", responses=error_responses(403))
    async def customer_overview(customer_id: str, caller: Caller) -> dict[str, Any]:
        """The one customer page: ``summary`` (open leads with stage, grade and owner; every lead; orders with
        status, total, paid and balance; the balance due per currency; loyalty points; the card's fields) and the
        ``timeline`` in time order, whole (kept for existing callers; ``GET /v1/customers/{id}/timeline`` pages it,
        newest first) — the leads' own history (capture, grades, follow-ups, appointments, showroom
        visits, test drives, stages), the card's changes, and what orders (quotes, contract, payments, refunds,
        delivery) and aftersales (care plan, return visits, complaints, referrals, points) published about the
        customer; each entry says its ``source``. A merged duplicate's history is the survivor's. The owner of one
        of the customer's leads, that team's manager or a director (403 for others who see a lead; 404 when no lead
        is visible)."""
        return await overview.overview(caller, customer_id)

    @router.get("/customers/{customer_id}/timeline", response_model=TimelinePage, responses=error_responses(403))
    async def customer_timeline(customer_id: str, caller: Caller, cursor: PageCursor = None,
                                limit: PageLimit = DEFAULT_PAGE_SIZE) -> TimelinePage:
        """The customer page's timeline a page at a time, **newest first**: the entries of the overview's
        ``timeline`` (each with its unique ``id``), ``limit`` of them (1–200, default 50); ``next_cursor`` fetches
        the older ones and stays exact while new entries arrive (a keyset cursor: 422 ``cursor`` when it is not one
        this list gave out). The overview's access rule (403 for who sees a lead but may not work the customer; 404
        when no lead is visible); phones masked as on the overview."""
        page = await overview.timeline(caller, customer_id, cursor=cursor, limit=limit)
        return TimelinePage(customer_id=customer_id, timeline=[TimelineEntry(**e) for e in page.items],
                            next_cursor=page.next_cursor)

    @router.get("/customers/{customer_id}/card")
    async def get_card(customer_id: str, caller: Caller) -> dict[str, Any]:
        """The customer's card and its history (every change: who, when, from what to what)."""
        leads = await queries.customer_leads(customer_id)
        access.require_customer_visible(caller, customer_id, [
            access.LeadScope(r["owner_id"], r["team_id"], r["pooled"]) for r in leads])
        card, history = await queries.customer_card(customer_id)
        shown = (await view(caller, card)).model_dump(mode="json")
        if not await full_phone(caller, customer_id):
            history = [access.masked_entry(entry) for entry in history]
        return {**shown, "lead_ids": [r["lead_id"] for r in leads], "history": history}

    @router.patch("/customers/{customer_id}/card", response_model=CardView, responses=error_responses(403))
    async def update_card(customer_id: str, body: UpdateCardBody, x_correlation_id: Correlation = None,
                          caller: Principal = CALLER) -> CardView:
        """Set card fields (those given; null unsets). Only what differs is recorded, as one event with each
        field's old and new value. 422 names every bad field; nothing is written then."""
        card = await cards.update_card(body.to_command(customer_id=customer_id), _context(x_correlation_id, caller))
        return await view(caller, card)

    @router.post("/customers/{customer_id}/phone", response_model=CardView, responses=error_responses(403))
    async def change_phone(customer_id: str, body: ChangePhoneBody, x_correlation_id: Correlation = None,
                           caller: Principal = CALLER) -> CardView:
        """Change the customer's number: every lead of the customer takes it, and dedupe follows (captures with
        the new number find the customer, the old number is free)."""
        card = await cards.change_phone(body.to_command(customer_id=customer_id), _context(x_correlation_id, caller))
        return await view(caller, card)

    @router.post("/customers/{customer_id}/merge", response_model=CardView, responses=error_responses(403, 409))
    async def merge_customers(customer_id: str, body: MergeBody, x_correlation_id: Correlation = None,
                              caller: Principal = CALLER) -> CardView:
        """Merge a duplicate customer record into this one (the survivor): the duplicate's leads, phones and card
        fields the survivor lacks move here, captures with the duplicate's numbers find the survivor, and the
        duplicate's card is closed (404 after). 409 ``merge_into_itself`` or ``customer_already_merged`` (the answer
        names the survivor to merge into)."""
        card = await cards.merge(body.to_command(customer_id=customer_id), _context(x_correlation_id, caller))
        return await view(caller, card)

    @router.get("/customer-card/fields")
    async def list_card_fields() -> dict[str, Any]:
        return {"fields": card_fields}

    return router


def _found(caller: Principal, row: dict[str, Any]) -> dict[str, Any]:
    phone = row["phone"] if access.sees_full_phone(caller, owner_id=row["owner_id"], team_id=row["team_id"]) else \
        mask_phone_for_display(row["phone"])
    return {**row, "phone": phone, "match": cs.Match(row["match"]).name.lower()}
