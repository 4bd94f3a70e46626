"""How the customer page's read model reads orders' and aftersales' public events (pure translation): which lead,
order and customer each line belongs to, what it changes in the order's state or the points balance, and what
personal data it leaves out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.leads.app.customer_history import (
    AFTERSALES_EVENTS,
    ORDERS_EVENTS,
    CustomerHistoryProjection,
    OrderChange,
    translate,
)
from shared.contracts import aftersales as a
from shared.contracts import orders as o
from shared.contracts.base import IntegrationEvent

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ID = uuid.UUID(int=1)


def read(payload: IntegrationEvent) -> tuple[object, ...]:
    r = translate(payload, event_id=ID, occurred_at=NOW)
    x = r.activity
    return x.source, x.event_type, x.lead_id, x.order_id, x.customer_ref, x.subject


def test_a_shop_checkout_keeps_the_shops_customer_id_and_leaves_the_phone_and_name_out() -> None:
    signed = o.ContractSignedV1(order_id="O1", lead_id=None, customer_id="SHOP-1", customer_name="买家",
                                customer_phone="+8613800000001", lines=[o.OrderLine(product="X", quantity=1,
                                                                                     unit_price_minor=5)],
                                total_minor=5, currency="CNY", payment_plan="full", signed_at=NOW)
    recorded = translate(signed, event_id=ID, occurred_at=NOW)
    assert read(signed) == ("orders", "ContractSigned", None, "O1", "SHOP-1", None)
    assert recorded.order == OrderChange("O1", NOW, customer_ref="SHOP-1", status="contract_signed", total_minor=5,
                                         currency="CNY", signed_at=NOW)
    assert not {"customer_phone", "customer_name", "lines"} & set(recorded.activity.summary)


def test_a_payment_sets_what_has_been_paid_and_a_refund_lowers_it() -> None:
    paid = o.PaymentReceivedV1(order_id="O1", payment_id="P1", kind="deposit", amount_minor=100, currency="CNY",
                               paid_total_minor=100, received_at=NOW)
    refund = o.RefundIssuedV1(order_id="O1", refund_id="R1", amount_minor=40, currency="CNY", reason="x",
                              paid_total_minor=60, refunded_at=NOW)
    assert [translate(e, event_id=ID, occurred_at=NOW).order.paid_minor  # type: ignore[union-attr]
            for e in (paid, refund)] == [100, 60]


def test_aftersales_lines_belong_to_the_care_plans_order_and_an_empty_customer_id_is_none() -> None:
    done = a.ReturnVisitCompletedV1(plan_id="O1", customer_id="", visit_no=1, label="D+1", score=5, scale_min=1,
                                    scale_max=5, low_score=False, late=False, completed_at=NOW)
    resolved = a.ComplaintResolvedV1(complaint_id="K1", resolution="ok", resolved_at=NOW)
    assert read(done) == ("aftersales", "ReturnVisitCompleted", None, "O1", None, None)
    assert read(resolved) == ("aftersales", "ComplaintResolved", None, None, None, "K1")


def test_points_set_the_balance_and_a_delivery_reward_names_its_order() -> None:
    award = a.PointsAwardedV1(customer_id="C1", points=10, reason="delivery", reference="delivery:O7",
                              balance_after=30, awarded_at=NOW)
    recorded = translate(award, event_id=ID, occurred_at=NOW)
    assert read(award)[3:5] == ("O7", "C1")
    assert recorded.points is not None
    assert (recorded.points.customer_ref, recorded.points.balance) == ("C1", 30)


def test_a_referral_reward_is_the_referrers_not_the_prospects_order() -> None:
    reward = a.ReferralRewardedV1(referral_id="R1", referrer_customer_id="C1", order_id="O-prospect", lead_id="L-p",
                                  points=50, rewarded_at=NOW)
    referral = a.ReferralRegisteredV1(referral_id="R1", referrer_customer_id="C1", prospect_name="朋友",
                                      prospect_phone="13800000009", registered_at=NOW)
    assert read(reward) == ("aftersales", "ReferralRewarded", None, None, "C1", "R1")
    assert read(referral) == ("aftersales", "ReferralRegistered", None, None, "C1", "R1")
    assert "prospect_phone" not in translate(referral, event_id=ID, occurred_at=NOW).activity.summary


def test_the_projection_handles_every_listed_orders_and_aftersales_event() -> None:
    handled = set(CustomerHistoryProjection(writer=None).handlers())  # type: ignore[arg-type]
    assert handled == {c.event_type for c in (*ORDERS_EVENTS, *AFTERSALES_EVENTS)}
    assert {c.producer for c in ORDERS_EVENTS} == {"orders"}
    assert {c.producer for c in AFTERSALES_EVENTS} == {"aftersales"}


def test_the_orders_vehicle_is_set_on_allocation_cleared_on_release_and_its_plate_comes_from_registration() -> None:
    allocated = o.VehicleAllocatedV1(order_id="O1", vin="LRW3E7FA5NC123456", model="MY", vehicle_status="arrived",
                                     allocated_at=NOW)
    released = o.VehicleDeallocatedV1(order_id="O1", vin="LRW3E7FA5NC123456", reason="order_cancelled",
                                      deallocated_at=NOW)
    plate = o.DeliveryChecklistItemCompletedV1(order_id="O1", item="registration", reference="沪a·12345",
                                               completed_at=NOW)
    invoice = o.DeliveryChecklistItemCompletedV1(order_id="O1", item="invoice", reference="INV-1", completed_at=NOW)
    changes = [translate(e, event_id=ID, occurred_at=NOW).order for e in (allocated, released, plate, invoice)]
    assert changes == [OrderChange("O1", NOW, vin="LRW3E7FA5NC123456"), OrderChange("O1", NOW, vin_released=True),
                       OrderChange("O1", NOW, plate="沪A12345"), None]
    assert read(invoice) == ("orders", "DeliveryChecklistItemCompleted", None, "O1", None, None)


def test_reopening_the_registration_item_releases_the_plate_and_other_items_change_no_order_state() -> None:
    plate = o.DeliveryChecklistItemReopenedV1(order_id="O1", item="registration", reason="plate of the swapped car",
                                              reopened_by="S-1", reopened_at=NOW)
    invoice = o.DeliveryChecklistItemReopenedV1(order_id="O1", item="invoice", reason="wrong name", reopened_at=NOW)
    assert translate(plate, event_id=ID, occurred_at=NOW).order == OrderChange("O1", NOW, plate_released=True)
    assert translate(invoice, event_id=ID, occurred_at=NOW).order is None
    assert read(invoice) == ("orders", "DeliveryChecklistItemReopened", None, "O1", None, None)
