"""The input shape of quote and checkout lines and of a discount, as commands carry them. Amounts are strict
integers of minor units (fen): a JSON float such as 10.5 or 100.0 is refused with 422, never rounded. A percent is
a decimal string (at most 2 decimals); the domain keeps basis points (``to_domain``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictInt

from services.orders.domain.lines import Discount, Line, LineOption
from services.orders.domain.money import percent_to_basis_points


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
