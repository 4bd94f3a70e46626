"""Translation of stored orders events into public contracts (the relay's translator).

Every stored type is decided here, published or private. Quote events are keyed by quote id, order events by
order id (the stream's aggregate id), so Kafka keeps each aggregate's events in order.
"""

from __future__ import annotations

from typing import Any

from shared.contracts.base import IntegrationEvent
from shared.contracts.orders import (
    ContractSignedV1,
    DeliveredV1,
    DeliveryChecklistItemCompletedV1,
    DeliveryChecklistItemReopenedV1,
    DeliveryScheduledV1,
    FinancingApprovedV1,
    FinancingDeclinedV1,
    LineOption,
    OrderCancelledV1,
    OrderLine,
    PaymentReceivedV1,
    QuoteAcceptedV1,
    QuoteExpiredV1,
    QuoteIssuedV1,
    QuoteLine,
    QuoteRevisedV1,
    RefundIssuedV1,
    VehicleAllocatedV1,
    VehicleDeallocatedV1,
    VehicleRegisteredV1,
    VehicleStatusChangedV1,
)
from shared.eventstore import RecordedEvent
from shared.messaging.relay import OutboundMessage, outbound_message

SOURCE = "salesflow/orders"

# Stored types that stay inside the service, with the reason.
PRIVATE = {
    "QuoteConverted": "the public fact is ContractSigned (it carries quote_id)",
    "PriceListVersionPublished": "the price list is orders' own; quote and order lines carry kind, catalogue id "
                                 "and list price",
    "VehicleReserved": "the public fact is VehicleAllocated on the order (it carries the VIN)",
    "VehicleReleased": "the public fact is VehicleDeallocated on the order",
    "VehicleHandedOver": "the public fact is Delivered on the order (it carries the VIN)",
}
# Streams keyed by something other than the order or quote id: the stock's vehicles, by VIN.
_SUBJECT_FIELD = {"quote": "quote_id", "vehicle": "vin"}


def to_public_message(event: RecordedEvent) -> OutboundMessage | None:
    if event.event_type in PRIVATE:
        return None
    payload = _payload(event.event_type, event.data)
    subject = event.data[_SUBJECT_FIELD.get(event.stream_type, "order_id")]
    return outbound_message(event, payload, source=SOURCE, subject=subject)


def _payload(event_type: str, d: dict[str, Any]) -> IntegrationEvent:
    match event_type:
        case "QuoteIssued":
            return QuoteIssuedV1(
                **_terms(d), lead_id=d["lead_id"], customer_id=d["customer_id"], consultant_id=d["consultant_id"],
                issued_at=d["issued_at"],
            )
        case "QuoteRevised":
            return QuoteRevisedV1(**_terms(d), reason=d["reason"], revised_at=d["revised_at"])
        case "QuoteAccepted":
            return QuoteAcceptedV1(quote_id=d["quote_id"], revision=d["revision"], accepted_at=d["accepted_at"])
        case "QuoteExpired":
            return QuoteExpiredV1(quote_id=d["quote_id"], revision=d["revision"], valid_until=d["valid_until"],
                                  expired_at=d["expired_at"])
        case "ContractSigned":
            return ContractSignedV1(
                order_id=d["order_id"], lead_id=d["lead_id"], customer_id=d["customer_id"],
                customer_name=d["customer_name"], customer_phone=d["customer_phone"],
                consultant_id=d["consultant_id"], channel=d["channel"], lines=[_order_line(x) for x in d["lines"]],
                total_minor=d["total_minor"], currency=d["currency"], payment_plan=d["payment_plan"],
                signed_at=d["signed_at"], quote_id=d["quote_id"], shop_order_id=d["shop_order_id"],
                subtotal_minor=d["subtotal_minor"], discount_minor=d["discount_minor"],
            )
        case "PaymentReceived":
            return PaymentReceivedV1(
                order_id=d["order_id"], payment_id=d["payment_id"], kind=d["kind"], amount_minor=d["amount_minor"],
                currency=d["currency"], paid_total_minor=d["paid_total_minor"], method=d["method"],
                received_at=d["received_at"],
            )
        case "FinancingApproved":
            return FinancingApprovedV1(order_id=d["order_id"], provider=d["provider"],
                                       amount_minor=d["amount_minor"], currency=d["currency"],
                                       approved_at=d["approved_at"])
        case "FinancingDeclined":
            return FinancingDeclinedV1(order_id=d["order_id"], provider=d["provider"], reason=d["reason"],
                                       declined_at=d["declined_at"])
        case "RefundIssued":
            return RefundIssuedV1(order_id=d["order_id"], refund_id=d["refund_id"], amount_minor=d["amount_minor"],
                                  currency=d["currency"], reason=d["reason"],
                                  paid_total_minor=d["paid_total_minor"], refunded_at=d["refunded_at"])
        case "OrderCancelled":
            return OrderCancelledV1(order_id=d["order_id"], lead_id=d["lead_id"], customer_id=d["customer_id"],
                                    reason=d["reason"], refund_due_minor=d["refund_due_minor"],
                                    currency=d["currency"], cancelled_at=d["cancelled_at"])
        case "DeliveryScheduled":
            return DeliveryScheduledV1(order_id=d["order_id"], lead_id=d["lead_id"],
                                       scheduled_for=d["scheduled_for"], location=d["location"],
                                       previous_scheduled_for=d["previous"], reason=d["reason"],
                                       scheduled_at=d["scheduled_at"])
        case "Delivered":
            return DeliveredV1(
                order_id=d["order_id"], lead_id=d["lead_id"], customer_id=d["customer_id"],
                consultant_id=d["consultant_id"], customer_name=d["customer_name"],
                customer_phone=d["customer_phone"], total_minor=d["total_minor"], currency=d["currency"],
                delivered_at=d["delivered_at"], team_id=d.get("team_id"), vin=d.get("vin"),
            )
        case "VehicleAllocated":
            return VehicleAllocatedV1(order_id=d["order_id"], vin=d["vin"], model=d["model"], trim=d["trim"],
                                      colour=d["colour"], vehicle_status=d["vehicle_status"],
                                      allocated_at=d["allocated_at"])
        case "VehicleDeallocated":
            return VehicleDeallocatedV1(order_id=d["order_id"], vin=d["vin"], reason=d["reason"],
                                        deallocated_at=d["deallocated_at"], note=d.get("note"),
                                        deallocated_by=d.get("deallocated_by"), replaced_by=d.get("replaced_by"))
        case "DeliveryChecklistItemCompleted":
            return DeliveryChecklistItemCompletedV1(order_id=d["order_id"], item=d["item"],
                                                    completed_by=d["completed_by"], reference=d["reference"],
                                                    completed_at=d["completed_at"])
        case "DeliveryChecklistItemReopened":
            return DeliveryChecklistItemReopenedV1(order_id=d["order_id"], item=d["item"], reason=d["reason"],
                                                   reopened_by=d["reopened_by"], reopened_at=d["reopened_at"])
        case "VehicleRegistered":
            return VehicleRegisteredV1(vin=d["vin"], model=d["model"], trim=d["trim"], colour=d["colour"],
                                       status=d["status"], factory_order_ref=d["factory_order_ref"],
                                       registered_at=d["registered_at"])
        case "VehicleStatusChanged":
            return VehicleStatusChangedV1(vin=d["vin"], from_status=d["from_status"], to_status=d["to_status"],
                                          reference=d["reference"], changed_at=d["changed_at"])
        case _:
            raise LookupError(f"no public mapping decided for stored event {event_type!r}")


def _options(line: dict[str, Any]) -> list[LineOption]:
    return [LineOption(code=o["code"], price_minor=o["price_minor"]) for o in line.get("options", ())]


def _unit_total(line: dict[str, Any]) -> int:
    return int(line["unit_price_minor"]) + sum(int(o["price_minor"]) for o in line.get("options", ()))


def _order_line(line: dict[str, Any]) -> OrderLine:
    return OrderLine(product=line["product"], description=line.get("description"), quantity=line["quantity"],
                     unit_price_minor=_unit_total(line), options=_options(line), **_catalogue(line))


def _catalogue(line: dict[str, Any]) -> dict[str, Any]:
    return {"kind": line.get("kind"), "catalogue_id": line.get("catalogue_id"),
            "list_price_minor": line.get("list_price_minor")}


def _terms(d: dict[str, Any]) -> dict[str, Any]:
    discount = d.get("discount") or {}
    approval = d.get("approval") or {}
    return {
        "quote_id": d["quote_id"], "revision": d["revision"],
        "lines": [QuoteLine(product=x["product"], description=x.get("description"), options=_options(x),
                            quantity=x["quantity"], unit_price_minor=x["unit_price_minor"],
                            line_total_minor=_unit_total(x) * int(x["quantity"]), **_catalogue(x))
                  for x in d["lines"]],
        "discount_kind": discount.get("kind"), "discount_percent_bp": discount.get("percent_bp"),
        "discount_approved_by": approval.get("approved_by"),
        "subtotal_minor": d["subtotal_minor"], "discount_minor": d["discount_minor"],
        "total_minor": d["total_minor"], "currency": d["currency"], "valid_until": d["valid_until"],
    }
