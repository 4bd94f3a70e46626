"""Quote and order lines, discounts, and the discount policy (maximum discount per role)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from services.orders.domain.errors import DiscountExceedsApproverLimitError, DiscountNeedsApprovalError
from services.orders.domain.money import check_amount, exceeds_share, share_of
from shared.domain import InvalidFieldError

MAX_LINES = 100
MAX_QUANTITY = 10_000


class LineOption(BaseModel):
    """An option on a line (colour, package, accessory) with its price per unit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    price_minor: int = 0


class Line(BaseModel):
    """One line: a product with options, a quantity and a unit price (before options and discount).

    A line taken from the catalogue carries its ``catalogue_id``, ``kind`` and the ``list_price_minor`` in force
    on the quote's date; a unit price below it is a discount and counts against the discount policy like one.
    Lines without a catalogue id (the shop's checkouts, quotes from before the catalogue) are priced as typed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product: str
    description: str | None = None
    options: tuple[LineOption, ...] = ()
    quantity: int
    unit_price_minor: int
    kind: str | None = None
    catalogue_id: str | None = None
    list_price_minor: int | None = None

    @property
    def below_list_minor(self) -> int:
        """What the typed unit price takes off the list price, for the whole quantity (0 off the catalogue)."""
        if self.list_price_minor is None:
            return 0
        return (self.list_price_minor - self.unit_price_minor) * self.quantity

    @property
    def unit_total_minor(self) -> int:
        return self.unit_price_minor + sum(o.price_minor for o in self.options)

    @property
    def total_minor(self) -> int:
        return self.unit_total_minor * self.quantity


class Discount(BaseModel):
    """A discount on the whole quote: a fixed amount or a percentage in basis points (exactly one of them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str  # "amount" | "percent"
    amount_minor: int | None = None
    percent_bp: int | None = None

    def amount_on(self, subtotal_minor: int) -> int:
        if self.kind == "amount":
            return self.amount_minor or 0
        return share_of(subtotal_minor, self.percent_bp or 0)


class Approval(BaseModel):
    """Who approved a discount above the issuer's limit, and in which role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approved_by: str
    role: str


def check_lines(lines: Sequence[Line]) -> tuple[Line, ...]:
    if not lines:
        raise InvalidFieldError("lines", "at least one line")
    if len(lines) > MAX_LINES:
        raise InvalidFieldError("lines", f"at most {MAX_LINES} lines")
    for i, line in enumerate(lines):
        if not line.product.strip():
            raise InvalidFieldError(f"lines.{i}.product", "must not be empty")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidFieldError(f"lines.{i}.quantity", f"must be between 1 and {MAX_QUANTITY}")
        # A car or a product priced at 0 is a typing error, not a sale; a free option (price 0) is fine.
        check_amount(line.unit_price_minor, field=f"lines.{i}.unit_price_minor")
        for j, option in enumerate(line.options):
            if not option.code.strip():
                raise InvalidFieldError(f"lines.{i}.options.{j}.code", "must not be empty")
            check_amount(option.price_minor, field=f"lines.{i}.options.{j}.price_minor", allow_zero=True)
        check_amount(line.total_minor, field=f"lines.{i}", allow_zero=True)
        if line.list_price_minor is not None and line.unit_price_minor > line.list_price_minor:
            raise InvalidFieldError(f"lines.{i}.unit_price_minor",
                                    f"above the list price {line.list_price_minor} of {line.catalogue_id}")
    return tuple(lines)


def check_discount(discount: Discount | None) -> Discount | None:
    if discount is None:
        return None
    if discount.kind == "amount":
        if discount.amount_minor is None or discount.percent_bp is not None:
            raise InvalidFieldError("discount", "an amount discount has amount_minor and no percent")
        check_amount(discount.amount_minor, field="discount.amount_minor")
    elif discount.kind == "percent":
        if discount.percent_bp is None or discount.amount_minor is not None:
            raise InvalidFieldError("discount", "a percent discount has a percent and no amount_minor")
        if not 0 < discount.percent_bp <= 10_000:
            raise InvalidFieldError("discount.percent", "must be greater than 0 and at most 100")
    else:
        raise InvalidFieldError("discount.kind", "must be amount or percent")
    return discount


@dataclass(frozen=True, slots=True)
class Pricing:
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    # Taken off catalogue list prices by typed unit prices (not in discount_minor: the subtotal is already lower).
    below_list_minor: int = 0

    @property
    def concession_minor(self) -> int:
        """Everything given away against the list: typed-down prices plus the quote's discount."""
        return self.discount_minor + self.below_list_minor

    @property
    def list_subtotal_minor(self) -> int:
        return self.subtotal_minor + self.below_list_minor


def price(lines: Sequence[Line], discount: Discount | None) -> Pricing:
    subtotal = sum(line.total_minor for line in lines)
    cut = discount.amount_on(subtotal) if discount else 0
    if cut > subtotal:
        raise InvalidFieldError("discount", "is larger than the lines' total")
    return Pricing(subtotal, cut, subtotal - cut, sum(line.below_list_minor for line in lines))


@dataclass(frozen=True, slots=True)
class DiscountPolicy:
    """Maximum discount per role in basis points (config as data). Above the issuer's limit, a person whose
    role's limit covers the discount must approve; above every limit, nobody can. The discount measured is the
    whole concession against the list: the quote's discount plus catalogue lines typed below their list price,
    as a share of the list subtotal — one rule set for both ways of giving money away."""

    limits_bp: Mapping[str, int]

    def limit_of(self, role: str, *, field: str) -> int:
        try:
            return self.limits_bp[role]
        except KeyError:
            known = ", ".join(sorted(self.limits_bp))
            raise InvalidFieldError(field, f"unknown role {role!r}; known: {known}") from None

    def check(self, *, role: str, pricing: Pricing, approval: Approval | None) -> None:
        limit = self.limit_of(role, field="role")  # an unknown role is refused even without a discount
        given, base = pricing.concession_minor, pricing.list_subtotal_minor
        if given == 0:
            return
        if not exceeds_share(given, base, limit):
            return
        if approval is None:
            raise DiscountNeedsApprovalError(
                f"a {role} may give at most {limit / 100:g} % discount; a manager must approve this one",
                role=role, limit_bp=limit, discount_minor=pricing.discount_minor,
                below_list_minor=pricing.below_list_minor,
            )
        approver_limit = self.limit_of(approval.role, field="approval.role")
        if exceeds_share(given, base, approver_limit):
            raise DiscountExceedsApproverLimitError(
                f"a {approval.role} may approve at most {approver_limit / 100:g} % discount",
                role=approval.role, limit_bp=approver_limit, discount_minor=pricing.discount_minor,
                below_list_minor=pricing.below_list_minor,
            )
