"""The last hours of the queue-stats report, sampled by the dashboard (it keeps no file of its own)."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

SPAN_S = 3 * 3600.0
MIN_STEP_S = 10.0  # one sample per 10 s at most: 3 h are 1,080 samples
SHOWN = 360  # points sent to the page per series (every event carries them: keep it small)


class History:
    """Backlog per queue, dead letters and deliveries over time, in bounded memory."""

    def __init__(self, span_s: float = SPAN_S, step_s: float = MIN_STEP_S) -> None:
        self.span_s, self.step_s = span_s, step_s
        self._rows: deque[tuple[float, int, int, int, int, int]] = deque()

    def add(self, t: float, stats: dict[str, Any]) -> None:
        """Keep one sample of a report (skipped if the last one is younger than the step)."""
        if self._rows and t - self._rows[-1][0] < self.step_s:
            return
        q = stats["queues"]
        self._rows.append((t, q["intents"]["ready"] + q["intents"]["unacked"],
                           q["payloads"]["ready"] + q["payloads"]["unacked"], q["payloads"]["waiting_retry"],
                           stats["dead"]["count"], stats["delivery"]["delivered_total"]))
        while self._rows and t - self._rows[0][0] > self.span_s:
            self._rows.popleft()

    def series(self, points: int = SHOWN) -> dict[str, list[float]]:
        """Columns for the chart: time, intents, payloads, waiting retry, dead, delivered per second; at most
        `points` rows, evenly thinned (the newest always kept)."""
        every = max(1, -(-len(self._rows) // points))
        rows = list(self._rows)[::-1][::every][::-1]
        rate = [0.0] + [max(0.0, (b[5] - a[5]) / (b[0] - a[0])) for a, b in itertools.pairwise(rows)]
        return {"t": [round(r[0], 1) for r in rows], "intents": [r[1] for r in rows],
                "payloads": [r[2] for r in rows], "waiting_retry": [r[3] for r in rows],
                "dead": [r[4] for r in rows], "delivered_per_s": [round(x, 3) for x in rate]}

    def rates(self, over_s: float = 60.0) -> dict[str, float | None]:
        """Deliveries per second over the last minute of samples (None until two samples exist)."""
        if len(self._rows) < 2:
            return {"delivered_per_s": None}
        last = self._rows[-1]
        first = next((r for r in self._rows if last[0] - r[0] <= over_s), self._rows[0])
        if first is last:
            first = self._rows[-2]
        return {"delivered_per_s": round(max(0, last[5] - first[5]) / (last[0] - first[0]), 3)}
