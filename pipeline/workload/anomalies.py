"""Which jobs carry a planted anomaly, drawn at the profile's rates from their own streams.

Every decision is keyed by (seed, window, index) or, for a spend spike, (seed, UTC day, team), so the
answer key is a pure function of the seed and the span: no pipeline has to run to know it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

from pipeline.models import Anomaly, Intent
from pipeline.workload.prices import PriceCatalog
from pipeline.workload.profile import Profile
from pipeline.workload.streams import anomaly_id, intent_id, keyed_random
from pipeline.workload.timegrid import DAY_SECONDS, window_of, window_start

TAG_KEYS = ("team", "project", "cost_center")


@dataclass(frozen=True)
class Spike:
    """One team's spend spike on one UTC day: every job it requests that day runs `factor` times longer."""

    id: str
    team: str
    day: str
    factor: float


@dataclass(frozen=True)
class Plan:
    """The anomalies drawn for one job, as the life model must apply them."""

    runaway_factor: float | None = None
    idle_hours: float | None = None
    billed_cost_center: str | None = None
    missing_tags: tuple[str, ...] = ()
    spike: Spike | None = None
    used_gpu_type: str | None = None


class AnomalyPlanter:
    """Draws planted anomalies for jobs, team-days and duplicate submissions."""

    def __init__(self, profile: Profile, prices: PriceCatalog) -> None:
        self._params = profile.anomalies
        self._prices = prices
        self._teams = [(team.name, team.cost_center) for office in profile.offices for team in office.teams]
        self._team_index = {name: i for i, (name, _) in enumerate(self._teams)}
        self._upgrades: dict[tuple[str, str], str | None] = {}

    def plan(self, seed: int, intent: Intent) -> Plan:
        """The anomalies of `intent`'s job (one uniform per kind, always drawn, so kinds are independent)."""
        p = self._params
        rng = keyed_random(seed, "anomaly", intent.window, intent.index)
        u = [rng.random() for _ in range(5)]
        size = [rng.random() for _ in range(3)]
        runaway = p.runaway_factor[0] + size[0] * (p.runaway_factor[1] - p.runaway_factor[0])
        idle = p.idle_notebook_hours[0] + size[0] * (p.idle_notebook_hours[1] - p.idle_notebook_hours[0])
        upgrade = self._upgrade(intent.gpu_type, intent.cloud_region)
        return Plan(
            runaway_factor=runaway if u[0] < p.runaway and intent.job_type != "notebook" else None,
            idle_hours=idle if u[0] < p.idle_notebook and intent.job_type == "notebook" else None,
            billed_cost_center=self._other_cost_center(intent.team, size[1]) if u[1] < p.wrong_cost_center else None,
            missing_tags=TAG_KEYS[: 1 + int(size[2] * len(TAG_KEYS))] if u[2] < p.missing_tags else (),
            spike=self.spike(seed, intent.team, _day_index(intent)),
            used_gpu_type=upgrade if u[3] < p.gpu_upgrade else None,
        )

    @functools.lru_cache(maxsize=4096)  # noqa: B019 -- one planter per Workload, team-days are few
    def spike(self, seed: int, team: str, day: int) -> Spike | None:
        """The spend spike of `team` on UTC day `day` (days since the epoch), if one is planted."""
        p = self._params
        rng = keyed_random(seed, "spend_spike", day, self._team_index.get(team, -1))
        if rng.random() >= p.spend_spike_per_team_day:
            return None
        factor = round(p.spend_spike_factor[0] + rng.random() * (p.spend_spike_factor[1] - p.spend_spike_factor[0]), 2)
        label = window_start(day * 24).date().isoformat()
        return Spike(anomaly_id(seed, "spend_spike", team, day), team, label, factor)

    def duplicate(self, seed: int, intent: Intent, index: int) -> Intent | None:
        """A second submission of `intent` a little later in its window, as job `index` of the window."""
        p = self._params
        rng = keyed_random(seed, "duplicate", intent.window, intent.index)
        if rng.random() >= p.duplicate_submission:
            return None
        low, high = p.duplicate_delay_seconds
        delay = round(low + rng.random() * (high - low))
        at = intent.occurred_at + timedelta(seconds=delay)
        if window_of(at) != intent.window:  # a window holds only its own arrivals: no duplicate then
            return None
        anomaly = Anomaly(kind="duplicate_submission", id=anomaly_id(seed, "duplicate", intent.id),
                          evidence={"original_job_id": intent.id, "delay_seconds": delay})
        return intent.model_copy(update={
            "id": intent_id(seed, intent.window, index), "index": index, "occurred_at": at,
            "anomalies": (anomaly,)})

    def _other_cost_center(self, team: str, u: float) -> str:
        others = [cc for name, cc in self._teams if name != team]
        return others[min(int(u * len(others)), len(others) - 1)] if others else "CC-UNKNOWN"

    def _upgrade(self, gpu_type: str, region: str) -> str | None:
        """The cheapest GPU type dearer than the one asked for (None for the dearest)."""
        if (gpu_type, region) not in self._upgrades:
            self._upgrades[gpu_type, region] = self._dearer(gpu_type, region)
        return self._upgrades[gpu_type, region]

    def _dearer(self, gpu_type: str, region: str) -> str | None:
        asked = self._prices.list_price(gpu_type, region)
        dearer = sorted((self._prices.list_price(g, region), g) for g in self._prices.gpus
                        if self._prices.list_price(g, region) > asked)
        return dearer[0][1] if dearer else None


def _day_index(intent: Intent) -> int:
    return int(intent.occurred_at.timestamp()) // DAY_SECONDS
