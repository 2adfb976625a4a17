"""The workload profile: a TOML file (data/profiles/*.toml) parsed into checked, frozen models.

Every table of weights becomes a `Choice`; a bad profile raises ValueError naming the file, the key
and the problem, so a typo stops the command before it generates anything.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from pipeline.models import Channel, JobType, Priority
from pipeline.workload.choice import Choice
from pipeline.workload.life_params import AnomalyParams, LifeParams

JOB_TYPES: tuple[str, ...] = get_args(JobType)
PRIORITIES: tuple[str, ...] = get_args(Priority)
CHANNELS: tuple[str, ...] = get_args(Channel)


def _choice(allowed: tuple[str, ...] | None = None) -> BeforeValidator:
    def build(value: Any) -> Choice[str]:
        if isinstance(value, Choice):
            return value
        if not isinstance(value, dict):
            raise ValueError("a table of name = weight")
        if allowed is not None:
            unknown = sorted(set(value) - set(allowed))
            if unknown:
                raise ValueError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        return Choice.of(value)

    return BeforeValidator(build)


def _gpu_counts(value: Any) -> Choice[int]:
    if isinstance(value, Choice):
        return value
    if not isinstance(value, dict):
        raise ValueError('a table of "gpu count" = weight, e.g. { "1" = 0.9, "8" = 0.1 }')
    counts: dict[int, float] = {}
    for key, weight in value.items():
        if not str(key).isdigit() or int(key) < 1:
            raise ValueError(f"GPU count {key!r} must be a whole number >= 1")
        counts[int(key)] = weight
    return Choice.of(counts)


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"an IANA time zone such as Europe/Berlin, not {value!r}") from None


Weights = Annotated[Choice[str], _choice()]
PriorityMix = Annotated[Choice[str], _choice(PRIORITIES)]
ChannelMix = Annotated[Choice[str], _choice(CHANNELS)]
GpuCounts = Annotated[Choice[int], BeforeValidator(_gpu_counts)]
Zone = Annotated[ZoneInfo, BeforeValidator(_zone)]
Positive = Annotated[float, Field(gt=0)]
Curve = Annotated[tuple[Annotated[float, Field(ge=0)], ...], Field(min_length=24, max_length=24)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Calendar(_Model):
    weekday_factors: Annotated[tuple[Annotated[float, Field(ge=0)], ...], Field(min_length=7, max_length=7)]
    holiday_factor: Annotated[float, Field(ge=0)] = 0.15


class Bursts(_Model):
    per_day: Annotated[float, Field(ge=0)]
    team_share: Annotated[float, Field(ge=0, le=1)]
    factor_min: Annotated[float, Field(ge=1)]
    factor_max: Annotated[float, Field(ge=1)]
    mean_span_hours: Positive
    min_span_hours: Positive
    max_span_hours: Annotated[float, Field(gt=0, le=72)]
    priority: PriorityMix

    @model_validator(mode="after")
    def _ordered(self) -> Bursts:
        if self.factor_max < self.factor_min:
            raise ValueError("factor_max must be >= factor_min")
        if self.max_span_hours < self.min_span_hours:
            raise ValueError("max_span_hours must be >= min_span_hours")
        return self


class JobClass(_Model):
    share: Annotated[float, Field(ge=0)]
    duration_median_hours: Positive
    duration_sigma: Annotated[float, Field(ge=0)]
    duration_min_hours: Positive = 1 / 60
    duration_max_hours: Positive
    gpus: GpuCounts
    gpu_types: Weights
    model_families: Weights
    priority: PriorityMix
    spot_share: Annotated[float, Field(ge=0, le=1)]


class Team(_Model):
    name: str
    headcount: Annotated[int, Field(ge=1)]
    cost_center: str
    projects: Weights
    class_bias: dict[str, Annotated[float, Field(ge=0)]] = {}


class Office(_Model):
    name: str
    timezone: Zone
    curve: str
    cloud_regions: Weights
    jobs_per_head_per_day: Positive | None = None
    holidays: tuple[date, ...] = ()
    first_names: Annotated[tuple[str, ...], Field(min_length=1)]
    last_names: Annotated[tuple[str, ...], Field(min_length=1)]
    teams: Annotated[tuple[Team, ...], Field(min_length=1)]


class Profile(_Model):
    name: str
    description: str
    jobs_per_head_per_day: Positive
    author_zipf: Annotated[float, Field(ge=0)] = 1.0
    no_spot_priorities: tuple[Priority, ...] = ("urgent",)
    channels: ChannelMix
    calendar: Calendar
    bursts: Bursts
    curves: dict[str, Curve]
    classes: dict[JobType, JobClass]
    offices: Annotated[tuple[Office, ...], Field(min_length=1)]
    lifecycle: LifeParams = LifeParams()
    anomalies: AnomalyParams = AnomalyParams()

    @model_validator(mode="after")
    def _cross_references(self) -> Profile:
        if not self.classes or sum(c.share for c in self.classes.values()) <= 0:
            raise ValueError("classes: at least one job class with a share > 0")
        for name, curve in self.curves.items():
            if sum(curve) <= 0:
                raise ValueError(f"curves.{name}: values must not all be 0")
        teams: set[str] = set()
        for office in self.offices:
            if office.curve not in self.curves:
                raise ValueError(f"office {office.name}: curve {office.curve!r} is not in [curves]")
            for team in office.teams:
                if team.name in teams:
                    raise ValueError(f"team name {team.name!r} appears twice")
                teams.add(team.name)
                unknown = sorted(set(team.class_bias) - set(self.classes))
                if unknown:
                    raise ValueError(f"team {team.name}: class_bias names unknown class(es) {unknown}")
        return self

    def normalised_curve(self, name: str) -> tuple[float, ...]:
        """The 24 hourly multipliers of a curve, scaled to mean 1 so a day's total is the daily rate."""
        curve = self.curves[name]
        mean = sum(curve) / 24
        return tuple(value / mean for value in curve)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for a bad dict key rather than a bad value
            text += " (name)"
        else:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML document, or ValueError naming the file and the syntax problem."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None


def validation_message(path: Path, exc: ValidationError) -> str:
    """One line per problem: file, dotted key, what is wrong."""
    lines = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        problem = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{path}: {_location(loc)}: {problem}")
    return "\n".join(lines)


def load_profile(path: Path) -> Profile:
    """Parse and check a profile file."""
    data = read_toml(path)
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ValueError(validation_message(path, exc)) from None


def headcount(profile: Profile) -> int:
    """Engineers in the profile: the sum of its teams' headcounts."""
    return sum(team.headcount for office in profile.offices for team in office.teams)


def resized(profile: Profile, company_size: int | None) -> Profile:
    """The profile with every team's headcount scaled so the company has `company_size` engineers.

    Each office and team keeps its share (largest-remainder rounding, so the total is exact), hence the
    same daily curves, weekday pattern and job mix; volume scales with the headcount. A team keeps at
    least one engineer, so a company smaller than its number of teams rounds up to one per team.
    """
    current = headcount(profile)
    if company_size is None or company_size == current:
        return profile
    teams = [(o, t, team.headcount) for o, office in enumerate(profile.offices) for t, team in enumerate(office.teams)]
    exact = [heads * company_size / current for _, _, heads in teams]
    sizes = [max(1, int(x)) for x in exact]
    # Hand out what rounding down left over to the largest remainders (ties: profile order).
    short = company_size - sum(sizes)
    for i in sorted(range(len(teams)), key=lambda i: (-(exact[i] - int(exact[i])), i))[:max(0, short)]:
        sizes[i] += 1
    new_size = {(o, t): size for (o, t, _), size in zip(teams, sizes, strict=True)}
    offices = tuple(
        office.model_copy(update={"teams": tuple(
            team.model_copy(update={"headcount": new_size[o, t]}) for t, team in enumerate(office.teams))})
        for o, office in enumerate(profile.offices)
    )
    return profile.model_copy(update={"offices": offices})
