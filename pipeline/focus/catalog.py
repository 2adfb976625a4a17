"""Who pays and what was bought: billing accounts, sub-accounts, SKUs and commitments of the bill.

Identifiers are derived from names with BLAKE2b, so they never change between runs, spans or machines
(FOCUS: immutable identifiers stay the same across billing periods). The simulated provider is priced
like AWS (data/prices.toml), so the names follow AWS's own FOCUS export.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from pipeline.workload.prices import Commitment, PriceCatalog
from pipeline.workload.profile import Profile

PROVIDER = "AWS"
SERVICE_NAME = "Amazon Elastic Compute Cloud"
SERVICE_CATEGORY, SERVICE_SUBCATEGORY = "Compute", "Virtual Machines"
COMMITMENT_SERVICE_NAME = "Savings Plans for AWS Compute usage"
COMMITMENT_SUBCATEGORY = "Other (Compute)"
RESOURCE_TYPE = "GPU Instance"
GPU_UNIT = "GPU-Hours"
# Account ids are letters and digits, never digits alone: a CSV reader would take them for numbers,
# and FOCUS types them as strings.
# Each pricing's term code in a SkuPriceId (SKU.term, as in AWS price lists); committed usage has its
# own price under each commitment.
_TERMS = {"on_demand": "OnDemand", "spot": "Spot", "committed": "Committed"}
PRICING_CATEGORY = {"on_demand": "Standard", "spot": "Dynamic", "committed": "Committed"}


def _code(*parts: str, letters: int) -> str:
    digest = hashlib.blake2b("|".join(parts).encode(), digest_size=16).digest()
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    n = int.from_bytes(digest, "big")
    return "".join(alphabet[(n >> (5 * i)) & 31] for i in range(letters))


@functools.lru_cache(maxsize=1024)  # a few dozen SKU prices; rows ask for them all the time
def _price_details(gpu_type: str, instance: str, pricing: str) -> str:
    # Provider-defined properties only, so every key carries the x_ prefix the spec asks for.
    return json.dumps({"x_GpuType": gpu_type, "x_InstanceType": instance, "x_Pricing": _TERMS[pricing]},
                      separators=(",", ":"))


@dataclass(frozen=True)
class Account:
    """A billing account (one per office) or sub-account (one per cost centre)."""

    id: str
    name: str


@dataclass(frozen=True)
class Sku:
    """What one GPU-hour of a type in a region is sold as; one price per pricing (SkuPriceId)."""

    id: str
    meter: str
    instance: str

    def price_id(self, pricing: str) -> str:
        return f"{self.id}.{_TERMS[pricing]}"

    def price_details(self, gpu_type: str, pricing: str) -> str:
        return _price_details(gpu_type, self.instance, pricing)


@dataclass(frozen=True)
class CommitmentPlan:
    """A region's spend commitment as the bill shows it."""

    id: str
    name: str
    type: str
    region: str
    hourly_commitment: float
    discount: float
    sku_id: str


class BillCatalog:
    """Accounts, SKUs and commitments for one profile and price catalog."""

    def __init__(self, profile: Profile, prices: PriceCatalog) -> None:
        self.prices = prices
        self.billing_accounts = {
            o.name: Account("BA" + _code("billing", o.name, letters=10), f"{profile.name} {o.name} office")
            for o in profile.offices
        }
        self.sub_accounts: dict[str, Account] = {}
        for office in profile.offices:
            for team in office.teams:
                cc = team.cost_center
                self.sub_accounts.setdefault(cc, Account("SA" + _code("sub", cc, letters=10), f"cost centre {cc}"))
        self.skus = {
            (gpu, region): Sku(_code("sku", gpu, region, letters=16), f"{gpu} GPU usage", spec.instance.split()[0])
            for gpu, spec in prices.gpus.items() for region in prices.regions
        }
        # A profile's bill shows only the commitments of the regions its offices run in.
        used = {region for office in profile.offices for region in office.cloud_regions.keys}
        self.commitments = {region: self._plan(region, c) for region, c in sorted(prices.commitments.items())
                            if region in used}

    def sub_account(self, cost_center: str) -> Account:
        """The sub-account of a cost centre; a centre the profile does not list still gets a stable one."""
        found = self.sub_accounts.get(cost_center)
        return found or Account("SA" + _code("sub", cost_center, letters=10), f"cost centre {cost_center}")

    def region_name(self, region: str) -> str:
        return self.prices.regions[region].name or region

    def _plan(self, region: str, c: Commitment) -> CommitmentPlan:
        sub = self.sub_accounts.get(min(self.sub_accounts)) if self.sub_accounts else None
        owner = sub.id if sub else "SA0000000000"
        plan_id = f"arn:aws:savingsplans::{owner}:savingsplan/{_code('sp', region, c.name, letters=12).lower()}"
        return CommitmentPlan(plan_id, c.name, c.type, region, c.hourly_commitment, c.discount,
                              _code("sp-sku", c.type, letters=16))
