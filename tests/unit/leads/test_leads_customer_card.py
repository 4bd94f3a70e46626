"""The customer information card on the in-memory unit of work: structured fields from the configuration, every
change an event with the old and new value, every bad field named at once with nothing written, and a phone
change that moves the dedupe index (a capture with the new number finds the customer's lead, the old one no
longer does)."""

from __future__ import annotations

from typing import Any

import pytest

from services.leads.app.commands import CaptureLead
from services.leads.app.customer_card import ChangeCustomerPhone, MergeCustomers, UpdateCustomerCard
from services.leads.app.lead_commands import InvalidateLead
from services.leads.app.organisation import RegisterConsultant, RegisterTeam
from services.leads.app.ports import CommandContext
from services.leads.domain import errors
from services.leads.domain.customer_card import CardFieldsError, CustomerAlreadyMergedError, CustomerMergeError
from services.leads.domain.lead import Lead
from shared.auth.errors import ForbiddenError
from shared.auth.principal import Principal
from shared.domain import InvalidFieldError
from shared.eventstore import ConcurrencyError
from tests.support.showroom_floor import ShowroomFloor, as_caller


def ctx(actor: str | None = "c1") -> CommandContext:
    return CommandContext(correlation_id="corr", actor=actor)


class Cards(ShowroomFloor):
    async def lead(self, phone: str = "13800000001", channel: str = "website") -> Lead:
        return (await self.capture(CaptureLead(name="王", phone=phone, channel=channel), ctx())).lead

    def card_events(self, customer_id: str) -> list[Any]:
        return self.store.events.events(f"customer-{customer_id}")


@pytest.fixture
async def cards() -> Cards:
    world = Cards()
    await world.organisation.register_team(RegisterTeam("t1", "t1"), ctx())
    await world.organisation.register_consultant(RegisterConsultant("c1", "c1", "t1"), ctx())
    return world


NEEDS = {"gender": "female", "age_band": "35_44", "region": " 上海浦东 ", "budget_min_cny": 250_000,
         "budget_max_cny": 320_000, "intended_model": "Model Y", "payment_intention": "loan", "has_trade_in": True,
         "trade_in_vehicle": "2016 大众帕萨特", "competitors": ["小鹏 G6", " ", "问界 M7"],
         "needs_analysis": {"passengers": "一家四口", "charging": "小区有充电桩"}}


async def test_filling_the_card_records_each_field_from_nothing_to_its_value(cards: Cards) -> None:
    lead = await cards.lead()
    card = await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, NEEDS), ctx())
    assert card.values["region"] == "上海浦东"
    assert card.values["competitors"] == ["小鹏 G6", "问界 M7"]
    [event] = cards.card_events(lead.customer_id)
    assert event.event_type == "CustomerCardUpdated"
    assert event.data["changes"]["payment_intention"] == {"from": None, "to": "loan"}
    assert event.data["updated_by"] == "c1"


async def test_a_later_edit_records_only_what_changed_and_unsetting_is_a_change(cards: Cards) -> None:
    lead = await cards.lead()
    await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, NEEDS), ctx())
    card = await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {
        "payment_intention": "cash", "region": "上海浦东", "trade_in_vehicle": None}), ctx())
    again = await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {"payment_intention": "cash"}), ctx())
    events = cards.card_events(lead.customer_id)
    assert len(events) == 2  # the identical repeat recorded nothing
    assert events[1].data["changes"] == {"payment_intention": {"from": "loan", "to": "cash"},
                                         "trade_in_vehicle": {"from": "2016 大众帕萨特", "to": None}}
    assert "trade_in_vehicle" not in card.values
    assert again.version == card.version == 2


async def test_every_bad_field_is_named_at_once_and_nothing_is_written(cards: Cards) -> None:
    lead = await cards.lead()
    with pytest.raises(CardFieldsError) as refused:
        await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {
            "gender": "robot", "budget_min_cny": -1, "has_trade_in": "yes", "competitors": ["a"] * 6,
            "needs_analysis": {"horoscope": "leo"}, "shoe_size": 42, "region": "x" * 101,
            "intended_model": "Model 3"}), ctx())
    assert {name for name, _ in refused.value.problems} == {
        "gender", "budget_min_cny", "has_trade_in", "competitors", "needs_analysis", "shoe_size", "region"}
    assert dict(refused.value.problems)["gender"] == "must be one of male, female, undisclosed"
    assert refused.value.http_status == 422
    assert cards.card_events(lead.customer_id) == []


async def test_a_budget_range_must_not_be_upside_down_even_across_edits(cards: Cards) -> None:
    lead = await cards.lead()
    await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {"budget_max_cny": 200_000}), ctx())
    with pytest.raises(CardFieldsError) as refused:
        await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {"budget_min_cny": 300_000}), ctx())
    assert [name for name, _ in refused.value.problems] == ["budget_min_cny"]


async def test_a_stale_pinned_card_version_is_a_conflict(cards: Cards) -> None:
    lead = await cards.lead()
    await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {"gender": "male"}), ctx())
    with pytest.raises(ConcurrencyError):
        await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {"gender": "female"},
                                                         expected_version=0), ctx())


async def test_only_who_may_work_a_customers_lead_edits_the_card(cards: Cards) -> None:
    lead = await cards.lead()
    with pytest.raises(errors.CustomerNotFoundError):
        await cards.cards.update_card(UpdateCustomerCard("nobody", {"gender": "male"}), ctx())
    with pytest.raises(errors.CustomerNotFoundError):  # another team's consultant does not see the customer
        await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {"gender": "male"}),
                                      as_caller("c9", "consultant", "t2"))
    with pytest.raises(ForbiddenError):  # a system that reads leads may not edit them
        await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {"gender": "male"}), CommandContext(
            correlation_id="corr", actor="bi", caller=Principal(subject="bi", scopes=frozenset({"leads:read"}))))
    card = await cards.cards.update_card(UpdateCustomerCard(lead.customer_id, {"gender": "male"}),
                                         as_caller("c1", "consultant"))
    assert card.values == {"gender": "male"}


async def test_a_phone_change_moves_the_dedupe_index_to_the_new_number(cards: Cards) -> None:
    lead = await cards.lead("13800000001")
    await cards.cards.change_phone(ChangeCustomerPhone(lead.customer_id, "139 0000 0009"), ctx())
    moved = await cards.load_lead(lead.id)
    assert moved.phone == "+8613900000009"
    assert cards.store.tables.customers == {"+8613900000009": lead.customer_id}
    same_person = await cards.capture(CaptureLead(name="王", phone="13900000009", channel="showroom"), ctx())
    assert (same_person.outcome, same_person.lead.id) == ("duplicate_contact", lead.id)
    somebody_else = await cards.capture(CaptureLead(name="李", phone="13800000001", channel="showroom"), ctx())
    assert somebody_else.outcome == "created"
    assert somebody_else.lead.customer_id != lead.customer_id
    [changed] = cards.card_events(lead.customer_id)
    assert (changed.data["previous_phone"], changed.data["phone"]) == ("+8613800000001", "+8613900000009")


async def test_a_phone_change_follows_every_lead_of_the_customer_and_refuses_anothers_number(
        cards: Cards) -> None:
    first = await cards.lead("13800000001")
    await cards.commands.invalidate_lead(InvalidateLead(first.id, "wrong number"), ctx())
    second = await cards.lead("13800000001")
    assert second.customer_id == first.customer_id
    other = await cards.lead("13700000007")
    with pytest.raises(errors.PhoneBelongsToAnotherCustomerError):
        await cards.cards.change_phone(ChangeCustomerPhone(first.customer_id, "13700000007"), ctx())
    with pytest.raises(errors.SamePhoneError):
        await cards.cards.change_phone(ChangeCustomerPhone(first.customer_id, "+86 138 0000 0001"), ctx())
    with pytest.raises(InvalidFieldError):
        await cards.cards.change_phone(ChangeCustomerPhone(first.customer_id, "12"), ctx())
    assert cards.card_events(first.customer_id) == []
    await cards.cards.change_phone(ChangeCustomerPhone(first.customer_id, "13600000006"), ctx())
    assert {(await cards.load_lead(i)).phone for i in (first.id, second.id)} == {"+8613600000006"}
    assert (await cards.load_lead(other.id)).phone == "+8613700000007"


async def test_a_merge_moves_the_duplicates_leads_phones_and_missing_fields_to_the_survivor(cards: Cards) -> None:
    survivor = await cards.lead("13800000001")
    duplicate = await cards.lead("13700000007")
    await cards.cards.update_card(UpdateCustomerCard(survivor.customer_id, {"usage": "family"}), ctx())
    await cards.cards.update_card(UpdateCustomerCard(duplicate.customer_id, {"usage": "commute",
                                                                             "payment_intention": "loan"}), ctx())
    merged = await cards.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx())
    assert merged.values == {"usage": "family", "payment_intention": "loan"}  # the survivor's own values win
    assert (await cards.load_lead(duplicate.id)).customer_id == survivor.customer_id
    assert cards.store.tables.customers == {"+8613800000001": survivor.customer_id,
                                            "+8613700000007": survivor.customer_id}
    again = await cards.capture(CaptureLead(name="王", phone="13700000007", channel="showroom"), ctx())
    assert again.lead.customer_id == survivor.customer_id  # the duplicate's number finds the survivor
    [merge_event] = [e for e in cards.card_events(survivor.customer_id) if e.event_type == "CustomerMerged"]
    assert merge_event.data["merged_customer_id"] == duplicate.customer_id
    assert merge_event.data["lead_ids"] == [duplicate.id]
    assert [e.event_type for e in cards.card_events(duplicate.customer_id)][-1] == "CustomerMergedInto"


async def test_merging_into_itself_or_an_already_merged_customer_is_refused_with_nothing_written(
        cards: Cards) -> None:
    survivor = await cards.lead("13800000001")
    duplicate = await cards.lead("13700000007")
    with pytest.raises(CustomerMergeError):
        await cards.cards.merge(MergeCustomers(survivor.customer_id, survivor.customer_id), ctx())
    assert cards.card_events(survivor.customer_id) == []
    await cards.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx())
    third = await cards.lead("13600000006")
    written = len(cards.card_events(third.customer_id))
    # The duplicate is closed: a merge naming it, either way, says into whom it went.
    for pair in ((third.customer_id, duplicate.customer_id), (duplicate.customer_id, third.customer_id)):
        with pytest.raises(CustomerAlreadyMergedError) as refused:
            await cards.cards.merge(MergeCustomers(*pair), ctx())
        assert refused.value.details["survivor_id"] == survivor.customer_id
    assert len(cards.card_events(third.customer_id)) == written


async def test_only_who_may_work_both_customers_merges_them(cards: Cards) -> None:
    survivor = await cards.lead("13800000001")
    duplicate = await cards.lead("13700000007")
    with pytest.raises(errors.CustomerNotFoundError):  # another team's consultant does not see them
        await cards.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id),
                                as_caller("c9", "consultant", "t2"))
    with pytest.raises(ForbiddenError):  # a system that reads leads may not merge them
        await cards.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), CommandContext(
            correlation_id="corr", actor="bi", caller=Principal(subject="bi", scopes=frozenset({"leads:read"}))))
    assert (await cards.load_lead(duplicate.id)).customer_id == duplicate.customer_id
    await cards.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), as_caller("m1", "manager"))
    assert (await cards.load_lead(duplicate.id)).customer_id == survivor.customer_id


async def test_after_a_merge_the_next_visit_is_numbered_over_both_customers_visits(cards: Cards) -> None:
    from services.leads.app.reception import RegisterVisit

    survivor, duplicate = await cards.lead("13800000001"), await cards.lead("13900000002")
    for lead in (survivor, duplicate, duplicate):
        await cards.reception.register_visit(RegisterVisit(party_size=1, purpose="first_look", lead_id=lead.id),
                                             ctx())
    await cards.cards.merge(MergeCustomers(survivor.customer_id, duplicate.customer_id), ctx())
    after = await cards.reception.register_visit(RegisterVisit(party_size=1, purpose="negotiation",
                                                               lead_id=duplicate.id), ctx())
    assert (after.visit.customer_id, after.visit.visit_number, after.visit.first_visit) == (
        survivor.customer_id, 4, False)
