"""Response shapes of the orders HTTP API (the request bodies are the commands: shared/runtime/command_body.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.orders.domain.catalogue import PriceListVersion
from services.orders.domain.checklist import DeliveryChecklist
from services.orders.domain.order import Order
from services.orders.domain.quote import Quote
from services.orders.domain.vehicle import Vehicle


def quote_view(quote: Quote) -> dict[str, Any]:
    return {
        "quote_id": quote.id, "status": quote.status.value, "revision": quote.revision, "lead_id": quote.lead_id,
        "customer_id": quote.customer.customer_id, "customer_name": quote.customer.name,
        "customer_phone": quote.customer.phone, "consultant_id": quote.consultant_id,
        "lines": [line.model_dump() for line in quote.lines],
        "discount": quote.discount.model_dump() if quote.discount else None,
        "subtotal_minor": quote.subtotal_minor, "discount_minor": quote.discount_minor,
        "total_minor": quote.total_minor, "currency": quote.currency,
        "valid_until": quote.valid_until.isoformat() if quote.valid_until else None,
        "order_id": quote.order_id, "version": quote.version,
    }


def order_view(order: Order) -> dict[str, Any]:
    c = order.signed
    assert c is not None
    return {
        "order_id": order.id, "status": order.status.value, "quote_id": c.quote_id,
        "shop_order_id": c.shop_order_id, "lead_id": c.lead_id, "customer_id": c.customer_id,
        "customer_name": c.customer_name, "customer_phone": c.customer_phone, "consultant_id": c.consultant_id,
        "channel": c.channel, "lines": [line.model_dump() for line in c.lines], "subtotal_minor": c.subtotal_minor,
        "discount_minor": c.discount_minor, "total_minor": c.total_minor, "currency": c.currency,
        "payment_plan": c.payment_plan, "paid_minor": order.paid_minor, "financed_minor": order.financed_minor,
        "financing": order.financing.value, "outstanding_minor": order.outstanding_minor,
        "refund_due_minor": order.refund_due_minor,
        "delivery_scheduled_for": _iso(order.delivery_scheduled_for), "delivered_at": _iso(order.delivered_at),
        "signed_at": c.signed_at.isoformat(), "version": order.version,
        "vehicle_order": order.vehicle_spec is not None, "vin": order.vin,
        "checklist_completed": sorted(order.checklist_done),
    }


def checklist_view(order: Order, checklist: DeliveryChecklist) -> dict[str, Any]:
    """The department's checklist with who completed each item, when, with which reference; an item reopened
    since its completion says who reopened it, when and why."""
    items = []
    for item in checklist.items:
        done = order.checklist_done.get(item.item_id)
        reopened = order.checklist_reopened.get(item.item_id)
        items.append({"item": item.item_id, "label": item.label, "completed": done is not None,
                      "completed_by": done.completed_by if done else None,
                      "completed_at": _iso(done.completed_at) if done else None,
                      "reference": done.reference if done else None, "note": done.note if done else None,
                      "reopened": {"by": reopened.reopened_by, "at": reopened.reopened_at.isoformat(),
                                   "reason": reopened.reason} if reopened else None})
    return {"order_id": order.id, "vin": order.vin, "items": items,
            "open_items": checklist.open_items(frozenset(order.checklist_done)), "version": order.version}


def vehicle_view(vehicle: Vehicle) -> dict[str, Any]:
    return {"vin": vehicle.id, "model": vehicle.model, "trim": vehicle.trim, "colour": vehicle.colour,
            "status": vehicle.status, "logistics_status": vehicle.logistics.value, "order_id": vehicle.order_id,
            "factory_order_ref": vehicle.factory_order_ref, "registered_at": _iso(vehicle.registered_at),
            "version": vehicle.version}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def price_list_version_view(version: PriceListVersion) -> dict[str, Any]:
    return {
        "version_id": version.version_id, "currency": version.currency,
        "valid_from": version.valid_from.isoformat(), "valid_until": _iso(version.valid_until),
        "published_at": version.published_at.isoformat(), "published_by": version.published_by,
        "items": [item.model_dump(mode="json") for item in version.items],
    }
