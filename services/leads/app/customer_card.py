"""The customer information card (客户信息卡): edit its structured fields with history, and change the customer's
phone number keeping the dedupe index right.

Who may edit a customer is decided by the customer's leads: a caller who may work one of them (its owner, the
team's manager, a director) edits the card; one who only sees one gets 403; one who sees none gets 404.

A phone change takes the old and the new number's capture locks (in sorted order, so two changes cannot deadlock;
a capture takes one of them), refuses a number that is another customer's, moves the dedupe row
(``leads_customers``) to the new number and records LeadPhoneChanged on every lead of the customer — all in one
transaction, so a capture with the new number finds the customer's open lead right after, and one with the old
number no longer does.

A manual merge of two customers (the same person captured twice, under two numbers or before a phone change) moves
the duplicate's leads to the survivor (LeadCustomerMerged on each, so ``leads_view`` follows), points the dedupe
index's rows of the duplicate at the survivor, takes over the card fields the survivor lacks and closes the
duplicate's card — one transaction under every involved number's capture lock and both customers' register locks
(a visit registered after the merge is numbered over both customers' visits: first or repeat is the person's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from services.leads.app import access
from services.leads.app.ports import Clock, CommandContext, UnitOfWork, UnitOfWorkFactory
from services.leads.app.reception import visit_lock
from services.leads.domain import errors
from services.leads.domain.customer_card import (
    CardSchema,
    CustomerAlreadyMergedError,
    CustomerCard,
    CustomerMergeError,
)
from services.leads.domain.lead import Lead
from shared.commands import ExpectedVersion
from shared.domain.phone import normalise_phone
from shared.unit_of_work.retry import CommandRunner


@dataclass(frozen=True, slots=True)
class UpdateCustomerCard:
    """Set card fields (those given; null unsets one)."""

    customer_id: str
    changes: Annotated[Mapping[str, Any], Field(description="card fields to set (null unsets one); GET "
                                                            "/v1/customer-card/fields lists them",
                                                examples=[{"payment_intention": "loan", "competitors": ["小鹏 G6"]}])]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class ChangeCustomerPhone:
    """Change the customer's phone number."""

    customer_id: str
    phone: Annotated[str, Field(min_length=1, max_length=40, description="the new number, any common format")]
    expected_version: ExpectedVersion = None


@dataclass(frozen=True, slots=True)
class MergeCustomers:
    """Merge another customer (a duplicate record of the same person) into this one, the survivor."""

    customer_id: str
    merged_customer_id: Annotated[str, Field(min_length=1, max_length=100,
                                             description="the duplicate: its leads, phones and card move to the "
                                                         "survivor (the customer in the path)")]
    expected_version: ExpectedVersion = None


class CustomerCardHandlers:
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, schema: CardSchema) -> None:
        self._commands: CommandRunner[UnitOfWork] = CommandRunner(unit_of_work, clock)
        self._schema = schema

    async def update_card(self, command: UpdateCustomerCard, context: CommandContext) -> CustomerCard:
        async def decide(uow: UnitOfWork, now: datetime) -> CustomerCard:
            await self._customers_leads(uow, command.customer_id, context)
            card = await self._card(uow, command.customer_id, command.expected_version)
            card.update(changes=command.changes, schema=self._schema, by=context.actor, now=now)
            return card
        return await self._commands.run(decide, context, expected_version=command.expected_version)

    async def change_phone(self, command: ChangeCustomerPhone, context: CommandContext) -> CustomerCard:
        new_phone = normalise_phone(command.phone)

        async def decide(uow: UnitOfWork, now: datetime) -> CustomerCard:
            leads = await self._customers_leads(uow, command.customer_id, context)
            card = await self._card(uow, command.customer_id, command.expected_version)
            old_phone = card.phone or leads[-1].phone
            if new_phone == old_phone:
                raise errors.SamePhoneError(f"the customer's number is already {new_phone}")
            for phone in sorted({old_phone, new_phone}):  # one lock order for every phone change
                found = await uow.lock_phone(phone)
                if phone == new_phone and found.known_customer not in (None, command.customer_id):
                    raise errors.PhoneBelongsToAnotherCustomerError(
                        "the new number belongs to another customer", customer_id=found.known_customer)
            # Re-read under the locks: a capture may have added a lead of this customer meanwhile.
            for lead in await self._customers_leads(uow, command.customer_id, context):
                lead.change_phone(phone=new_phone, by=context.actor, now=now)
                uow.add(lead)
            card.change_phone(phone=new_phone, previous_phone=old_phone, by=context.actor, now=now)
            return card
        return await self._commands.run(decide, context, expected_version=command.expected_version)

    async def merge(self, command: MergeCustomers, context: CommandContext) -> CustomerCard:
        """The caller must be able to work both customers. Every phone of both takes its capture lock (sorted, as a
        phone change), so a capture sees the customers either before the merge or after it, never half-merged."""
        async def decide(uow: UnitOfWork, now: datetime) -> CustomerCard:
            survivor = await self._card(uow, command.customer_id, command.expected_version)
            if survivor.merged_into is not None:  # its leads moved on: answer for the customer it went into
                await self._customers_leads(uow, survivor.merged_into, context)
                raise CustomerAlreadyMergedError(
                    f"customer {survivor.id} was already merged into {survivor.merged_into}; merge into that one",
                    customer_id=survivor.id, survivor_id=survivor.merged_into)
            survivor_leads = await self._customers_leads(uow, command.customer_id, context)
            if command.merged_customer_id == command.customer_id:
                raise CustomerMergeError("a customer cannot be merged into itself", customer_id=command.customer_id)
            merged = await self._card(uow, command.merged_customer_id, None)
            if merged.merged_into is not None:  # its leads moved away: say so rather than "not found"
                raise CustomerAlreadyMergedError(
                    f"customer {merged.id} was already merged into {merged.merged_into}", customer_id=merged.id,
                    survivor_id=merged.merged_into)
            merged_leads = await self._customers_leads(uow, command.merged_customer_id, context)
            phones = {lead.phone for lead in survivor_leads + merged_leads} | {
                p for p in (survivor.phone, merged.phone) if p}
            for phone in sorted(phones):  # one lock order for every phone change and merge
                await uow.lock_phone(phone)
            # Then both customers' register locks (after the phone locks, as a registration takes them): a visit
            # registered meanwhile is numbered over the merged history, never beside it.
            for customer_id in sorted({survivor.id, merged.id}):
                await uow.lock(visit_lock(customer_id))
            # Re-read under the locks: a capture may have added a lead to either customer meanwhile.
            moved = await self._customers_leads(uow, command.merged_customer_id, None)
            merged_phones = sorted({lead.phone for lead in moved} | ({merged.phone} if merged.phone else set()))
            survivor.absorb(merged, lead_ids=[lead.id for lead in moved], phones=merged_phones, by=context.actor,
                            now=now)
            for lead in moved:
                lead.move_to_customer(customer_id=survivor.id, by=context.actor, now=now)
                uow.add(lead)
            return survivor
        return await self._commands.run(decide, context, expected_version=command.expected_version)

    @staticmethod
    async def _card(uow: UnitOfWork, customer_id: str, expected_version: int | None) -> CustomerCard:
        card = await uow.load(CustomerCard, customer_id, expected_version=expected_version)
        card = card or CustomerCard(customer_id)
        uow.add(card)
        return card

    @staticmethod
    async def _customers_leads(uow: UnitOfWork, customer_id: str, context: CommandContext | None) -> list[Lead]:
        """The customer's leads (oldest first), checked against the caller (none: already checked): 404 if none is
        visible to them, 403 if none is theirs to work."""
        leads = [lead for lead_id in await uow.leads_of_customer(customer_id)
                 if (lead := await uow.load(Lead, lead_id)) is not None]
        if not leads:
            raise errors.CustomerNotFoundError(f"no customer {customer_id}", customer_id=customer_id)
        if context is not None and context.caller is not None:
            access.require_customer_work(context.caller, customer_id, [
                access.LeadScope(lead.owner_id, lead.team_id, lead.pooled) for lead in leads])
        return leads
