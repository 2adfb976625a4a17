"""The FOCUS 1.2 CostAndUsage columns this project writes, and the rules the specification sets for them.

One table (`COLUMNS`) says, per column, its FOCUS data type, whether it may be null and which values
are allowed; `pipeline.focus.check` applies it (and the cross-column rules) to every row, and the
writers take their column order and Parquet types from it. The rule texts are from the FOCUS 1.2
specification (https://focus.finops.org/focus-specification/v1-2/), columns section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FOCUS_VERSION = "1.2"
FocusType = Literal["string", "decimal", "datetime", "json"]


@dataclass(frozen=True)
class Column:
    """One column: its name, FOCUS data type, and whether the spec lets it be null in our rows."""

    name: str
    type: FocusType
    nullable: bool
    allowed: tuple[str, ...] = ()


# Allowed values, as the specification lists them.
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
PRICING_CATEGORIES = ("Standard", "Committed", "Dynamic", "Other")
COMMITMENT_CATEGORIES = ("Spend", "Usage")
COMMITMENT_STATUSES = ("Used", "Unused")
# ServiceSubcategory -> its one parent ServiceCategory (only the pairs we write; see check.py).
SERVICE_SUBCATEGORIES = {"Virtual Machines": "Compute", "Other (Compute)": "Compute"}
SERVICE_CATEGORIES = tuple(sorted(set(SERVICE_SUBCATEGORIES.values())))

_S: FocusType = "string"
_D: FocusType = "decimal"
_T: FocusType = "datetime"
_J: FocusType = "json"

COLUMNS: tuple[Column, ...] = (
    Column("BilledCost", _D, False),
    Column("BillingAccountId", _S, False),
    Column("BillingAccountName", _S, False),
    Column("BillingCurrency", _S, False),
    Column("BillingPeriodEnd", _T, False),
    Column("BillingPeriodStart", _T, False),
    Column("ChargeCategory", _S, False, CHARGE_CATEGORIES),
    Column("ChargeClass", _S, True, ("Correction",)),
    Column("ChargeDescription", _S, False),
    Column("ChargeFrequency", _S, False, CHARGE_FREQUENCIES),
    Column("ChargePeriodEnd", _T, False),
    Column("ChargePeriodStart", _T, False),
    Column("CommitmentDiscountCategory", _S, True, COMMITMENT_CATEGORIES),
    Column("CommitmentDiscountId", _S, True),
    Column("CommitmentDiscountName", _S, True),
    Column("CommitmentDiscountQuantity", _D, True),
    Column("CommitmentDiscountStatus", _S, True, COMMITMENT_STATUSES),
    Column("CommitmentDiscountType", _S, True),
    Column("CommitmentDiscountUnit", _S, True),
    Column("ConsumedQuantity", _D, True),
    Column("ConsumedUnit", _S, True),
    Column("ContractedCost", _D, False),
    Column("ContractedUnitPrice", _D, True),
    Column("EffectiveCost", _D, False),
    Column("InvoiceId", _S, True),
    Column("InvoiceIssuerName", _S, False),
    Column("ListCost", _D, False),
    Column("ListUnitPrice", _D, True),
    Column("PricingCategory", _S, True, PRICING_CATEGORIES),
    Column("PricingCurrency", _S, False),
    Column("PricingCurrencyContractedUnitPrice", _D, True),
    Column("PricingCurrencyEffectiveCost", _D, False),
    Column("PricingCurrencyListUnitPrice", _D, True),
    Column("PricingQuantity", _D, True),
    Column("PricingUnit", _S, True),
    Column("ProviderName", _S, False),
    Column("PublisherName", _S, False),
    Column("RegionId", _S, True),
    Column("RegionName", _S, True),
    Column("ResourceId", _S, True),
    Column("ResourceName", _S, True),
    Column("ResourceType", _S, True),
    Column("ServiceCategory", _S, False, SERVICE_CATEGORIES),
    Column("ServiceName", _S, False),
    Column("ServiceSubcategory", _S, False, tuple(SERVICE_SUBCATEGORIES)),
    Column("SkuId", _S, True),
    Column("SkuMeter", _S, True),
    Column("SkuPriceDetails", _J, True),
    Column("SkuPriceId", _S, True),
    Column("SubAccountId", _S, True),
    Column("SubAccountName", _S, True),
    Column("Tags", _J, True),
    # Custom columns (ColumnHandling: an x_ prefix, after every FOCUS column): the job behind a row.
    Column("x_JobId", _S, True),
    Column("x_AttemptNumber", _S, True),
    Column("x_GpuType", _S, True),
    Column("x_GpuCount", _D, True),
    Column("x_Team", _S, True),
    Column("x_Office", _S, True),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
BY_NAME = {c.name: c for c in COLUMNS}

# The provider features our simulated bill has: they decide which conditional rules apply (the
# validator's --applicability-criteria). Not claimed: availability zones, capacity reservations,
# several sub-account or billing-account types, pricing in another currency, virtual currencies.
APPLICABILITY_CRITERIA = (
    "ACCOUNT_NAMING_SUPPORTED",
    "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED",
    "COMMITMENT_DISCOUNT_SUPPORTED",
    "MULTIPLE_PRICING_CATEGORIES_SUPPORTED",
    "NEGOTIATED_PRICING_SUPPORTED",
    "PUBLIC_PRICE_LIST_SUPPORTED",
    "REGION_SUPPORTED",
    "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",
    "SUB_ACCOUNT_SUPPORTED",
    "TAGGING_SUPPORTED",
    "UNIT_PRICING_SUPPORTED",
    "USAGE_MEASUREMENT_SUPPORTED",
)

Row = tuple[str | None, ...]
"""One row as text, in COLUMN_NAMES order: every value already in its FOCUS format (decimals as plain
numbers, date/times as ISO 8601 UTC with a Z, key-value columns as JSON objects); None is null."""
