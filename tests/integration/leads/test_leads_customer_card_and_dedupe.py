"""The customer card against real PostgreSQL: edits are events with their old and new values, and a phone change
keeps the dedupe index right in the SQL rules — a capture with the new number lands on the customer's open lead,
one with the old number makes a new customer — even with a capture of the new number racing the change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from services.leads.app.commands import CaptureLead
from services.leads.app.customer_card import ChangeCustomerPhone, MergeCustomers, UpdateCustomerCard
from services.leads.domain.customer_card import CardFieldsError
from tests.support.leads import LeadsInProcess, ctx

pytestmark = pytest.mark.integration


def e164(typed: str) -> str:
    return "+86" + typed.replace(" ", "")


async def test_card_edits_are_stored_with_their_history(leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    lead = (await leads.capture(CaptureLead(name="钱", phone=phone(), channel="showroom"), ctx())).lead
    await leads.cards.update_card(UpdateCustomerCard(lead.customer_id, {"payment_intention": "loan"}), ctx("c1"))
    await leads.cards.update_card(UpdateCustomerCard(lead.customer_id, {"payment_intention": "lease",
                                                                        "usage": "family"}), ctx("c1"))
    with pytest.raises(CardFieldsError):
        await leads.cards.update_card(UpdateCustomerCard(lead.customer_id, {"usage": "racing"}), ctx("c1"))
    card, history = await leads.queries.customer_card(lead.customer_id)
    assert card.values == {"payment_intention": "lease", "usage": "family"}
    assert [h["data"]["changes"] for h in history] == [  # type: ignore[index]
        {"payment_intention": {"from": None, "to": "loan"}},
        {"payment_intention": {"from": "loan", "to": "lease"}, "usage": {"from": None, "to": "family"}}]


async def test_after_a_phone_change_the_new_number_finds_the_customer_and_the_old_one_is_free(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    old, new = phone(), phone()
    lead = (await leads.capture(CaptureLead(name="孙", phone=old, channel="showroom"), ctx())).lead
    await leads.cards.change_phone(ChangeCustomerPhone(lead.customer_id, new), ctx("c1"))
    row = await leads.queries.lead_row(lead.id)
    assert row is not None
    assert row["phone"] == e164(new)
    assert await leads.pool.fetchval("SELECT customer_id FROM leads_customers WHERE phone = $1",
                                     e164(new)) == lead.customer_id
    assert await leads.pool.fetchval("SELECT count(*) FROM leads_customers WHERE phone = $1", e164(old)) == 0
    again = await leads.capture(CaptureLead(name="孙", phone=new, channel="phone"), ctx())
    stranger = await leads.capture(CaptureLead(name="周", phone=old, channel="phone"), ctx())
    assert (again.outcome, again.lead.id) == ("duplicate_contact", lead.id)
    assert stranger.outcome == "created"
    assert stranger.lead.customer_id != lead.customer_id
    assert "LeadPhoneChanged" in await leads.history_types(lead.id)


async def test_a_capture_of_the_new_number_racing_the_change_never_makes_a_second_customer(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    for _ in range(5):
        old, new = phone(), phone()
        lead = (await leads.capture(CaptureLead(name="吴", phone=old, channel="showroom"), ctx())).lead
        change = leads.cards.change_phone(ChangeCustomerPhone(lead.customer_id, new), ctx("c1"))
        capture = leads.capture(CaptureLead(name="吴", phone=new, channel="phone"), ctx())
        results = await asyncio.gather(change, capture, return_exceptions=True)
        owners = await leads.pool.fetch("SELECT customer_id FROM leads_customers WHERE phone = $1", e164(new))
        assert len(owners) == 1
        captured = results[1]
        if isinstance(results[0], Exception):  # the capture won: the number became another customer's
            assert type(results[0]).__name__ == "PhoneBelongsToAnotherCustomerError"
            assert owners[0]["customer_id"] != lead.customer_id
        else:  # the change won: the capture is a touchpoint on the customer's lead
            assert owners[0]["customer_id"] == lead.customer_id
            assert not isinstance(captured, Exception)
            assert captured.lead.id == lead.id  # type: ignore[union-attr]


async def test_after_a_merge_both_numbers_find_the_survivor_in_the_sql_rules(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    first, second = phone(), phone()
    survivor = (await leads.capture(CaptureLead(name="郑", phone=first, channel="showroom"), ctx())).lead
    duplicate = (await leads.capture(CaptureLead(name="郑", phone=second, channel="phone"), ctx())).lead
    assert duplicate.customer_id != survivor.customer_id
    await leads.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx("c1"))
    owners = await leads.pool.fetch("SELECT phone, customer_id FROM leads_customers WHERE phone = ANY($1)",
                                    [e164(first), e164(second)])
    assert {r["phone"]: r["customer_id"] for r in owners} == {e164(first): survivor.customer_id,
                                                             e164(second): survivor.customer_id}
    row = await leads.queries.lead_row(duplicate.id)
    assert row is not None
    assert row["customer_id"] == survivor.customer_id  # the read model follows LeadCustomerMerged
    again = await leads.capture(CaptureLead(name="郑", phone=second, channel="website"), ctx())
    assert again.lead.customer_id == survivor.customer_id
    assert "LeadCustomerMerged" in await leads.history_types(duplicate.id)


async def test_a_capture_racing_a_merge_lands_on_one_customer_either_way(
        leads: LeadsInProcess, phone: Callable[[], str]) -> None:
    for _ in range(5):
        first, second = phone(), phone()
        survivor = (await leads.capture(CaptureLead(name="冯", phone=first, channel="showroom"), ctx())).lead
        duplicate = (await leads.capture(CaptureLead(name="冯", phone=second, channel="phone"), ctx())).lead
        merge = leads.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx("c1"))
        capture = leads.capture(CaptureLead(name="冯", phone=second, channel="website"), ctx())
        merged, captured = await asyncio.gather(merge, capture)
        assert merged.id == survivor.customer_id
        # Before the merge the capture joined the duplicate's lead (which then moved), after it the survivor's:
        # either way every lead of the number is the survivor's now.
        rows = await leads.pool.fetch("SELECT DISTINCT customer_id FROM leads_view WHERE phone = $1", e164(second))
        assert [r["customer_id"] for r in rows] == [survivor.customer_id]
        assert (captured.outcome, captured.lead.id) == ("duplicate_contact", duplicate.id)
