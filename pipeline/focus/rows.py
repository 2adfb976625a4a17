"""FOCUS rows: one per job attempt per charge hour, and a commitment's purchase and unused rows.

Pure functions from pieces and amounts to text rows (pipeline.focus.spec.Row). Amounts are integers:
quantities in 1e-9 GPU-hours, money in 1e-15 USD, so each cost is the exact product of its unit price
and quantity, and sums never drift.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.focus import catalog as cat
from pipeline.focus.catalog import BillCatalog, CommitmentPlan
from pipeline.focus.spec import COLUMN_NAMES, Row
from pipeline.focus.usage import Piece

QTY_SCALE = 9
MONEY_SCALE = 15
_QTY = 1_000_000_000  # 10**QTY_SCALE, spelt out so it stays an int for the type checker
# price (1e-4) x quantity (1e-9) = 1e-13 USD; x 100 = 1e-15, which also leaves room for a whole-percent
# discount to stay exact.
_PRICE_TO_MONEY = 100
_TEMPLATES_KEPT = 8_192  # more than the attempts running in any hour; ~1 KB each
_AT = {name: i for i, name in enumerate(COLUMN_NAMES)}
_CHARGE_START, _CHARGE_END = _AT["ChargePeriodStart"], _AT["ChargePeriodEnd"]
_BILLED, _EFFECTIVE, _PC_EFFECTIVE = _AT["BilledCost"], _AT["EffectiveCost"], _AT["PricingCurrencyEffectiveCost"]
_LIST_COST, _CONTRACTED_COST = _AT["ListCost"], _AT["ContractedCost"]
_CONSUMED, _PRICING_QTY = _AT["ConsumedQuantity"], _AT["PricingQuantity"]
_COMMITMENT_QTY = _AT["CommitmentDiscountQuantity"]
_PRICING_LABEL = {"on_demand": "On-Demand", "spot": "Spot", "committed": "Savings Plan"}


def decimal(value: int, scale: int) -> str:
    """An integer count of 10^-scale units as a plain FOCUS decimal ("12.5", "0", never 1e-05)."""
    whole, frac = divmod(value, 10**scale)
    text = f"{frac:0{scale}d}".rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gpu_nano_hours(gpu_count: int, seconds: int) -> int:
    """GPU-hours of `gpu_count` GPUs for `seconds`, in whole 1e-9 GPU-hours (rounded half up)."""
    return (gpu_count * seconds * _QTY * 2 + 3600) // 7200


def money(price: int, nano_hours: int) -> int:
    """price (1e-4 USD per GPU-hour) x quantity -> 1e-15 USD, exactly."""
    return price * nano_hours * _PRICE_TO_MONEY


def discount_percent(plan: CommitmentPlan) -> int:
    return round(plan.discount * 100)


def committed_money(list_price: int, nano_hours: int, plan: CommitmentPlan) -> int:
    """What covered usage draws from a spend commitment: list cost less the plan's discount, exactly."""
    return list_price * nano_hours * (100 - discount_percent(plan))


class Period:
    """The text of one charge hour and of its billing period (the calendar month, UTC)."""

    def __init__(self, hour: int) -> None:
        start = datetime.fromtimestamp(hour * 3600, UTC)
        end = datetime.fromtimestamp((hour + 1) * 3600, UTC)
        month = start.replace(day=1, hour=0)
        next_month = month.replace(year=month.year + 1, month=1) if month.month == 12 else month.replace(
            month=month.month + 1)
        self.start, self.end = iso(start), iso(end)
        self.month_start, self.month_end = iso(month), iso(next_month)
        self.month_code = month.strftime("%Y%m")  # one (provisional) invoice per billing account and month


class RowBuilder:
    """Builds the rows of one bill: knows the accounts, SKUs and commitments."""

    def __init__(self, catalog: BillCatalog, payer_office: dict[str, str]) -> None:
        self.catalog = catalog
        self._payer_office = payer_office  # region -> the office whose billing account holds its commitment
        self._templates: dict[tuple[Piece, CommitmentPlan | None, str], list[str | None]] = {}

    def _base(self, period: Period, office: str) -> dict[str, str | None]:
        account = self.catalog.billing_accounts[office]
        row: dict[str, str | None] = dict.fromkeys(COLUMN_NAMES)
        row.update(
            BillingAccountId=account.id, BillingAccountName=account.name, BillingCurrency="USD",
            BillingPeriodStart=period.month_start, BillingPeriodEnd=period.month_end,
            ChargePeriodStart=period.start, ChargePeriodEnd=period.end,
            InvoiceId=f"INV-{account.id}-{period.month_code}", InvoiceIssuerName=cat.PROVIDER,
            PricingCurrency="USD",
            ProviderName=cat.PROVIDER, PublisherName=cat.PROVIDER,
        )
        return row

    def usage(self, period: Period, piece: Piece, seconds: int, plan: CommitmentPlan | None) -> Row:
        """The row of `piece` for `seconds` of this hour; `plan` when a commitment covers it."""
        key = (piece, plan, period.month_code)
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) > _TEMPLATES_KEPT:  # pieces end; their templates need not stay
                self._templates.clear()
            template = self._templates[key] = self._usage_template(period, piece, plan)
        qn = gpu_nano_hours(piece.gpu_count, seconds)
        list_cost = decimal(money(piece.list_price, qn), MONEY_SCALE)
        effective = decimal(committed_money(piece.list_price, qn, plan) if plan else money(piece.price, qn),
                            MONEY_SCALE)
        quantity = decimal(qn, QTY_SCALE)
        row = list(template)
        row[_CHARGE_START], row[_CHARGE_END] = period.start, period.end
        row[_BILLED] = "0" if plan else effective
        row[_EFFECTIVE] = row[_PC_EFFECTIVE] = effective
        row[_LIST_COST] = row[_CONTRACTED_COST] = list_cost
        row[_CONSUMED] = row[_PRICING_QTY] = quantity
        if plan:
            row[_COMMITMENT_QTY] = effective
        return tuple(row)

    def _usage_template(self, period: Period, piece: Piece, plan: CommitmentPlan | None) -> list[str | None]:
        """Every value of a piece's rows that does not change from hour to hour within a month."""
        pricing = "committed" if plan else piece.pricing
        sku = self.catalog.skus[(piece.gpu_type, piece.region)]
        sub = self.catalog.sub_account(piece.cost_center)
        price = decimal(piece.list_price, 4)
        row = self._base(period, piece.office)
        row.update(
            ListUnitPrice=price, ContractedUnitPrice=price, PricingCurrencyListUnitPrice=price,
            PricingCurrencyContractedUnitPrice=price,
            ChargeCategory="Usage", ChargeFrequency="Usage-Based",
            ChargeDescription=(f"{piece.gpu_count} x {piece.gpu_type} GPU ({sku.instance}) in {piece.region}, "
                               f"{_PRICING_LABEL[pricing]}"),
            ConsumedUnit=cat.GPU_UNIT, PricingUnit=cat.GPU_UNIT, PricingCategory=cat.PRICING_CATEGORY[pricing],
            RegionId=piece.region, RegionName=self.catalog.region_name(piece.region),
            ResourceId=f"arn:aws:ec2:{piece.region}:{sub.id}:instance/{piece.job_id}",
            ResourceName=piece.job_id, ResourceType=cat.RESOURCE_TYPE,
            ServiceCategory=cat.SERVICE_CATEGORY, ServiceName=cat.SERVICE_NAME,
            ServiceSubcategory=cat.SERVICE_SUBCATEGORY,
            SkuId=sku.id, SkuMeter=sku.meter, SkuPriceId=sku.price_id(pricing),
            SkuPriceDetails=sku.price_details(piece.gpu_type, pricing),
            SubAccountId=sub.id, SubAccountName=sub.name, Tags=piece.tags,
            x_JobId=piece.job_id, x_AttemptNumber=str(piece.attempt), x_GpuType=piece.gpu_type,
            x_GpuCount=str(piece.gpu_count), x_Team=piece.team, x_Office=piece.office,
        )
        if plan:
            row.update(self._commitment(plan), CommitmentDiscountStatus="Used")
        return list(row.values())

    def _commitment(self, plan: CommitmentPlan) -> dict[str, str | None]:
        return {"CommitmentDiscountCategory": "Spend", "CommitmentDiscountId": plan.id,
                "CommitmentDiscountName": plan.name, "CommitmentDiscountType": plan.type,
                "CommitmentDiscountUnit": "USD"}

    def _plan_row(self, period: Period, plan: CommitmentPlan) -> dict[str, str | None]:
        row = self._base(period, self._payer_office[plan.region])
        row.update(
            self._commitment(plan),
            RegionId=plan.region, RegionName=self.catalog.region_name(plan.region),
            ResourceId=plan.id, ResourceName=plan.name, ResourceType="Savings Plan",
            ServiceCategory=cat.SERVICE_CATEGORY, ServiceName=cat.COMMITMENT_SERVICE_NAME,
            ServiceSubcategory=cat.COMMITMENT_SUBCATEGORY, SkuId=plan.sku_id,
        )
        return row

    def purchase(self, period: Period, plan: CommitmentPlan, amount: int) -> Row:
        """The commitment's fee for this hour: billed now, spread over the usage it covers (EffectiveCost 0)."""
        fee = decimal(amount, MONEY_SCALE)
        row = self._plan_row(period, plan)
        row.update(
            BilledCost=fee, EffectiveCost="0", ListCost=fee, ContractedCost=fee,
            ListUnitPrice=fee, ContractedUnitPrice=fee, PricingCurrencyListUnitPrice=fee,
            PricingCurrencyContractedUnitPrice=fee, PricingCurrencyEffectiveCost="0",
            PricingQuantity="1", PricingUnit="Hours",
            PricingCategory="Standard", ChargeCategory="Purchase", ChargeFrequency="Recurring",
            ChargeDescription=f"{plan.type} {plan.name}: {fee} USD commitment per hour",
            CommitmentDiscountQuantity=fee, SkuMeter="Savings Plan commitment",
            SkuPriceId=f"{plan.sku_id}.Recurring",
        )
        return tuple(row.values())

    def unused(self, period: Period, plan: CommitmentPlan, amount: int) -> Row:
        """The part of this hour's commitment no usage drew on: paid for, so it is an effective cost."""
        left = decimal(amount, MONEY_SCALE)
        row = self._plan_row(period, plan)
        row.update(
            BilledCost="0", EffectiveCost=left, ListCost=left, ContractedCost=left,
            ListUnitPrice="1", ContractedUnitPrice="1", PricingCurrencyListUnitPrice="1",
            PricingCurrencyContractedUnitPrice="1", PricingCurrencyEffectiveCost=left,
            PricingQuantity=left, PricingUnit="USD",
            PricingCategory="Committed", ChargeCategory="Usage", ChargeFrequency="Recurring",
            ChargeDescription=f"{plan.type} {plan.name}: unused commitment",
            CommitmentDiscountQuantity=left, CommitmentDiscountStatus="Unused",
            SkuMeter="Savings Plan unused commitment", SkuPriceId=f"{plan.sku_id}.Unused",
        )
        return tuple(row.values())
