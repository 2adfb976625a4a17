"""The GPU price catalog (data/prices.toml): list and spot price per GPU-hour, per GPU type and region."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.workload.profile import read_toml, validation_message

Price = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Region(_Model):
    provider: str
    name: str | None = None  # the provider's display name (FOCUS RegionName); the id when absent
    price_factor: Price
    source: str
    date: date


class Gpu(_Model):
    list_price: Price
    spot_multiplier: Annotated[float, Field(gt=0, le=1)]
    instance: str
    source: str
    date: date
    region_prices: dict[str, Price] = {}


class Commitment(_Model):
    """A spend commitment in one region: `hourly_commitment` dollars of discounted on-demand GPU usage
    bought for every hour of its term, used at `discount` off the list price (pipeline/focus/bill.py)."""

    name: str
    type: str
    hourly_commitment: Price
    discount: Annotated[float, Field(gt=0, lt=1)]
    source: str
    date: date


class PriceCatalog(_Model):
    currency: str = "USD"
    base_region: str
    regions: dict[str, Region]
    gpus: dict[str, Gpu]
    commitments: dict[str, Commitment] = {}

    def list_price(self, gpu_type: str, region: str) -> float:
        """On-demand list price of one GPU-hour; KeyError if the catalog lacks the type or region."""
        gpu = self.gpus[gpu_type]
        if region in gpu.region_prices:
            return gpu.region_prices[region]
        return round(gpu.list_price * self.regions[region].price_factor, 4)

    def spot_price(self, gpu_type: str, region: str) -> float:
        """Spot price of one GPU-hour: the list price times the type's spot multiplier."""
        return round(self.list_price(gpu_type, region) * self.gpus[gpu_type].spot_multiplier, 4)

    def missing(self, gpu_types: set[str], regions: set[str]) -> list[str]:
        """What a profile uses that this catalog cannot price."""
        gaps = [f"GPU type {g!r}" for g in sorted(gpu_types - set(self.gpus))]
        gaps += [f"region {r!r}" for r in sorted(regions - set(self.regions))]
        return gaps


def load_prices(path: Path) -> PriceCatalog:
    """Parse and check a price catalog."""
    data = read_toml(path)
    try:
        catalog = PriceCatalog.model_validate(data)
    except ValidationError as exc:
        raise ValueError(validation_message(path, exc)) from None
    if catalog.base_region not in catalog.regions:
        raise ValueError(f"{path}: base_region: {catalog.base_region!r} is not in [regions]")
    unknown = sorted(set(catalog.commitments) - set(catalog.regions))
    if unknown:
        raise ValueError(f"{path}: commitments: region(s) {', '.join(unknown)} not in [regions]")
    return catalog
