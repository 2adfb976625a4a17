"""Cost accounting of the enricher: persisted under the meta key `enricher_stats` (the `enricher` keys
of `queue-stats --json`).

Requests are counted per quota day, which for Gemini resets at midnight Pacific time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

QUOTA_TZ = ZoneInfo("America/Los_Angeles")
ENRICHER_KEY = "enricher_stats"  # the meta key the enricher publishes its totals under


def quota_day(now: datetime) -> str:
    """The Gemini quota day (Pacific date) of a wall-clock instant."""
    return now.astimezone(QUOTA_TZ).date().isoformat()


@dataclass(slots=True)
class EnricherStats:
    """Running totals; the first five fields are the `enricher` keys of `queue-stats --json` scripts rely on."""

    requests_today: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    est_cost_usd: float = 0.0
    fallbacks: int = 0
    day: str = ""
    requests_total: int = 0
    gemini_written: int = 0
    offline_written: int = 0
    phrasebank_written: int = 0
    templates_added: int = 0  # Gemini texts kept as phrasebank templates
    templates_refused: int = 0  # Gemini texts that did not round-trip

    def roll_day(self, day: str) -> None:
        """Start a new quota day's count when the Pacific date has changed."""
        if day != self.day:
            self.day, self.requests_today = day, 0

    def add_request(self, day: str, tokens_in: int, tokens_out: int, price_in: float, price_out: float) -> None:
        """Count one answered request and its tokens at the given dollars per million tokens."""
        self.roll_day(day)
        self.requests_today += 1
        self.requests_total += 1
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.est_cost_usd = round(self.est_cost_usd + (tokens_in * price_in + tokens_out * price_out) / 1e6, 8)

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> EnricherStats:
        """The stored form read back (unknown keys ignored; a missing record starts at zero)."""
        if not text:
            return cls()
        raw = json.loads(text)
        return cls(**{key: raw[key] for key in cls.__dataclass_fields__ if key in raw})
