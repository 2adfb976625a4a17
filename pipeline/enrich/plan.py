"""The start-up plan: what the configured stream will ask of Gemini per real day, against the quota."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.enrich.prompt import SYSTEM_INSTRUCTION

# Token estimates (about four characters a token, as Google documents): instructions and schema per
# request, each intent's facts ~ 70 in, its text and extraction ~ 170 out.
TOKENS_PER_REQUEST = len(SYSTEM_INSTRUCTION) // 4 + 300
TOKENS_IN_PER_INTENT = 70
TOKENS_OUT_PER_INTENT = 170
MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class Plan:
    """Expected Gemini use per real day, and what would fit the quota when it does not."""

    intents_per_day: float
    requests_per_day: float
    requests_per_minute: float
    tokens_per_minute: float
    usd_per_day: float
    fits: bool
    fitting_scale_factor: float
    fitting_batch_size: int | None


def plan(sim_intents_per_day: float, scale_factor: float, batch_size: int, *, rpm: int, rpd: int, tpm: int,
         price_in: float, price_out: float) -> Plan:
    """Intents per simulated day x simulated days per real day (the scale factor), in batches."""
    intents = sim_intents_per_day * scale_factor
    requests = math.ceil(intents / batch_size) if intents else 0
    tokens_in = requests * TOKENS_PER_REQUEST + intents * TOKENS_IN_PER_INTENT
    tokens_out = intents * TOKENS_OUT_PER_INTENT
    per_minute = requests / 1440
    tokens_per_minute = (tokens_in + tokens_out) / 1440
    fits = requests <= rpd and per_minute <= rpm and tokens_per_minute <= tpm
    # The binding limit of the day is RPD (or RPM x 1440 when that is smaller).
    day_cap = min(rpd, rpm * 1440)
    fitting_scale = day_cap * batch_size / sim_intents_per_day if sim_intents_per_day else math.inf
    needed_batch = math.ceil(intents / day_cap) if day_cap else None
    return Plan(
        intents_per_day=intents, requests_per_day=requests, requests_per_minute=per_minute,
        tokens_per_minute=tokens_per_minute, usd_per_day=(tokens_in * price_in + tokens_out * price_out) / 1e6,
        fits=fits, fitting_scale_factor=fitting_scale,
        fitting_batch_size=needed_batch if needed_batch is not None and needed_batch <= MAX_BATCH else None,
    )
