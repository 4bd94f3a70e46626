"""Builders for the orders service's tests: plain values, fixed time, the shipped configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.orders.app.config import load_config
from services.orders.app.terms import LineIn, QuoteLineIn
from services.orders.domain.checklist import ChecklistItem, DeliveryChecklist
from services.orders.domain.lines import Approval, Discount, DiscountPolicy, Line, LineOption
from services.orders.domain.order import Order, PaymentDetails
from services.orders.domain.parties import Customer
from services.orders.domain.quote import Quote
from services.orders.domain.vehicle import Vehicle
from services.orders.domain.vin import check_digit

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
VALID_UNTIL = T0 + timedelta(days=7)
CONFIG = load_config()
POLICY = DiscountPolicy(CONFIG.discount_limits_bp)
CURRENCIES = CONFIG.currencies
CUSTOMER = Customer.of(customer_id="C-1", name="张三", phone="138 1234 5678")


def line(unit_price_minor: int = 100_000_00, quantity: int = 1, *options: tuple[str, int],
         product: str = "MODEL-Y") -> Line:
    return Line(product=product, quantity=quantity, unit_price_minor=unit_price_minor,
                options=tuple(LineOption(code=c, price_minor=p) for c, p in options))


def line_in(unit_price_minor: int = 100_000_00, quantity: int = 1, product: str = "MODEL-Y") -> LineIn:
    """A line as a command carries it (the input shape)."""
    return LineIn(product=product, quantity=quantity, unit_price_minor=unit_price_minor)


def quote_line_in(unit_price_minor: int | None = 100_000_00, quantity: int = 1, product: str | None = "MODEL-Y",
                  catalogue_id: str | None = None) -> QuoteLineIn:
    """A quote line as the command carries it: hand-typed, or from the catalogue (``catalogue_id``; no price:
    the list price)."""
    return QuoteLineIn(product=product, quantity=quantity, unit_price_minor=unit_price_minor,
                       catalogue_id=catalogue_id)


def percent(bp: int) -> Discount:
    return Discount(kind="percent", percent_bp=bp)


def amount(minor: int) -> Discount:
    return Discount(kind="amount", amount_minor=minor)


def manager_approval(role: str = "sales_manager") -> Approval:
    return Approval(approved_by="M-1", role=role)


def issued_quote(*lines: Line, discount: Discount | None = None, approval: Approval | None = None,
                 role: str = "consultant", valid_until: datetime = VALID_UNTIL, lead_id: str | None = "L-1",
                 currency: str = "CNY") -> Quote:
    quote = Quote.issue(
        quote_id="Q-1", lead_id=lead_id, customer=CUSTOMER, consultant_id="S-1", role=role,
        lines=lines or (line(),), discount=discount, approval=approval, currency=currency,
        valid_until=valid_until, now=T0, policy=POLICY, currencies=CURRENCIES,
    )
    return reloaded(quote)


def reloaded(quote: Quote) -> Quote:
    """As a repository would hand it out: rebuilt from the recorded events, nothing pending."""
    return Quote.rehydrate(quote.id, quote.pending_events) if not quote.loaded_version else quote


def accepted_quote(*lines: Line, **kwargs: object) -> Quote:
    quote = issued_quote(*lines, **kwargs)  # type: ignore[arg-type]
    quote.accept(revision=None, now=T0 + timedelta(hours=1))
    return quote


def signed_order(total_minor: int = 100_000_00, plan: str = "deposit_balance") -> Order:
    quote = accepted_quote(line(total_minor))
    return Order.sign(order_id="O-1", quote=quote, payment_plan=plan, now=T0 + timedelta(hours=2))


def payment(amount_minor: int, kind: str = "deposit", currency: str = "CNY", payment_id: str = "P-1") -> PaymentDetails:
    return PaymentDetails(payment_id=payment_id, kind=kind, amount_minor=amount_minor, currency=currency)


# ---- vehicles and the delivery checklist ------------------------------------------------------------------------

CHECKLIST = DeliveryChecklist((ChecklistItem("pdi", "PDI"), ChecklistItem("invoice", "发票"),
                               ChecklistItem("customer_confirmation", "客户确认")))


def valid_vin(serial: int, prefix: str = "LRW3E7FA", year_plant: str = "NC") -> str:
    """A VIN with a correct GB 16735 / ISO 3779 check digit (position 9) for ``serial``."""
    draft = f"{prefix}0{year_plant}{serial:06d}"
    return draft[:8] + check_digit(draft) + draft[9:]


def catalogue_line(kind: str, catalogue_id: str, price_minor: int) -> Line:
    return Line(product=catalogue_id, quantity=1, unit_price_minor=price_minor, kind=kind,
                catalogue_id=catalogue_id, list_price_minor=price_minor)


def vehicle_lines(trim: str = "MY-LR", colour: str | None = "COL-WHITE") -> tuple[Line, ...]:
    """A contract selling a Model Y long range (trim line) in white (colour line), with an accessory."""
    lines = [catalogue_line("trim", trim, 280_000_00), catalogue_line("accessory", "MAT", 800_00)]
    if colour:
        lines.append(catalogue_line("colour", colour, 6_000_00))  # a paint with its surcharge
    return tuple(lines)


def vehicle_order(order_id: str = "O-1", plan: str = "full", **spec: str | None) -> Order:
    quote = accepted_quote(*vehicle_lines(**spec))  # type: ignore[arg-type]
    return Order.sign(order_id=order_id, quote=quote, payment_plan=plan, now=T0 + timedelta(hours=2))


def stock_vehicle(serial: int = 1, status: str = "pdi_done", model: str = "MY", trim: str | None = "MY-LR",
                  colour: str | None = "COL-WHITE") -> Vehicle:
    vehicle = Vehicle.register(vin=valid_vin(serial), model=model, trim=trim, colour=colour, status=status,
                               factory_order_ref=None, registered_by="M-1", now=T0)
    return Vehicle.rehydrate(vehicle.id, vehicle.pending_events)
