"""A job's life: queue wait, attempts, outcome, actual runtime and cost, from (seed, intent) alone.

Draws come from the job's own stream (seed, "life", window, index), so a life never depends on what
else was generated, on ticks, scale or restarts. Times are whole seconds after the request, so
GPU-hours are exactly gpu_count x (end - start) of each attempt.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.models import Anomaly, Attempt, EndReason, Intent, JobLife, Outcome
from pipeline.workload.anomalies import AnomalyPlanter, Plan
from pipeline.workload.prices import PriceCatalog
from pipeline.workload.profile import Profile
from pipeline.workload.streams import anomaly_id, keyed_random


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma) if sigma > 0 else median


@dataclass(frozen=True)
class _Run:
    """The work a job does before it ends (seconds of runtime on its GPUs), and how it ends."""

    seconds: int
    outcome: Outcome
    reason: EndReason


class LifeModel:
    """Turns an intent into its JobLife."""

    def __init__(self, profile: Profile, prices: PriceCatalog, planter: AnomalyPlanter) -> None:
        self._p = profile.lifecycle
        self._prices = prices
        self._planter = planter

    def life(self, seed: int, intent: Intent) -> JobLife:
        """The life of `intent`'s job (its request-time anomalies, e.g. a duplicate, are carried over)."""
        p = self._p
        rng = keyed_random(seed, "life", intent.window, intent.index)
        plan = self._planter.plan(seed, intent)
        run = self._run(rng, intent, plan)
        median = p.wait_median_seconds[intent.priority] * intent.gpu_count ** p.wait_size_exponent
        wait = round(min(_lognormal(rng, median, p.wait_sigma), p.wait_max_hours * 3600))
        gpu_type = plan.used_gpu_type or intent.gpu_type
        spot = intent.spot_ok
        list_price = self._prices.list_price(gpu_type, intent.cloud_region)
        price = self._prices.spot_price(gpu_type, intent.cloud_region) if spot else list_price

        def attempt(number: int, queued: datetime, start: datetime, seconds: int, outcome: Outcome) -> Attempt:
            gpu_hours = intent.gpu_count * seconds / 3600
            return Attempt(
                number=number, queued_at=queued, started_at=start, ended_at=start + timedelta(seconds=seconds),
                outcome=outcome, gpu_type=gpu_type, gpu_count=intent.gpu_count, cloud_region=intent.cloud_region,
                pricing="spot" if spot else "on_demand", gpu_hour_list_price=list_price, gpu_hour_price=price,
                hours=round(seconds / 3600, 6), gpu_hours=round(gpu_hours, 6),
                list_cost=round(gpu_hours * list_price, 4), billed_cost=round(gpu_hours * price, 4))

        attempts: list[Attempt] = []
        queued, start, remaining = intent.occurred_at, intent.occurred_at + timedelta(seconds=wait), run.seconds
        outcome, reason = run.outcome, run.reason
        while True:
            number = len(attempts) + 1
            reclaim = (rng.expovariate(p.spot_preemptions_per_hour) * 3600
                       if spot and p.spot_preemptions_per_hour > 0 else math.inf)
            if reclaim >= remaining:
                attempts.append(attempt(number, queued, start, remaining, outcome))
                break
            ran = max(1, round(reclaim))
            attempts.append(attempt(number, queued, start, ran, "preempted"))
            if number >= p.spot_max_attempts:  # capacity never came back long enough: the job gives up
                outcome, reason = "preempted", "spot_preempted"
                break
            lost = round(min(ran, p.checkpoint_every_hours * 3600 * rng.random()))  # since the last checkpoint
            remaining = remaining - ran + lost
            queued = attempts[-1].ended_at
            start = queued + timedelta(seconds=round(_lognormal(rng, p.spot_requeue_median_seconds, p.wait_sigma)))
        return self._assemble(seed, intent, plan, attempts, (outcome, reason))

    def _run(self, rng: random.Random, intent: Intent, plan: Plan) -> _Run:
        """How long the job runs in total and how it ends (before preemption splits it into attempts)."""
        p = self._p
        requested = intent.est_duration_hours * 3600
        drawn = self._p.outcomes_for(intent.gpu_count).pick(rng)
        u = rng.random(), rng.random(), rng.random()
        outcome: Outcome
        reason: EndReason
        if drawn == "completed":
            ratio = min(_lognormal(rng, p.completed_ratio_median, p.completed_ratio_sigma), 1.0)
            outcome, reason = "completed", "finished"
            if u[0] < p.time_limit_share:  # ran into the requested limit and was stopped there
                ratio, outcome, reason = 1.0, "cancelled", "time_limit"
        elif drawn == "failed":  # failures come early in a run
            ratio = min(_lognormal(rng, p.failed_ratio_median, p.failed_ratio_sigma), 1.0)
            outcome, reason = "failed", "error"
        else:  # a person cancels late rather than early: the larger of two uniforms
            ratio = max(u[1], u[2])
            outcome, reason = "cancelled", "user_cancel"
        seconds = max(ratio * requested, p.min_runtime_seconds)
        if plan.idle_hours is not None:  # nobody shut the notebook down; someone finally did
            seconds, outcome, reason = plan.idle_hours * 3600, "cancelled", "user_cancel"
        elif plan.runaway_factor is not None:  # ran far past its request: no limit stopped it
            seconds, outcome, reason = requested * plan.runaway_factor, "completed", "finished"
        if plan.spike is not None:
            seconds *= plan.spike.factor
        return _Run(max(1, round(seconds)), outcome, reason)

    def _assemble(self, seed: int, intent: Intent, plan: Plan, attempts: list[Attempt],
                  end: tuple[Outcome, EndReason]) -> JobLife:
        outcome, reason = end
        billed_cc = plan.billed_cost_center or intent.cost_center
        tags = {"team": intent.team, "project": intent.project, "cost_center": billed_cc,
                "job_type": intent.job_type}
        for key in plan.missing_tags:
            del tags[key]
        seconds = sum(round((a.ended_at - a.started_at).total_seconds()) for a in attempts)
        life = JobLife(
            job_id=intent.id, requested_at=intent.occurred_at, started_at=attempts[0].started_at,
            ended_at=attempts[-1].ended_at, outcome=outcome, end_reason=reason,
            requested_hours=intent.est_duration_hours, actual_hours=round(seconds / 3600, 6),
            queue_wait_seconds=(attempts[0].started_at - intent.occurred_at).total_seconds(),
            gpu_hours=round(sum(a.gpu_count * (a.ended_at - a.started_at).total_seconds() for a in attempts) / 3600, 6),
            list_cost=round(sum(a.list_cost for a in attempts), 4),
            billed_cost=round(sum(a.billed_cost for a in attempts), 4),
            cost_center=billed_cc, tags=tags, attempts=tuple(attempts),
        )
        kept = tuple(a for a in intent.anomalies if a.kind == "duplicate_submission")
        return life.model_copy(update={"anomalies": kept + self._anomalies(seed, intent, plan, life)})

    def _anomalies(self, seed: int, intent: Intent, plan: Plan, life: JobLife) -> tuple[Anomaly, ...]:
        """The anomalies of this life with the evidence a detector would find in its events."""
        found: list[Anomaly] = []

        def add(kind: str, evidence: dict[str, str | float | int | None], key: str | None = None) -> None:
            found.append(Anomaly.model_validate(
                {"kind": kind, "id": key or anomaly_id(seed, kind, intent.id), "evidence": evidence}))

        hours = {"requested_hours": intent.est_duration_hours, "actual_hours": life.actual_hours}
        if plan.idle_hours is not None:
            add("idle_notebook", {**hours, "gpu_count": intent.gpu_count, "gpu_hours": life.gpu_hours})
        if plan.runaway_factor is not None:
            add("runaway", {**hours, "factor": round(life.actual_hours / intent.est_duration_hours, 2)})
        if plan.billed_cost_center is not None:
            add("wrong_cost_center", {"team": intent.team, "expected_cost_center": intent.cost_center,
                                      "billed_cost_center": plan.billed_cost_center})
        if plan.missing_tags:
            add("missing_tags", {"missing": ",".join(plan.missing_tags), "team": intent.team})
        if plan.used_gpu_type is not None:
            add("gpu_upgrade", {
                "requested_gpu_type": intent.gpu_type, "used_gpu_type": plan.used_gpu_type,
                "requested_list_price": intent.cost.gpu_hour_list_price,
                "used_list_price": life.attempts[0].gpu_hour_list_price})
        if plan.spike is not None:
            add("spend_spike", {"team": plan.spike.team, "day": plan.spike.day, "factor": plan.spike.factor},
                plan.spike.id)
        return tuple(found)


__all__ = ["LifeModel"]
