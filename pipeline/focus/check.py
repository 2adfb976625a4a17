"""Our own check of every row against the FOCUS 1.2 rules for the columns we write.

The FinOps Foundation's validator is lenient in places (an allowed-value rule passes when one row is
valid; some date formats slip through), so the tests run this on every row as well. Each problem is one
string naming the rule's column and what is wrong.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

from pipeline.focus.spec import BY_NAME, COLUMN_NAMES, SERVICE_SUBCATEGORIES, Row

_DECIMAL = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?")
_DATETIME = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COLUMN_ID = re.compile(r"[A-Z][A-Za-z0-9]*")
_CUSTOM_ID = re.compile(r"x_[A-Za-z0-9]+")
_COMMITMENT_DETAILS = ("CommitmentDiscountCategory", "CommitmentDiscountName", "CommitmentDiscountType",
                       "CommitmentDiscountStatus", "CommitmentDiscountQuantity", "CommitmentDiscountUnit")
_UNIT_PRICES = ("ListUnitPrice", "ContractedUnitPrice", "PricingCurrencyListUnitPrice",
                "PricingCurrencyContractedUnitPrice")
_NOT_NULL_FOR_USAGE_OR_PURCHASE = ("SkuId", "SkuPriceId", "PricingQuantity", "PricingCategory", *_UNIT_PRICES)
_PAIRS = (  # (column, the column it must be null or not null together with)
    ("PricingUnit", "PricingQuantity"), ("ConsumedUnit", "ConsumedQuantity"),
    ("SubAccountName", "SubAccountId"), ("RegionName", "RegionId"), ("ResourceType", "ResourceId"),
    ("CommitmentDiscountUnit", "CommitmentDiscountQuantity"),
)


def check_header(names: Iterable[str]) -> list[str]:
    """Column ids: Pascal case and alphanumeric, custom ones x_-prefixed and after every FOCUS column."""
    problems, custom_seen = [], False
    for name in names:
        if name.startswith("x_"):
            custom_seen = True
            if not _CUSTOM_ID.fullmatch(name):
                problems.append(f"{name}: a custom column id must be x_ then letters and digits")
        elif custom_seen:
            problems.append(f"{name}: FOCUS columns must come before custom (x_) columns")
        elif not _COLUMN_ID.fullmatch(name):
            problems.append(f"{name}: column ids must be Pascal case, alphanumeric")
    return problems


def _format(name: str, value: str) -> str | None:
    kind = BY_NAME[name].type
    if value == "" or value.strip() == "":
        return "empty string (null must be null)"
    if kind == "decimal" and not _DECIMAL.fullmatch(value):
        return f"{value!r} is not a plain decimal"
    if kind == "datetime" and not _DATETIME.fullmatch(value):
        return f"{value!r} is not an ISO 8601 UTC date/time YYYY-MM-DDTHH:mm:ssZ"
    if kind == "json":
        return _key_value(value)
    allowed = BY_NAME[name].allowed
    if allowed and value not in allowed:
        return f"{value!r} is not one of {', '.join(allowed)}"
    return None


def _key_value(text: str) -> str | None:
    pairs: list[tuple[str, object]] = []

    def keep(kv: list[tuple[str, object]]) -> dict[str, object]:
        pairs.extend(kv)
        return dict(kv)

    try:
        json.loads(text, object_pairs_hook=keep)
    except ValueError:
        return f"{text!r} is not JSON"
    if not text.lstrip().startswith("{"):
        return "not a JSON object"
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        return "duplicate keys"
    if any(isinstance(v, dict | list) for _, v in pairs):
        return "values must be number, string, true, false or null"
    return None


def check_row(row: Mapping[str, str | None]) -> list[str]:
    """Every rule of the spec for the columns we write, on one row."""
    problems = []
    for name in COLUMN_NAMES:
        value = row.get(name)
        if value is None:
            if not BY_NAME[name].nullable:
                problems.append(f"{name}: must not be null")
            continue
        bad = _format(name, value)
        if bad:
            problems.append(f"{name}: {bad}")
    if problems:
        return problems
    problems += _cross(row)
    return problems


def _dec(row: Mapping[str, str | None], name: str) -> Decimal:
    return Decimal(row[name] or "0")


def _cross(row: Mapping[str, str | None]) -> list[str]:  # noqa: C901, PLR0912 -- one rule per branch
    p: list[str] = []
    category, commitment = row["ChargeCategory"], row["CommitmentDiscountId"]
    status = row["CommitmentDiscountStatus"]
    if row["ChargeClass"] is None and category in ("Usage", "Purchase"):
        p += [f"{c}: must not be null for Usage and Purchase"
              for c in _NOT_NULL_FOR_USAGE_OR_PURCHASE if row[c] is None]
    p += [f"{a}: must be null exactly when {b} is" for a, b in _PAIRS if (row[a] is None) != (row[b] is None)]
    consumed_null = category != "Usage" or status == "Unused"
    if (row["ConsumedQuantity"] is None) != consumed_null:
        p.append("ConsumedQuantity: null exactly when not Usage or when the commitment is Unused")
    if category == "Purchase" and row["ChargeFrequency"] == "Usage-Based":
        p.append("ChargeFrequency: a Purchase is not Usage-Based")
    if row["PricingQuantity"] is not None:
        for cost, price in (("ListCost", "ListUnitPrice"), ("ContractedCost", "ContractedUnitPrice")):
            if row[price] is not None and _dec(row, price) * _dec(row, "PricingQuantity") != _dec(row, cost):
                p.append(f"{cost}: must equal {price} x PricingQuantity")
    for price in _UNIT_PRICES:
        if row[price] is not None and _dec(row, price) < 0:
            p.append(f"{price}: must not be negative")
    if commitment is None:
        p += [f"{c}: must be null without a CommitmentDiscountId" for c in _COMMITMENT_DETAILS if row[c] is not None]
    else:
        needed = ["CommitmentDiscountCategory", "CommitmentDiscountType", "CommitmentDiscountQuantity"]
        needed += ["CommitmentDiscountStatus"] if category == "Usage" else []
        p += [f"{c}: must not be null with a CommitmentDiscountId" for c in needed if row[c] is None]
    if status is not None and category != "Usage":
        p.append("CommitmentDiscountStatus: only Usage rows are Used or Unused")
    if (row["PricingCategory"] == "Committed") != (status is not None and category == "Usage"):
        p.append("PricingCategory: Committed exactly for usage under a commitment")
    if status == "Used" and _dec(row, "BilledCost") != 0:
        p.append("BilledCost: must be 0 where the commitment covers the whole charge")
    if category == "Purchase" and commitment is not None and _dec(row, "EffectiveCost") != 0:
        p.append("EffectiveCost: must be 0 on a commitment's purchase")
    if row["ResourceId"] is not None and row["ResourceName"] == row["ResourceId"]:
        p.append("ResourceName: must not repeat ResourceId")
    if row["SkuId"] is None and row["SkuMeter"] is not None:
        p.append("SkuMeter: must be null when SkuId is")
    if row["SkuPriceId"] is None and row["SkuPriceDetails"] is not None:
        p.append("SkuPriceDetails: must be null when SkuPriceId is")
    details = row["SkuPriceDetails"]
    if details is not None and any(not k.startswith("x_") for k in json.loads(details)):
        p.append("SkuPriceDetails: provider-defined keys must start with x_")
    if SERVICE_SUBCATEGORIES.get(row["ServiceSubcategory"] or "") != row["ServiceCategory"]:
        p.append("ServiceSubcategory: its parent must be the row's ServiceCategory")
    currencies = ("BillingCurrency", "PricingCurrency")
    p += [f"{c}: an ISO 4217 code" for c in currencies if not _CURRENCY.fullmatch(row[c] or "")]
    if row["ProviderName"] != row["InvoiceIssuerName"] and _dec(row, "BilledCost") != 0:
        p.append("BilledCost: must be 0 when a third party issues the invoice")
    start, end = row["ChargePeriodStart"] or "", row["ChargePeriodEnd"] or ""
    if not (row["BillingPeriodStart"] or "") <= start < end <= (row["BillingPeriodEnd"] or ""):
        p.append("ChargePeriod: must lie inside the billing period and end after it starts")
    return p


def check_rows(rows: Iterable[Row]) -> list[str]:
    """check_row on every row, plus the rules across rows: one parent SkuId per SkuPriceId, and per
    commitment and hour the usage's EffectiveCost (Used + Unused) equals the purchase's BilledCost."""
    problems: list[str] = []
    parents: dict[str, str | None] = {}
    drawn: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    paid: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for n, values in enumerate(rows):
        row = dict(zip(COLUMN_NAMES, values, strict=True))
        problems += [f"row {n + 1}: {problem}" for problem in check_row(row)]
        price_id = row["SkuPriceId"]
        if price_id is not None and parents.setdefault(price_id, row["SkuId"]) != row["SkuId"]:
            problems.append(f"row {n + 1}: SkuPriceId {price_id} has more than one parent SkuId")
        if row["CommitmentDiscountId"] is not None:
            key = (row["CommitmentDiscountId"], row["ChargePeriodStart"] or "")
            if row["ChargeCategory"] == "Usage":
                drawn[key] += Decimal(row["EffectiveCost"] or "0")
            elif row["ChargeCategory"] == "Purchase":
                paid[key] += Decimal(row["BilledCost"] or "0")
    for key in sorted(set(drawn) | set(paid)):
        if drawn[key] != paid[key]:
            problems.append(f"commitment {key[0]} at {key[1]}: usage EffectiveCost {drawn[key]} "
                            f"!= purchase {paid[key]}")
    return problems
