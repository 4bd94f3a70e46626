"""What the catalogue sells: the kinds of item and one item with its list price (value objects shared by the
price list aggregate, its events and quote lines)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ItemKind(StrEnum):
    MODEL = "model"
    TRIM = "trim"
    OPTION = "option"
    COLOUR = "colour"  # 车身颜色: the paint an order's vehicle is allocated by (with its model and trim)
    ACCESSORY = "accessory"  # 精品
    INSURANCE = "insurance"  # 保险
    PLATES = "plates"  # 上牌
    FINANCING = "financing"  # a financing product (its fee / service charge as the price)
    SERVICE = "service"


class CatalogueItem(BaseModel):
    """One sellable thing and its list price in this version. ``model`` names the model a trim or option belongs
    to (its catalogue id), so a configurator can group them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalogue_id: str
    kind: ItemKind
    name: str
    price_minor: int
    model: str | None = None
