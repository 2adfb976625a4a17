"""The receiver's side of the page: the newest payloads it accepted and their money per team and cost centre."""

from __future__ import annotations

from collections import deque
from datetime import date, datetime, timedelta
from typing import Any

from pipeline.dashboard.payloads import LATEST, summary
from pipeline.dashboard.spend import Totals, money

KEEP = LATEST


class Received:
    """Bounded: the newest KEEP payloads, and dollar totals per simulated day of the newest week only."""

    def __init__(self) -> None:
        # Bodies as received; summarised only when a page asks (the receiver may take thousands a second).
        self._latest: deque[tuple[dict[str, Any], bool]] = deque(maxlen=KEEP)
        self._days: dict[date, Totals] = {}
        self._newest: date | None = None

    def add(self, body: dict[str, Any], *, duplicate: bool) -> None:
        """Count one accepted payload (a duplicate is listed but not counted twice)."""
        self._latest.appendleft((body, duplicate))
        if duplicate:
            return
        try:
            day = datetime.fromisoformat(str(body["occurred_at"])).date()
            truth, cost = body["truth"], body["cost"]
            dollars, listed = float(cost["estimated_cost"]), float(cost["estimated_list_cost"])
        except (KeyError, TypeError, ValueError):
            return  # not a job payload: listed, but it has no money to count
        self._days.setdefault(day, Totals()).add(str(truth.get("team")), str(truth.get("cost_center")),
                                                 dollars, listed)
        if self._newest is None or day > self._newest:
            self._newest = day
            week = day - timedelta(days=day.weekday())
            for old in [d for d in self._days if d < week]:
                del self._days[old]

    def latest(self) -> list[dict[str, Any]]:
        """The newest payloads first, as the page lists them."""
        return [summary(body, "duplicate" if duplicate else "received") for body, duplicate in self._latest]

    def money(self) -> dict[str, Any] | None:
        """Today (the newest simulated day received) and its week, in the dashboard's money shape."""
        if self._newest is None:
            return None
        week = self._newest - timedelta(days=self._newest.weekday())
        return {"today": {**money([self._days[self._newest]]), "day": self._newest.isoformat()},
                "week": {**money([t for d, t in self._days.items() if d >= week]), "day": week.isoformat()}}
