"""The Order aggregate: a signed contract, its payments, financing and refunds, cancellation and delivery.

Invariants (checked by the commands, property-tested in tests/unit/orders): 0 ≤ paid ≤ total and
paid + financed ≤ total — what is owed (``outstanding_minor``) is never negative; a cancelled order takes no
payment; a delivered order cannot be cancelled; delivery needs the total covered by payments and approved
financing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.orders.domain.checklist import DeliveryChecklist
from services.orders.domain.errors import (
    ChecklistItemAlreadyCompletedError,
    ChecklistItemNotCompletedError,
    CheckoutConflictError,
    DeliveryAlreadyScheduledError,
    DeliveryNotReadyError,
    DeliveryNotScheduledError,
    FinancingAlreadyDecidedError,
    FinancingNotInPlanError,
    NotAVehicleOrderError,
    NoVehicleAllocatedError,
    OrderCancelledError,
    OrderDeliveredError,
    OrderHasVehicleError,
    OrderNotPaidError,
    OverpaymentError,
    RefundExceedsPaidError,
    TotalMismatchError,
)
from services.orders.domain.events import (
    ContractSigned,
    Delivered,
    DeliveryChecklistItemCompleted,
    DeliveryChecklistItemReopened,
    DeliveryScheduled,
    FinancingApproved,
    FinancingDeclined,
    OrderCancelled,
    PaymentReceived,
    RefundIssued,
    VehicleAllocated,
    VehicleDeallocated,
)
from services.orders.domain.lines import Line, check_lines
from services.orders.domain.money import check_amount, check_currency, check_same_currency, share_of
from services.orders.domain.parties import Customer
from services.orders.domain.quote import Quote
from services.orders.domain.vehicle import Vehicle, VehicleSpec
from shared.domain import Aggregate, DomainEvent, InvalidFieldError, check_scheduled

# Open sets kept as data: a new plan or payment kind is a config change for the API, not a schema change.
PAYMENT_PLANS = frozenset({"full", "deposit_balance", "financing"})
PAYMENT_KINDS = frozenset({"deposit", "balance", "full", "down_payment", "other"})
ONLINE_SHOP = "online_shop"


class OrderStatus(StrEnum):
    SIGNED = "signed"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"


class DeallocationReason(StrEnum):
    """VehicleDeallocated's ``reason`` code (an open set for subscribers: the contract says it may grow)."""

    ORDER_CANCELLED = "order_cancelled"
    RELEASED = "released"  # given back while the order goes on (damaged in PDI, the customer will wait, …)
    SWAPPED = "swapped"  # given back for another vehicle, allocated in the same transaction


class FinancingStatus(StrEnum):
    NONE = "none"
    APPROVED = "approved"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class PaymentDetails:
    payment_id: str
    kind: str
    amount_minor: int
    currency: str
    method: str | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class ShopCheckout:
    """An order placed and paid in the online shop."""

    shop_order_id: str
    customer: Customer
    lines: Sequence[Line]
    discount_minor: int
    total_minor: int
    paid_minor: int
    currency: str
    lead_id: str | None = None
    consultant_id: str | None = None
    payment_id: str = ""
    payment_reference: str | None = None

    def terms(self) -> dict[str, Any]:
        """What the shop asked for, as JSON values: the content a repeat of the same ``shop_order_id`` must match.
        The payment id is ours (a fresh one per attempt), so it is not part of it."""
        return {
            "shop_order_id": self.shop_order_id, "customer_id": self.customer.customer_id,
            "customer_name": self.customer.name, "customer_phone": self.customer.phone,
            "lines": [line.model_dump(mode="json") for line in self.lines], "discount_minor": self.discount_minor,
            "total_minor": self.total_minor, "paid_minor": self.paid_minor, "currency": self.currency,
            "lead_id": self.lead_id, "consultant_id": self.consultant_id,
            "payment_reference": self.payment_reference,
        }

    def check_repeats(self, recorded: Mapping[str, Any], *, order_id: str) -> None:
        """A repeat of a recorded checkout must ask for the same thing; otherwise CheckoutConflictError naming
        the recorded version (with its order) and the received one."""
        received = self.terms()
        differing = sorted(k for k in received.keys() | recorded.keys() if received.get(k) != recorded.get(k))
        if differing:
            raise CheckoutConflictError(
                f"shop order {self.shop_order_id} was checked out as order {order_id} with different "
                f"{', '.join(differing)}",
                shop_order_id=self.shop_order_id, order_id=order_id, differing_fields=differing,
                recorded=dict(recorded), received=received,
            )


class Order(Aggregate):
    stream_type = "order"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.status = OrderStatus.SIGNED
        self.signed: ContractSigned | None = None
        self.paid_minor = 0
        self.financed_minor = 0
        self.financing = FinancingStatus.NONE
        self.refund_due_minor = 0  # still to be refunded after a cancellation
        self.payment_references: set[str] = set()
        self.delivery_scheduled_for: datetime | None = None
        self.delivered_at: datetime | None = None
        self.vin: str | None = None  # the allocated vehicle
        self.checklist_done: dict[str, DeliveryChecklistItemCompleted] = {}
        self.checklist_reopened: dict[str, DeliveryChecklistItemReopened] = {}  # the last reopen of an open item

    # ---- creation ----------------------------------------------------------------------------------------

    @classmethod
    def sign(cls, *, order_id: str, quote: Quote, payment_plan: str, now: datetime) -> Order:
        """Sign the contract for an accepted quote. The caller also records ``quote.convert`` in the same
        unit of work, which refuses a second signing."""
        _check_plan(payment_plan)
        quote.convert(order_id=order_id, now=now)
        order = cls(order_id)
        order._record(ContractSigned(
            order_id=order_id, quote_id=quote.id, quote_revision=quote.revision, shop_order_id=None,
            lead_id=quote.lead_id, customer_id=quote.customer.customer_id, customer_name=quote.customer.name,
            customer_phone=quote.customer.phone, consultant_id=quote.consultant_id, channel=None,
            lines=quote.lines, subtotal_minor=quote.subtotal_minor, discount_minor=quote.discount_minor,
            total_minor=quote.total_minor, currency=quote.currency, payment_plan=payment_plan, signed_at=now,
            team_id=quote.team_id,
        ))
        return order

    @classmethod
    def check_out(
        cls, *, order_id: str, checkout: ShopCheckout, now: datetime, currencies: Collection[str]
    ) -> Order:
        """An online-shop order: signed and paid in one step (ContractSigned, then PaymentReceived)."""
        if not checkout.shop_order_id.strip():
            raise InvalidFieldError("shop_order_id", "must not be empty")
        if checkout.customer.name is None:
            raise InvalidFieldError("customer_name", "must not be empty")
        if checkout.customer.phone is None:
            raise InvalidFieldError("customer_phone", "must not be empty")
        check_currency(checkout.currency, known=currencies)
        lines = check_lines(checkout.lines)
        check_amount(checkout.discount_minor, field="discount_minor", allow_zero=True)
        check_amount(checkout.total_minor, field="total_minor", allow_zero=True)
        check_amount(checkout.paid_minor, field="paid_minor", allow_zero=True)
        subtotal = sum(line.total_minor for line in lines)
        if subtotal - checkout.discount_minor != checkout.total_minor:
            raise TotalMismatchError(
                f"lines add up to {subtotal} minus discount {checkout.discount_minor}, not {checkout.total_minor}",
                lines_minor=subtotal, discount_minor=checkout.discount_minor, total_minor=checkout.total_minor,
            )
        order = cls(order_id)
        order._record(ContractSigned(
            order_id=order_id, quote_id=None, quote_revision=None, shop_order_id=checkout.shop_order_id,
            lead_id=checkout.lead_id, customer_id=checkout.customer.customer_id, customer_name=checkout.customer.name,
            customer_phone=checkout.customer.phone, consultant_id=checkout.consultant_id, channel=ONLINE_SHOP,
            lines=lines, subtotal_minor=subtotal, discount_minor=checkout.discount_minor,
            total_minor=checkout.total_minor, currency=checkout.currency,
            payment_plan="full" if checkout.paid_minor == checkout.total_minor else "deposit_balance",
            signed_at=now,
        ))
        if checkout.paid_minor:
            kind = "full" if checkout.paid_minor == checkout.total_minor else "deposit"
            order.pay(PaymentDetails(checkout.payment_id, kind, checkout.paid_minor, checkout.currency,
                                     method=ONLINE_SHOP, reference=checkout.payment_reference or
                                     checkout.shop_order_id), now=now)
        return order

    # ---- money -------------------------------------------------------------------------------------------

    def pay(self, payment: PaymentDetails, *, now: datetime) -> bool:
        """Record a payment; False (nothing recorded) if one with the same ``reference`` was already recorded —
        the payment system's reference makes a retried request harmless instead of a double payment."""
        contract = self._contract()
        if payment.reference and payment.reference in self.payment_references:
            return False
        self._require_not_cancelled("take a payment")
        if payment.kind not in PAYMENT_KINDS:
            raise InvalidFieldError("kind", f"one of {', '.join(sorted(PAYMENT_KINDS))}")
        check_amount(payment.amount_minor, field="amount_minor")
        check_same_currency(contract.currency, payment.currency)
        if payment.amount_minor > self.outstanding_minor:
            raise OverpaymentError(
                f"{payment.amount_minor} is more than the {self.outstanding_minor} still owed",
                outstanding_minor=self.outstanding_minor,
            )
        self._record(PaymentReceived(
            order_id=self.id, payment_id=payment.payment_id, kind=payment.kind, amount_minor=payment.amount_minor,
            currency=payment.currency, method=payment.method, reference=payment.reference,
            paid_total_minor=self.paid_minor + payment.amount_minor, received_at=now,
        ))
        return True

    def approve_financing(
        self, *, provider: str, amount_minor: int, currency: str, reference: str | None, now: datetime
    ) -> None:
        contract = self._check_financing_decision(provider)
        check_amount(amount_minor, field="amount_minor")
        check_same_currency(contract.currency, currency)
        if amount_minor > self.outstanding_minor:
            raise OverpaymentError(
                f"financing of {amount_minor} is more than the {self.outstanding_minor} still owed",
                outstanding_minor=self.outstanding_minor,
            )
        self._record(FinancingApproved(order_id=self.id, provider=provider.strip(), amount_minor=amount_minor,
                                       currency=currency, reference=reference, approved_at=now))

    def decline_financing(self, *, provider: str, reason: str, now: datetime) -> None:
        self._check_financing_decision(provider)
        if not reason.strip():
            raise InvalidFieldError("reason", "must not be empty")
        self._record(FinancingDeclined(order_id=self.id, provider=provider.strip(), reason=reason.strip(),
                                       declined_at=now))

    def refund(self, *, refund_id: str, amount_minor: int, currency: str, reason: str, now: datetime) -> None:
        """Give money back: at most what was paid, and after a cancellation at most the refund still due."""
        contract = self._contract()
        # After delivery money goes back through after-sales (goodwill, returns), not by reopening the order.
        self._require_not_delivered("refund")
        check_amount(amount_minor, field="amount_minor")
        check_same_currency(contract.currency, currency)
        if not reason.strip():
            raise InvalidFieldError("reason", "must not be empty")
        limit = self.refund_due_minor if self.status is OrderStatus.CANCELLED else self.paid_minor
        if amount_minor > limit:
            raise RefundExceedsPaidError(f"at most {limit} can be refunded", refundable_minor=limit)
        self._record(RefundIssued(
            order_id=self.id, refund_id=refund_id, amount_minor=amount_minor, currency=currency,
            reason=reason.strip(), paid_total_minor=self.paid_minor - amount_minor, refunded_at=now,
        ))

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def cancel(self, *, reason: str, refund_percent_of_paid: int, now: datetime, vehicle: Vehicle | None = None
               ) -> None:
        """Cancel before delivery. What the customer gets back is a configured share of what they paid
        (100 % unless the business configured a forfeit). An allocated ``vehicle`` goes back to free stock."""
        contract = self._contract()
        self._require_not_cancelled("cancel")
        self._require_not_delivered("cancel")
        if not reason.strip():
            raise InvalidFieldError("reason", "must not be empty")
        if not 0 <= refund_percent_of_paid <= 100:
            raise ValueError("refund_percent_of_paid must be 0..100")
        refund_due = share_of(self.paid_minor, refund_percent_of_paid * 100)
        self._record(OrderCancelled(order_id=self.id, lead_id=contract.lead_id, customer_id=contract.customer_id,
                                    reason=reason.strip(), paid_minor=self.paid_minor,
                                    refund_due_minor=refund_due, currency=contract.currency, cancelled_at=now))
        if self.vin is not None:
            self._deallocate(self._allocated(vehicle), reason=DeallocationReason.ORDER_CANCELLED, now=now)

    def schedule_delivery(self, *, scheduled_for: datetime, location: str | None, now: datetime) -> None:
        self._check_schedulable(scheduled_for, now)
        if self.delivery_scheduled_for is not None:
            raise DeliveryAlreadyScheduledError("delivery is already scheduled; reschedule it instead",
                                                scheduled_for=self.delivery_scheduled_for.isoformat())
        self._record(DeliveryScheduled(order_id=self.id, lead_id=self._contract().lead_id,
                                       scheduled_for=scheduled_for, location=location, previous=None,
                                       reason=None, scheduled_at=now))

    def reschedule_delivery(
        self, *, scheduled_for: datetime, location: str | None, reason: str | None, now: datetime
    ) -> None:
        self._check_schedulable(scheduled_for, now)
        if self.delivery_scheduled_for is None:
            raise DeliveryNotScheduledError("no delivery is scheduled yet")
        self._record(DeliveryScheduled(order_id=self.id, lead_id=self._contract().lead_id,
                                       scheduled_for=scheduled_for, location=location,
                                       previous=self.delivery_scheduled_for, reason=reason, scheduled_at=now))

    def deliver(self, *, now: datetime, checklist: DeliveryChecklist, vehicle: Vehicle | None = None) -> None:
        """Hand over: nothing owed and — for an order that sells a vehicle from the catalogue — every item of
        the department's ``checklist`` completed and the allocated ``vehicle`` PDI done (it is handed over with
        the order). Orders with hand-typed lines only have no vehicle to check (shop checkouts, older quotes)."""
        c = self._contract()
        self._require_not_cancelled("deliver")
        self._require_not_delivered("deliver")
        if self.outstanding_minor > 0:
            raise OrderNotPaidError(
                f"{self.outstanding_minor} is still owed (neither paid nor covered by approved financing)",
                outstanding_minor=self.outstanding_minor,
            )
        if self.vehicle_spec is not None:
            self._check_handover(checklist, vehicle)
            self._allocated(vehicle).hand_over(order_id=self.id, now=now)
        self._record(Delivered(
            order_id=self.id, lead_id=c.lead_id, customer_id=c.customer_id, customer_name=c.customer_name,
            customer_phone=c.customer_phone, consultant_id=c.consultant_id, total_minor=c.total_minor,
            currency=c.currency, delivered_at=now, team_id=c.team_id, vin=self.vin,
        ))

    # ---- the vehicle and the delivery checklist ----------------------------------------------------------

    @property
    def vehicle_spec(self) -> VehicleSpec | None:
        """The vehicle the contract sells (its catalogue model/trim/colour lines), None if it sells none."""
        return VehicleSpec.of_lines(self._contract().lines)

    def allocate_vehicle(self, vehicle: Vehicle, *, now: datetime) -> None:
        """Reserve ``vehicle`` for this order (it records VehicleReserved; both streams commit together)."""
        self._require_not_cancelled("allocate a vehicle")
        self._require_not_delivered("allocate a vehicle")
        spec = self.vehicle_spec
        if spec is None:
            raise NotAVehicleOrderError("the order has no model or trim line from the catalogue")
        if self.vin is not None:
            raise OrderHasVehicleError(f"vehicle {self.vin} is already allocated to the order", vin=self.vin)
        vehicle.reserve(order_id=self.id, spec=spec, now=now)
        self._record_allocation(vehicle, now)

    def _record_allocation(self, vehicle: Vehicle, now: datetime) -> None:
        self._record(VehicleAllocated(order_id=self.id, vin=vehicle.id, model=vehicle.model, trim=vehicle.trim,
                                      colour=vehicle.colour, vehicle_status=vehicle.logistics.value,
                                      allocated_at=now))

    def release_vehicle(self, vehicle: Vehicle | None, *, note: str, released_by: str | None, now: datetime
                        ) -> None:
        """Give the allocated ``vehicle`` back to free stock while the order goes on (VehicleDeallocated reason
        ``released``; the vehicle records VehicleReleased). The order can be allocated another one later; until
        then it cannot be delivered (``delivery_not_ready``: no vehicle is allocated)."""
        self._check_vehicle_change("release the vehicle", note)
        self._require_vehicle("release the vehicle")
        self._deallocate(self._allocated(vehicle), reason=DeallocationReason.RELEASED, now=now, note=_text(note),
                         by=released_by)

    def swap_vehicle(self, current: Vehicle | None, replacement: Vehicle, *, note: str, swapped_by: str | None,
                     now: datetime) -> bool:
        """Exchange the allocated vehicle for ``replacement`` (which must be free and match the order like any
        allocation): VehicleDeallocated reason ``swapped`` (naming the replacement) then VehicleAllocated, with
        VehicleReleased / VehicleReserved on the two vehicles — one transaction. False (nothing recorded) when the
        replacement is already the order's: a repeated swap request."""
        self._check_vehicle_change("swap the vehicle", note)
        if replacement.id == self.vin and replacement.order_id == self.id:
            return False
        self._require_vehicle("swap the vehicle")
        held = self._allocated(current)
        spec = self.vehicle_spec
        assert spec is not None  # an order holding a vehicle sells one
        # The replacement first: a refusal (taken, another trim, delivered) leaves the order and both vehicles as
        # they were.
        replacement.reserve(order_id=self.id, spec=spec, now=now)
        self._deallocate(held, reason=DeallocationReason.SWAPPED, now=now, note=_text(note), by=swapped_by,
                         replaced_by=replacement.id)
        self._record_allocation(replacement, now)
        return True

    def _check_vehicle_change(self, what: str, note: str) -> None:
        self._contract()
        self._require_not_cancelled(what)
        self._require_not_delivered(what)
        if not note.strip():
            raise InvalidFieldError("reason", "must not be empty")

    def _require_vehicle(self, what: str) -> None:
        if self.vin is None:
            raise NoVehicleAllocatedError(f"no vehicle is allocated to order {self.id}: cannot {what}")

    def complete_checklist_item(self, *, item: str, checklist: DeliveryChecklist, completed_by: str | None,
                                reference: str | None, note: str | None, now: datetime) -> None:
        self._contract()
        self._require_not_cancelled("complete the delivery checklist")
        self._require_not_delivered("complete the delivery checklist")
        if item not in checklist.item_ids:
            raise InvalidFieldError("item", f"one of {', '.join(checklist.item_ids)}")
        if (done := self.checklist_done.get(item)) is not None:
            raise ChecklistItemAlreadyCompletedError(
                f"{item} was completed by {done.completed_by} at {done.completed_at.isoformat()}",
                item=item, completed_by=done.completed_by, completed_at=done.completed_at.isoformat())
        self._record(DeliveryChecklistItemCompleted(
            order_id=self.id, item=item, completed_by=completed_by, reference=_text(reference), note=_text(note),
            completed_at=now))

    def reopen_checklist_item(self, *, item: str, checklist: DeliveryChecklist, reason: str,
                              reopened_by: str | None, now: datetime) -> None:
        """Undo a completed item: it counts as open again for the delivery gate and can be completed anew (its
        completion stays in the history). Refused once the order is delivered or cancelled."""
        self._contract()
        self._require_not_cancelled("reopen a checklist item")
        self._require_not_delivered("reopen a checklist item")
        # An item completed under an older configuration of the department's list may still be undone.
        if item not in self.checklist_done and item not in checklist.item_ids:
            raise InvalidFieldError("item", f"one of {', '.join(checklist.item_ids)}")
        if not reason.strip():
            raise InvalidFieldError("reason", "must not be empty")
        if item not in self.checklist_done:
            raise ChecklistItemNotCompletedError(f"{item} is not completed", item=item)
        self._record(DeliveryChecklistItemReopened(order_id=self.id, item=item, reason=reason.strip(),
                                                   reopened_by=reopened_by, reopened_at=now))

    def _check_handover(self, checklist: DeliveryChecklist, vehicle: Vehicle | None) -> None:
        open_items = checklist.open_items(frozenset(self.checklist_done))
        if vehicle is None:
            vehicle_problem = "no vehicle is allocated"
        elif not vehicle.ready_for_handover:
            vehicle_problem = f"vehicle {vehicle.id} is {vehicle.status}, not pdi_done"
        else:
            vehicle_problem = None
        if open_items or vehicle_problem:
            problems = [f"checklist open: {', '.join(open_items)}"] if open_items else []
            raise DeliveryNotReadyError(
                "; ".join(problems + ([vehicle_problem] if vehicle_problem else [])), open_items=open_items,
                vin=self.vin, vehicle_status=vehicle.status if vehicle else None)

    def _allocated(self, vehicle: Vehicle | None) -> Vehicle:
        if vehicle is None or vehicle.id != self.vin:
            raise LookupError(f"order {self.id} needs its vehicle {self.vin} loaded")  # a handler bug
        return vehicle

    def _deallocate(self, vehicle: Vehicle, *, reason: DeallocationReason, now: datetime, note: str | None = None,
                    by: str | None = None, replaced_by: str | None = None) -> None:
        vehicle.release(order_id=self.id, reason=reason.value, now=now)
        self._record(VehicleDeallocated(order_id=self.id, vin=vehicle.id, reason=reason.value, deallocated_at=now,
                                        note=note, deallocated_by=by, replaced_by=replaced_by))

    # ---- queries -----------------------------------------------------------------------------------------

    @property
    def team_id(self) -> str | None:
        return self.signed.team_id if self.signed else None

    @property
    def total_minor(self) -> int:
        return self.signed.total_minor if self.signed else 0

    @property
    def outstanding_minor(self) -> int:
        """What the customer still owes: total minus payments minus approved financing (never negative)."""
        if self.status is OrderStatus.CANCELLED:
            return 0
        return self.total_minor - self.paid_minor - self.financed_minor

    def _contract(self) -> ContractSigned:
        if self.signed is None:
            raise LookupError(f"order {self.id} has no contract")  # a repository bug, not a user error
        return self.signed

    def _require_not_cancelled(self, what: str) -> None:
        if self.status is OrderStatus.CANCELLED:
            raise OrderCancelledError(f"the order is cancelled: cannot {what}")

    def _require_not_delivered(self, what: str) -> None:
        if self.status is OrderStatus.DELIVERED:
            raise OrderDeliveredError(f"the order was delivered: cannot {what}")

    def _check_financing_decision(self, provider: str) -> ContractSigned:
        contract = self._contract()
        self._require_not_cancelled("decide on financing")
        self._require_not_delivered("decide on financing")
        if contract.payment_plan != "financing":
            raise FinancingNotInPlanError(f"the payment plan is {contract.payment_plan}, not financing")
        if self.financing is FinancingStatus.APPROVED:
            raise FinancingAlreadyDecidedError("financing is already approved")
        if not provider.strip():
            raise InvalidFieldError("provider", "must not be empty")
        return contract

    def _check_schedulable(self, scheduled_for: datetime, now: datetime) -> None:
        self._contract()
        self._require_not_cancelled("schedule delivery")
        self._require_not_delivered("schedule delivery")
        check_scheduled("scheduled_for", scheduled_for, now=now)

    # ---- state -------------------------------------------------------------------------------------------

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case ContractSigned():
                self.signed = event
            case PaymentReceived():
                self.paid_minor = event.paid_total_minor
                if event.reference:
                    self.payment_references.add(event.reference)
            case FinancingApproved():
                self.financing = FinancingStatus.APPROVED
                self.financed_minor = event.amount_minor
            case FinancingDeclined():
                self.financing = FinancingStatus.DECLINED
            case RefundIssued():
                self.paid_minor = event.paid_total_minor
                if self.status is OrderStatus.CANCELLED:
                    self.refund_due_minor -= event.amount_minor
            case OrderCancelled():
                self.status = OrderStatus.CANCELLED
                self.refund_due_minor = event.refund_due_minor
            case DeliveryScheduled():
                self.delivery_scheduled_for = event.scheduled_for
            case Delivered():
                self.status = OrderStatus.DELIVERED
                self.delivered_at = event.delivered_at
            case VehicleAllocated():
                self.vin = event.vin
            case VehicleDeallocated():
                self.vin = None
            case DeliveryChecklistItemCompleted():
                self.checklist_done[event.item] = event
                self.checklist_reopened.pop(event.item, None)
            case DeliveryChecklistItemReopened():
                self.checklist_done.pop(event.item, None)
                self.checklist_reopened[event.item] = event
            case _:
                raise TypeError(f"Order cannot apply {type(event).__name__}")


def _text(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _check_plan(plan: str) -> None:
    if plan not in PAYMENT_PLANS:
        raise InvalidFieldError("payment_plan", f"one of {', '.join(sorted(PAYMENT_PLANS))}")
