"""The profile's `[lifecycle]` and `[anomalies]` tables: how jobs wait, run, end, and go wrong.

Defaults equal data/profiles/default.toml, where each number is cited (docs/lifecycle.md has the sources),
so a profile without these tables still gives every job a life.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from pipeline.workload.choice import Choice

OUTCOMES = ("completed", "failed", "cancelled")
PRIORITY_NAMES = ("low", "normal", "high", "urgent")


def _outcome_mix(value: Any) -> Choice[str]:
    if isinstance(value, Choice):
        return value
    if not isinstance(value, dict):
        raise ValueError("a table such as { completed = 0.6, failed = 0.25, cancelled = 0.15 }")
    unknown = sorted(set(value) - set(OUTCOMES))
    if unknown:
        raise ValueError(f"unknown outcome(s) {', '.join(unknown)}; allowed: {', '.join(OUTCOMES)}")
    return Choice.of(value)


def _range(value: Any) -> tuple[float, float]:
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        low, high = float(value[0]), float(value[1])
        if 0 < low <= high:
            return low, high
    raise ValueError("a range [low, high] with 0 < low <= high")


OutcomeMix = Annotated[Choice[str], BeforeValidator(_outcome_mix)]
Range = Annotated[tuple[float, float], BeforeValidator(_range)]
Rate = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class LifeParams(_Model):
    """Queue waits, outcomes, actual runtimes and spot preemption."""

    wait_median_seconds: dict[str, Annotated[float, Field(ge=0)]] = {
        "urgent": 5.0, "high": 20.0, "normal": 60.0, "low": 240.0}
    wait_sigma: Annotated[float, Field(ge=0)] = 1.8
    wait_size_exponent: Annotated[float, Field(ge=0)] = 0.5
    wait_max_hours: Positive = 48.0
    gang_min_gpus: Annotated[int, Field(ge=2)] = 9
    outcome_single_gpu: OutcomeMix = Choice.of({"completed": 0.64, "failed": 0.24, "cancelled": 0.12})
    outcome_multi_gpu: OutcomeMix = Choice.of({"completed": 0.58, "failed": 0.28, "cancelled": 0.14})
    outcome_gang: OutcomeMix = Choice.of({"completed": 0.30, "failed": 0.30, "cancelled": 0.40})
    time_limit_share: Rate = 0.05
    completed_ratio_median: Annotated[float, Field(gt=0, le=1)] = 0.6
    completed_ratio_sigma: Annotated[float, Field(ge=0)] = 0.5
    failed_ratio_median: Annotated[float, Field(gt=0, le=1)] = 0.1
    failed_ratio_sigma: Annotated[float, Field(ge=0)] = 1.2
    min_runtime_seconds: Annotated[int, Field(ge=1)] = 30
    spot_preemptions_per_hour: Annotated[float, Field(ge=0)] = 0.02
    spot_max_attempts: Annotated[int, Field(ge=1, le=20)] = 4
    spot_requeue_median_seconds: Positive = 300.0
    checkpoint_every_hours: Positive = 1.0

    @model_validator(mode="after")
    def _priorities(self) -> LifeParams:
        missing = sorted(set(PRIORITY_NAMES) - set(self.wait_median_seconds))
        unknown = sorted(set(self.wait_median_seconds) - set(PRIORITY_NAMES))
        if missing or unknown:
            raise ValueError(f"wait_median_seconds needs exactly {', '.join(PRIORITY_NAMES)}")
        return self

    def outcomes_for(self, gpus: int) -> Choice[str]:
        """The outcome mix of a job of `gpus` GPUs (bigger gangs complete less often)."""
        if gpus <= 1:
            return self.outcome_single_gpu
        return self.outcome_multi_gpu if gpus < self.gang_min_gpus else self.outcome_gang


class AnomalyParams(_Model):
    """Rates (share of jobs, unless named otherwise) and sizes of the planted anomalies."""

    runaway: Rate = 0.002
    runaway_factor: Range = (4.0, 12.0)
    idle_notebook: Rate = 0.01  # of notebook jobs
    idle_notebook_hours: Range = (48.0, 168.0)
    wrong_cost_center: Rate = 0.002
    missing_tags: Rate = 0.002
    duplicate_submission: Rate = 0.002
    duplicate_delay_seconds: Range = (20.0, 600.0)
    gpu_upgrade: Rate = 0.002
    spend_spike_per_team_day: Rate = 0.01
    spend_spike_factor: Range = (8.0, 16.0)


__all__ = ["AnomalyParams", "LifeParams"]
