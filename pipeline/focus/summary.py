"""The bill summed per team and UTC day, as bin/workload-preview --bill shows it."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from pipeline.focus.bill import Bill
from pipeline.focus.spec import COLUMN_NAMES

COMMITMENTS = "(commitment fees)"
_TEAM, _DAY, _BILLED = (COLUMN_NAMES.index(c) for c in ("x_Team", "ChargePeriodStart", "BilledCost"))


def billed_by_team_day(bill: Bill, seed: int, first: int, end: int,
                       origin: int | None = None) -> dict[tuple[str, str], Decimal]:
    """Sum of BilledCost per (team, UTC day) over charge hours [first, end); rows of no team (a
    commitment's hourly fee) under COMMITMENTS."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for _, rows in bill.hours(seed, first, end, origin):
        for row in rows:
            totals[(row[_TEAM] or COMMITMENTS, (row[_DAY] or "")[:10])] += Decimal(row[_BILLED] or "0")
    return dict(totals)


def render_bill(totals: dict[tuple[str, str], Decimal]) -> str:
    """A team x day table of billed dollars (to the cent), with each day's total."""
    days = sorted({day for _, day in totals})
    teams = sorted({team for team, _ in totals}, key=lambda t: (t == COMMITMENTS, t))
    lines = ["", "Bill per team and UTC day (FOCUS BilledCost in USD, as bin/export writes it; hours a "
             "commitment covers are billed 0, its fee is billed on its own line)",
             f"  {'team':<20} " + " ".join(f"{day:>12}" for day in days)]
    for team in teams:
        cells = " ".join(f"{totals.get((team, day), Decimal(0)):12,.2f}" for day in days)
        lines.append(f"  {team:<20} {cells}")
    cells = " ".join(f"{sum(v for (_, d), v in totals.items() if d == day):12,.2f}" for day in days)
    lines.append(f"  {'total':<20} {cells}")
    return "\n".join(lines) + "\n"
