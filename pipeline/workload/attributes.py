"""What a job is: given the team an arrival came from, draw its class, size, duration, price and people.

Each job draws from its own stream (seed, "job", window, index), so changing this model never moves
arrival times, and job k of window w is the same whatever else was generated.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime

from pipeline.models import Cost, Intent
from pipeline.workload.choice import Choice
from pipeline.workload.prices import PriceCatalog
from pipeline.workload.profile import JobClass, Office, Profile, Team
from pipeline.workload.rate import Segment
from pipeline.workload.streams import intent_id, keyed_random


def _roster(office: Office, team: Team, zipf: float) -> Choice[str]:
    """The team's members with Zipf weights: a few people submit most of a team's jobs."""
    members: dict[str, float] = {}
    for k in range(team.headcount):
        digest = hashlib.blake2b(f"{team.name}|{k}".encode(), digest_size=8).digest()
        first = office.first_names[int.from_bytes(digest[:4], "big") % len(office.first_names)]
        last = office.last_names[int.from_bytes(digest[4:], "big") % len(office.last_names)]
        name = f"{first} {last}"
        members[name] = members.get(name, 0.0) + 1 / (k + 1) ** zipf
    return Choice.of(members)


@dataclass(frozen=True)
class _TeamTables:
    office: Office
    team: Team
    classes: Choice[str]
    authors: Choice[str]


class JobSampler:
    """Turns an arrival (time, office, team, burst) into a fully priced Intent."""

    def __init__(self, profile: Profile, prices: PriceCatalog) -> None:
        self._profile = profile
        self._prices = prices
        self._teams: list[list[_TeamTables]] = [
            [
                _TeamTables(
                    office,
                    team,
                    Choice.of({name: cls.share * team.class_bias.get(name, 1.0)
                               for name, cls in profile.classes.items()}),
                    _roster(office, team, profile.author_zipf),
                )
                for team in office.teams
            ]
            for office in profile.offices
        ]

    def sample(self, seed: int, window: int, index: int, at: datetime, source: Segment) -> Intent:
        """The job that arrived at `at`, from `source`'s team, as the `index`-th of `window`."""
        rng = keyed_random(seed, "job", window, index)
        tables = self._teams[source.office][source.team]
        burst = source.burst
        job_type = tables.classes.pick(rng)
        cls: JobClass = self._profile.classes[job_type]  # type: ignore[index]
        region = tables.office.cloud_regions.pick(rng)
        gpu_type = cls.gpu_types.pick(rng)
        gpu_count = cls.gpus.pick(rng)
        hours = rng.lognormvariate(math.log(cls.duration_median_hours), cls.duration_sigma)
        hours = round(min(max(hours, cls.duration_min_hours), cls.duration_max_hours), 3)
        priority = (self._profile.bursts.priority if burst else cls.priority).pick(rng)
        spot_ok = priority not in self._profile.no_spot_priorities and rng.random() < cls.spot_share
        return Intent(
            id=intent_id(seed, window, index),
            window=window,
            index=index,
            occurred_at=at,
            office=tables.office.name,
            team=tables.team.name,
            cost_center=tables.team.cost_center,
            project=tables.team.projects.pick(rng),
            author=tables.authors.pick(rng),
            channel=self._profile.channels.pick(rng),
            cloud_region=region,
            job_type=job_type,
            model_family=cls.model_families.pick(rng),
            gpu_type=gpu_type,
            gpu_count=gpu_count,
            est_duration_hours=hours,
            priority=priority,
            spot_ok=spot_ok,
            cost=self._cost(gpu_type, region, gpu_count * hours, spot_ok),
            burst_id=burst.id if burst else None,
            is_burst=burst is not None,
        )

    def _cost(self, gpu_type: str, region: str, gpu_hours: float, spot: bool) -> Cost:
        list_price = self._prices.list_price(gpu_type, region)
        price = self._prices.spot_price(gpu_type, region) if spot else list_price
        return Cost(
            pricing="spot" if spot else "on_demand",
            gpu_hour_list_price=list_price,
            gpu_hour_price=price,
            estimated_list_cost=round(gpu_hours * list_price, 2),
            estimated_cost=round(gpu_hours * price, 2),
        )
