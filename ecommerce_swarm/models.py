"""The swarm's domain: typed, frozen pydantic models for everything an agent hands on.

Each model rejects unknown fields, so a handoff that grew or lost a field fails validation at the
receiver instead of being half-read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Domain(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Product(_Domain):
    """A vendor's product as it arrives at intake."""

    sku: str = Field(min_length=1, pattern=r"^[A-Z]{2,4}-\d{3,5}$")
    name: str = Field(min_length=1)
    category: str = Field(min_length=1)
    cost: float = Field(gt=0)
    stock: int = Field(ge=0)


class Listing(_Domain):
    sku: str
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    keywords: tuple[str, ...] = ()


class Price(_Domain):
    sku: str
    price: float = Field(gt=0)
    cost: float = Field(gt=0)
    markup: float = Field(gt=0)
    currency: str = "EUR"


class StockRecord(_Domain):
    sku: str
    on_hand: int
    reserved: int = Field(ge=0)
    available: int


class Campaign(_Domain):
    sku: str
    headline: str = Field(min_length=1)
    body: str = Field(min_length=1)
    advertised_price: float = Field(gt=0)
    channel: str
    active: bool = True


class Review(_Domain):
    sku: str
    rating: int = Field(ge=1, le=5)
    text: str = Field(min_length=1)


class ProductLine(_Domain):
    """One product's line in the analytics report."""

    sku: str
    units_available: int
    price: float
    stock_value: float
    average_rating: float | None = None


class Report(_Domain):
    lines: tuple[ProductLine, ...]
    total_stock_value: float
    total_units: int
    summary: str


# ----------------------------------------------------------------- what agents are handed
class StockRequest(_Domain):
    """Inventory's task for one product: reserve ``demand`` units for the launch."""

    product: Product
    demand: int = Field(ge=0)


class MarketingBrief(_Domain):
    """Marketing's task for one product, fed by listing, pricing and inventory."""

    listing: Listing
    price: Price
    stock: StockRecord


class FeedbackRequest(_Domain):
    listing: Listing
    wanted: int = Field(ge=0, le=20)


class ReviewBatch(_Domain):
    sku: str
    reviews: tuple[Review, ...]


class AnalyticsInput(_Domain):
    price: Price
    stock: StockRecord
    reviews: tuple[Review, ...] = ()
