"""Business-rule violations of the orders domain. Each has a machine-readable ``code`` and an HTTP status: 422
when the request itself is wrong whatever the state, 409 when the aggregate's state forbids it now."""

from __future__ import annotations

from shared.domain import DomainError


class QuoteExpiredError(DomainError):
    code = "quote_expired"
    http_status = 409


class QuoteNotAcceptedError(DomainError):
    code = "quote_not_accepted"
    http_status = 409


class QuoteNotOpenError(DomainError):
    """The quote was signed or expired: it cannot be revised or accepted any more."""

    code = "quote_not_open"
    http_status = 409


class QuoteAlreadySignedError(DomainError):
    code = "quote_already_signed"
    http_status = 409


class QuoteRevisionMismatchError(DomainError):
    """The customer accepted a revision that is no longer the current one."""

    code = "quote_revision_mismatch"
    http_status = 409


class DiscountNeedsApprovalError(DomainError):
    code = "discount_needs_approval"
    http_status = 403


class DiscountExceedsApproverLimitError(DomainError):
    code = "discount_exceeds_approver_limit"
    http_status = 403


class CurrencyMismatchError(DomainError):
    code = "currency_mismatch"
    http_status = 422


class OverpaymentError(DomainError):
    code = "overpayment"
    http_status = 422


class RefundExceedsPaidError(DomainError):
    code = "refund_exceeds_paid"
    http_status = 422


class OrderCancelledError(DomainError):
    code = "order_cancelled"
    http_status = 409


class OrderDeliveredError(DomainError):
    code = "order_delivered"
    http_status = 409


class OrderNotPaidError(DomainError):
    code = "order_not_paid"
    http_status = 409


class FinancingNotInPlanError(DomainError):
    code = "financing_not_in_plan"
    http_status = 409


class FinancingAlreadyDecidedError(DomainError):
    code = "financing_already_decided"
    http_status = 409


class DeliveryAlreadyScheduledError(DomainError):
    code = "delivery_already_scheduled"
    http_status = 409


class DeliveryNotScheduledError(DomainError):
    code = "delivery_not_scheduled"
    http_status = 409


class TotalMismatchError(DomainError):
    """A checkout's lines do not add up to the total it claims."""

    code = "total_mismatch"
    http_status = 422


class CheckoutConflictError(DomainError):
    """The shop order id was already checked out with different content: the shop reused an id, or changed an
    order it had already placed. Answering with the first order would hide the difference, so it is refused and
    both versions are named (``recorded``, ``received``, ``differing_fields``)."""

    code = "checkout_conflict"
    http_status = 409


class CatalogueItemUnknownError(DomainError):
    """A quote line names a catalogue id the price list in force does not have."""

    code = "catalogue_item_unknown"
    http_status = 422


class NoPriceListInForceError(DomainError):
    """A quote line comes from the catalogue, but no price list version is in force on the quote's date."""

    code = "no_price_list_in_force"
    http_status = 409


class PriceListVersionTakenError(DomainError):
    code = "price_list_version_taken"
    http_status = 409


# ---- vehicle stock, allocation and the delivery checklist ---------------------------------------------------


class VehicleAlreadyRegisteredError(DomainError):
    code = "vehicle_already_registered"
    http_status = 409


class VehicleStatusBackwardsError(DomainError):
    code = "vehicle_status_backwards"
    http_status = 409


class VehicleDeliveredError(DomainError):
    code = "vehicle_delivered"
    http_status = 409


class VehicleAlreadyAllocatedError(DomainError):
    """The vehicle is reserved for another order (or the other of two concurrent allocations won it)."""

    code = "vehicle_already_allocated"
    http_status = 409


class VehicleDoesNotMatchError(DomainError):
    """The named vehicle is not the model / trim / colour the order's catalogue lines sell."""

    code = "vehicle_does_not_match"
    http_status = 409


class NoVehicleAvailableError(DomainError):
    """No free vehicle (in stock or incoming) matches the order."""

    code = "no_vehicle_available"
    http_status = 409


class NotAVehicleOrderError(DomainError):
    """The order has no model or trim line from the catalogue: there is no vehicle to allocate to it."""

    code = "not_a_vehicle_order"
    http_status = 409


class OrderHasVehicleError(DomainError):
    code = "order_has_vehicle"
    http_status = 409


class NoVehicleAllocatedError(DomainError):
    """A release or swap of an order that holds no vehicle (allocate one with POST /v1/orders/{id}/vehicle)."""

    code = "no_vehicle_allocated"
    http_status = 409


class ChecklistItemAlreadyCompletedError(DomainError):
    code = "checklist_item_already_completed"
    http_status = 409


class ChecklistItemNotCompletedError(DomainError):
    """Reopening a checklist item that is open already."""

    code = "checklist_item_not_completed"
    http_status = 409


class DeliveryNotReadyError(DomainError):
    """Delivery of a vehicle order before its checklist is complete and its vehicle PDI done; the details name
    the open checklist items and the vehicle's state."""

    code = "delivery_not_ready"
    http_status = 409
