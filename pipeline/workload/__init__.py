"""The workload model: profile + prices -> a reproducible stream of job intents per simulated window.

The scheduler calls `Workload.load(...)` once and `window_intents(seed, w)` per window; everything
else here is the model's inside.
"""

from pipeline.workload.model import WindowExpectation, Workload
from pipeline.workload.rate import Burst
from pipeline.workload.streams import intent_id
from pipeline.workload.timegrid import WINDOW_SECONDS, window_of, window_start

__all__ = [
    "WINDOW_SECONDS", "Burst", "WindowExpectation", "Workload", "intent_id", "window_of", "window_start",
]
