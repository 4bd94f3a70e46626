"""The product catalogue and its price list: what a dealership sells (models, trims, options, accessories 精品,
insurance 保险, plates 上牌, financing products, other services) and at which list price, in versions with an
effective period.

One ``PriceList`` aggregate per currency (stream ``price-list-<currency>``) holds every published version. A
version is the whole catalogue with its prices; the version in force on a date is the one with the latest
``valid_from`` on or before it whose ``valid_until`` (exclusive, optional) has not passed — so publishing a new
version supersedes the open-ended one from its ``valid_from`` on, and a promotion week can be a version with an end.
Quotes price their catalogue lines at the version in force on the quote's date (``services/orders/app/quotes.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from services.orders.domain.errors import CatalogueItemUnknownError, NoPriceListInForceError, PriceListVersionTakenError
from services.orders.domain.events import PriceListVersionPublished
from services.orders.domain.money import check_amount
from services.orders.domain.products import CatalogueItem, ItemKind
from shared.domain import Aggregate, DomainEvent, InvalidFieldError

MAX_ITEMS = 2_000
# A price list planned years ahead is a typing error (9999-01-01), not a plan.
MAX_LEAD_TIME = timedelta(days=3 * 366)


class PriceListVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version_id: str
    currency: str
    valid_from: datetime
    valid_until: datetime | None
    items: tuple[CatalogueItem, ...]
    published_at: datetime
    published_by: str

    def in_force_on(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)

    def item(self, catalogue_id: str, *, field: str) -> CatalogueItem:
        for item in self.items:
            if item.catalogue_id == catalogue_id:
                return item
        raise CatalogueItemUnknownError(
            f"{catalogue_id!r} is not in price list {self.version_id} ({self.currency}, in force from "
            f"{self.valid_from.isoformat()})", field=field, catalogue_id=catalogue_id, version_id=self.version_id)


class PriceList(Aggregate):
    stream_type = "price-list"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.versions: list[PriceListVersion] = []

    @classmethod
    def for_currency(cls, currency: str) -> PriceList:
        return cls(currency)

    def publish(self, *, version_id: str, valid_from: datetime, valid_until: datetime | None,
                items: Sequence[CatalogueItem], published_by: str, now: datetime) -> PriceListVersion:
        if any(v.version_id == version_id for v in self.versions):
            raise PriceListVersionTakenError(f"price list version {version_id} exists", version_id=version_id)
        if valid_from.tzinfo is None or (valid_until is not None and valid_until.tzinfo is None):
            raise InvalidFieldError("valid_from", "needs a time zone offset")
        if valid_from > now + MAX_LEAD_TIME:
            raise InvalidFieldError("valid_from", "more than three years ahead")
        if valid_until is not None and valid_until <= valid_from:
            raise InvalidFieldError("valid_until", "must be after valid_from")
        checked = _check_items(items)
        self._record(PriceListVersionPublished(
            currency=self.id, version_id=version_id, valid_from=valid_from, valid_until=valid_until,
            items=checked, published_by=published_by, published_at=now))
        return self.versions[-1]

    def in_force_on(self, moment: datetime) -> PriceListVersion | None:
        candidates = [v for v in self.versions if v.in_force_on(moment)]
        # The latest start wins; on equal starts the later publication (a correction).
        return max(candidates, key=lambda v: v.valid_from, default=None) if candidates else None

    def require_in_force_on(self, moment: datetime) -> PriceListVersion:
        version = self.in_force_on(moment)
        if version is None:
            raise NoPriceListInForceError(
                f"no {self.id} price list is in force on {moment.isoformat()}", currency=self.id,
                on=moment.isoformat())
        return version

    def _apply(self, event: DomainEvent) -> None:
        match event:
            case PriceListVersionPublished():
                self.versions.append(PriceListVersion(
                    version_id=event.version_id, currency=event.currency, valid_from=event.valid_from,
                    valid_until=event.valid_until, items=event.items, published_at=event.published_at,
                    published_by=event.published_by))
            case _:
                raise TypeError(f"PriceList cannot apply {type(event).__name__}")


def _check_items(items: Sequence[CatalogueItem]) -> tuple[CatalogueItem, ...]:
    if not items:
        raise InvalidFieldError("items", "at least one item")
    if len(items) > MAX_ITEMS:
        raise InvalidFieldError("items", f"at most {MAX_ITEMS} items")
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not item.catalogue_id.strip():
            raise InvalidFieldError(f"items.{i}.catalogue_id", "must not be empty")
        if item.catalogue_id in seen:
            raise InvalidFieldError(f"items.{i}.catalogue_id", f"{item.catalogue_id!r} appears twice")
        seen.add(item.catalogue_id)
        if not item.name.strip():
            raise InvalidFieldError(f"items.{i}.name", "must not be empty")
        # Every catalogue price is positive: a free accessory is a discount, which the discount rules govern.
        check_amount(item.price_minor, field=f"items.{i}.price_minor")
    ids = {item.catalogue_id: item for item in items}
    for i, item in enumerate(items):
        if item.model is not None and (ids.get(item.model) is None or ids[item.model].kind is not ItemKind.MODEL):
            raise InvalidFieldError(f"items.{i}.model", f"{item.model!r} is not a model in this version")
    return tuple(items)
