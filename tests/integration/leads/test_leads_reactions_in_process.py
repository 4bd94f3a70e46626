"""The process manager's decisions against real PostgreSQL, without Kafka (the Kafka path is in
tests/e2e/test_leads_reactions.py): which lead a checkout lands on, and replays."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from services.leads.app.commands import CaptureLead
from shared.contracts.aftersales import ReferralRegisteredV1
from shared.contracts.orders import ContractSignedV1, DeliveredV1, OrderLine
from tests.support.leads import LeadsInProcess, ctx

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def checkout(order_id: str, phone: str) -> ContractSignedV1:
    return ContractSignedV1(order_id=order_id, lead_id=None, customer_name="买家", customer_phone=phone,
                            channel="used_car", lines=[OrderLine(product="X", quantity=1, unit_price_minor=1)],
                            total_minor=1, currency="CNY", payment_plan="financing", signed_at=NOW)


async def leads_of(app: LeadsInProcess, phone: str) -> list[dict[str, object]]:
    return await app.queries.leads_of_phone("+86" + phone.replace(" ", ""))


async def test_a_second_checkout_of_a_customer_whose_lead_is_already_contracted_makes_a_new_lead(
    leads: LeadsInProcess, phone: Callable[[], str],
) -> None:
    number = phone()
    first = (await leads.capture(CaptureLead(name="客户", phone=number, channel="website"), ctx())).lead
    await leads.deliver(checkout("O-1", number), key="O-1")
    await leads.deliver(checkout("O-2", number), key="O-2")

    rows = await leads_of(leads, number)
    assert len(rows) == 2
    linked, created = rows
    assert (linked["lead_id"], linked["stage"], linked["order_id"]) == (first.id, "contract_signed", "O-1")
    assert (created["stage"], created["order_id"], created["channel"]) == ("contract_signed", "O-2", "used_car")
    assert created["customer_id"] == first.customer_id


async def test_a_delivered_checkout_lead_is_closed_and_replays_change_nothing(
    leads: LeadsInProcess, phone: Callable[[], str],
) -> None:
    number = phone()
    await leads.deliver(checkout("O-9", number), key="O-9")
    await leads.deliver(checkout("O-9", number), key="O-9")
    delivered = DeliveredV1(order_id="O-9", total_minor=1, currency="CNY", delivered_at=NOW)
    await leads.deliver(delivered, key="O-9")
    await leads.deliver(delivered, key="O-9")

    (row,) = await leads_of(leads, number)
    assert row["stage"] == "delivered"
    assert (await leads.history_types(str(row["lead_id"]))) == ["LeadCreated", "StageAdvanced"]


async def test_a_referral_replayed_under_a_new_event_id_is_still_one_lead(
    leads: LeadsInProcess, phone: Callable[[], str],
) -> None:
    number = phone()
    referral = ReferralRegisteredV1(referral_id="R-in-1", referrer_customer_id="C-1", prospect_name="朋友",
                                    prospect_phone=number, registered_at=NOW)
    await leads.deliver(referral, key="C-1")
    await leads.deliver(referral, key="C-1")

    (row,) = await leads_of(leads, number)
    assert row["channel"] == "referral"
