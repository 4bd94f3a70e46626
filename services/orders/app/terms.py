"""The input shape of quote and checkout lines and of a discount, as commands carry them. Amounts are strict
integers of minor units (fen): a JSON float such as 10.5 or 100.0 is refused with 422, never rounded. A percent is
a decimal string (at most 2 decimals); the domain keeps basis points (``to_domain``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictInt

from services.orders.domain.catalogue import PriceListVersion
from services.orders.domain.lines import Discount, Line, LineOption
from services.orders.domain.money import percent_to_basis_points
from shared.domain import InvalidFieldError


class OptionIn(BaseModel):
    code: str = Field(min_length=1, max_length=60)
    price_minor: StrictInt = Field(default=0, description="per unit of the line, minor units")


class LineIn(BaseModel):
    product: str = Field(min_length=1, max_length=100, examples=["MODEL-Y-LR"])
    description: str | None = Field(default=None, max_length=200)
    options: list[OptionIn] = Field(default_factory=list)
    quantity: StrictInt = 1
    unit_price_minor: StrictInt = Field(description="base unit price in minor units (fen)", examples=[26390000])

    def to_domain(self) -> Line:
        return Line(product=self.product, description=self.description, quantity=self.quantity,
                    unit_price_minor=self.unit_price_minor,
                    options=tuple(LineOption(code=o.code, price_minor=o.price_minor) for o in self.options))


class QuoteLineIn(BaseModel):
    """A quote line: from the catalogue (``catalogue_id``; the price list in force on the quote's date gives the
    product name, kind and list price, and ``unit_price_minor``, if given, may only go below it — which the
    discount policy counts as discount), or hand-typed as before (``product`` and ``unit_price_minor``)."""

    catalogue_id: str | None = Field(default=None, min_length=1, max_length=60, examples=["MY-LR"])
    product: str | None = Field(default=None, min_length=1, max_length=100, examples=["MODEL-Y-LR"])
    description: str | None = Field(default=None, max_length=200)
    options: list[OptionIn] = Field(default_factory=list)
    quantity: StrictInt = 1
    unit_price_minor: StrictInt | None = Field(
        default=None, description="unit price in minor units (fen); a catalogue line defaults to its list price",
        examples=[26390000])

    def to_domain(self, index: int, price_list: PriceListVersion | None) -> Line:
        options = tuple(LineOption(code=o.code, price_minor=o.price_minor) for o in self.options)
        if self.catalogue_id is None:
            if self.product is None:
                raise InvalidFieldError(f"lines.{index}.product", "a line needs a catalogue_id or a product")
            if self.unit_price_minor is None:
                raise InvalidFieldError(f"lines.{index}.unit_price_minor", "a hand-typed line needs its price")
            return Line(product=self.product, description=self.description, quantity=self.quantity,
                        unit_price_minor=self.unit_price_minor, options=options)
        assert price_list is not None  # the handler loads the version in force when a line names the catalogue
        item = price_list.item(self.catalogue_id, field=f"lines.{index}.catalogue_id")
        unit = item.price_minor if self.unit_price_minor is None else self.unit_price_minor
        return Line(product=self.product or item.catalogue_id, description=self.description or item.name,
                    quantity=self.quantity, unit_price_minor=unit, options=options, kind=item.kind.value,
                    catalogue_id=item.catalogue_id, list_price_minor=item.price_minor)


def quote_lines_of(lines: list[QuoteLineIn], price_list: PriceListVersion | None) -> list[Line]:
    return [line.to_domain(i, price_list) for i, line in enumerate(lines)]


def uses_catalogue(lines: list[QuoteLineIn]) -> bool:
    return any(line.catalogue_id is not None for line in lines)


class DiscountIn(BaseModel):
    kind: str = Field(description="amount or percent", examples=["percent"])
    amount_minor: StrictInt | None = None
    percent: str | None = Field(default=None, description="decimal string, at most 2 decimals", examples=["2.5"])

    def to_domain(self) -> Discount:
        bp = percent_to_basis_points(self.percent) if self.percent is not None else None
        return Discount(kind=self.kind, amount_minor=self.amount_minor, percent_bp=bp)


def lines_of(lines: list[LineIn]) -> list[Line]:
    return [line.to_domain() for line in lines]


def discount_of(discount: DiscountIn | None) -> Discount | None:
    return discount.to_domain() if discount is not None else None
