"""The price list: publishing a version (admin) and finding the version in force for a quote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from services.orders.app.common import OrdersHandler
from services.orders.app.ports import (
    Clock,
    CommandContext,
    IdFactory,
    OrdersConfig,
    OrdersUnitOfWork,
    UnitOfWorkFactory,
)
from services.orders.app.terms import QuoteLineIn, uses_catalogue
from services.orders.domain.catalogue import PriceList, PriceListVersion
from services.orders.domain.money import check_currency
from services.orders.domain.products import CatalogueItem, ItemKind


class CatalogueItemIn(BaseModel):
    catalogue_id: str = Field(min_length=1, max_length=60, examples=["MY-LR"])
    kind: ItemKind = Field(examples=["trim"])
    name: str = Field(min_length=1, max_length=200, examples=["Model Y 长续航版"])
    price_minor: StrictInt = Field(description="list price in minor units (fen)", examples=[26390000])
    model: str | None = Field(default=None, min_length=1, max_length=60,
                              description="the model (its catalogue id) a trim or option belongs to")

    def to_domain(self) -> CatalogueItem:
        return CatalogueItem(catalogue_id=self.catalogue_id.strip(), kind=self.kind, name=self.name.strip(),
                             price_minor=self.price_minor, model=self.model)


@dataclass(frozen=True, slots=True)
class PublishPriceList:
    currency: Annotated[str, Field(min_length=3, max_length=3, examples=["CNY"])]
    valid_from: datetime
    items: Annotated[list[CatalogueItemIn], Field(min_length=1)]
    valid_until: Annotated[datetime | None, Field(description="exclusive; none: until a later version starts")] = None
    version_id: Annotated[str | None, Field(min_length=1, max_length=60,
                                            description="a name for the version (default: generated)")] = None


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    price_list: PriceList
    version: PriceListVersion


class PublishPriceListHandler(OrdersHandler):
    def __init__(self, *, unit_of_work: UnitOfWorkFactory, clock: Clock, new_id: IdFactory,
                 config: OrdersConfig) -> None:
        super().__init__(unit_of_work=unit_of_work, clock=clock, new_id=new_id)
        self._currencies = config.currencies

    async def __call__(self, command: PublishPriceList, context: CommandContext) -> PublishedVersion:
        currency = check_currency(command.currency, known=self._currencies)

        async def decide(uow: OrdersUnitOfWork, now: datetime) -> PublishedVersion:
            price_list = await uow.load(PriceList, currency) or PriceList.for_currency(currency)
            version = price_list.publish(
                version_id=command.version_id or self._new_id(), valid_from=command.valid_from,
                valid_until=command.valid_until, items=[i.to_domain() for i in command.items],
                published_by=context.actor or "system", now=now)
            uow.add(price_list)
            return PublishedVersion(price_list, version)
        return await self._commands.run(decide, context)


async def price_list_in_force(uow: OrdersUnitOfWork, lines: list[QuoteLineIn], currency: str,
                              on: datetime) -> PriceListVersion | None:
    """The version in force on the quote's date, when a line names the catalogue (None otherwise: hand-typed
    lines need no price list)."""
    if not uses_catalogue(lines):
        return None
    price_list = await uow.load(PriceList, currency) or PriceList.for_currency(currency)
    return price_list.require_in_force_on(on)
