"""The one settings object: environment, then `.env`, then defaults; command-line flags override.

Built once at the edge (`load_settings`) and passed in; nothing below reads the environment.
A bad value becomes a `ConfigError` naming the variable, the value and what is expected (exit 78).
"""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pipeline import ROOT
from pipeline.errors import ConfigError
from pipeline.events import parse_event_types
from pipeline.models import EVENT_TYPES

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: object) -> float:
    """Seconds from `90`, `90s`, `15m`, `12h` or `3d`."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("a duration such as 90, 90s, 15m, 12h or 3d")
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds < 0:
        raise ValueError("a duration such as 90, 90s, 15m, 12h or 3d")
    return seconds


def _parse_schedule(value: object) -> tuple[float, ...]:
    expected = "comma-separated waits longer than 0 such as 5,300,1800"
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(expected)
    try:
        schedule = tuple(parse_duration(item) for item in items)
    except ValueError:
        raise ValueError(expected) from None
    if min(schedule) <= 0:
        raise ValueError(expected)
    return schedule


def _resolve(path: Path) -> Path:
    return path if path.is_absolute() else ROOT / path


def _existing_file(path: Path) -> Path:
    path = _resolve(path)
    if not path.is_file():
        raise ValueError(f"an existing profile file ({path} not found)")
    return path


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def webhook_secret_problem(raw: str) -> str | None:
    """What is wrong with a webhook secret's form (None when it is a usable Standard Webhooks secret)."""
    try:
        ok = raw.startswith("whsec_") and len(base64.b64decode(raw[6:], validate=True)) >= 16
    except ValueError:
        ok = False
    return None if ok else "must be a Standard Webhooks secret: whsec_ followed by base64 of at least 16 bytes"


def _webhook_secret(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return None
    if webhook_secret_problem(value.get_secret_value()):
        raise ValueError("a Standard Webhooks secret: whsec_ followed by base64 of at least 16 bytes")
    return value


# Named paces for SCALE_FACTOR: real time, a pace a person can read line by line (about one job a real
# second with the default profile), and the default (30 simulated days per real hour).
SCALE_PRESETS: dict[str, float] = {"realtime": 1.0, "demo": 60.0, "default": 720.0}

Duration = Annotated[float, BeforeValidator(parse_duration)]
# A zero wait or age would turn "retry later" into "give up now" (a zero max age dead-letters the first
# refused connection of an outage), so these must be longer than nothing.
PositiveDuration = Annotated[Duration, Field(gt=0)]
PositiveNumber = Annotated[float, Field(gt=0)]


# Which .env file to read instead of the checkout's; set but empty: none.
ENV_FILE_VARIABLE = "FINOPS_ENV_FILE"


class Settings(BaseSettings):
    """Every documented setting; field names are the variables in lower case (docs/settings.md is generated
    from it)."""

    model_config = SettingsConfigDict(
        env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-2.5-flash-lite"
    # A model the API no longer serves (404): move to its successor in data/gemini_models.toml, or exit 78.
    gemini_model_fallback: Literal["successor", "none"] = "successor"
    # Gemini texts become templates that write the intents Gemini's quota does not cover (off: offline).
    phrasebank: Literal["on", "off"] = "on"
    gemini_base_url: AnyHttpUrl | None = None
    enricher: Literal["auto", "gemini", "offline"] = "auto"
    webhook_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8080/webhook")
    webhook_secret: Annotated[SecretStr | None, AfterValidator(_webhook_secret)] = None
    scale_factor: PositiveNumber = 720.0
    tick_interval_sec: PositiveNumber = 1.0
    state_dir: Annotated[Path, AfterValidator(_resolve)] = Path("data/state")
    profile: Annotated[Path, AfterValidator(_existing_file)] = Path("data/profiles/default.toml")
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = None
    sim_start: Annotated[datetime, AfterValidator(_utc)] | None = None
    # None keeps the profile's own headcounts (285 engineers in the default profile).
    company_size: Annotated[int, Field(ge=1, le=100_000)] | None = None
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    enrich_batch_size: Annotated[int, Field(ge=1, le=64)] = 8
    enrich_fallback: Literal["offline", "wait"] = "offline"
    # Conservative: the free tier was cut in Dec 2025 (design for about 10 RPM and a few hundred RPD);
    # paid tiers raise them in .env.
    gemini_rpm: Annotated[int, Field(ge=1)] = 10
    gemini_rpd: Annotated[int, Field(ge=1)] = 250
    gemini_tpm: Annotated[int, Field(ge=1000)] = 250_000
    gemini_max_wait: PositiveDuration = 300.0
    # One Gemini request's limit (the SDK has none by default), and the first retry back-off after a
    # 5xx or timeout (doubling up to a minute); tests shorten both.
    gemini_timeout: PositiveDuration = 60.0
    gemini_backoff: PositiveDuration = 2.0
    gemini_price_in: Annotated[float, Field(ge=0)] = 0.10
    gemini_price_out: Annotated[float, Field(ge=0)] = 0.40
    delivery_retry_schedule: Annotated[tuple[float, ...], NoDecode, BeforeValidator(_parse_schedule)] = (
        5, 300, 1800, 7200, 18000, 36000, 36000,
    )
    delivery_max_age: PositiveDuration = 3 * 86400.0
    delivery_concurrency: Annotated[int, Field(ge=1, le=256)] = 4
    delivery_connect_timeout: PositiveDuration = 5.0
    delivery_timeout: PositiveDuration = 15.0
    delivery_retry_after_max: Duration = 3600.0
    # Which event types the deliverer sends (comma-separated, or all); the others are acknowledged unsent.
    webhook_event_types: Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_event_types)] = EVENT_TYPES
    # bin/dashboard on an address other than loopback refuses to start without it.
    dashboard_token: SecretStr | None = None
    # A destinations file (TOML: [[endpoint]], [[file]], [[nats]]; docs/destinations.md) instead of
    # WEBHOOK_URL/WEBHOOK_SECRET/WEBHOOK_EVENT_TYPES; the deliverer checks it at start (exit 78).
    destinations: Annotated[Path, AfterValidator(_resolve)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _pace_presets(cls, data: Any) -> Any:
        """`SCALE_FACTOR=realtime|demo|default` names a pace; a number is taken as it is."""
        if isinstance(data, dict):
            value = data.get("scale_factor")
            if isinstance(value, str) and value.strip().lower() in SCALE_PRESETS:
                data = {**data, "scale_factor": SCALE_PRESETS[value.strip().lower()]}
        return data

    @model_validator(mode="after")
    def _gemini_needs_key(self) -> Settings:
        if self.enricher == "gemini" and self.gemini_api_key is None:
            raise ValueError("ENRICHER=gemini needs GEMINI_API_KEY")
        return self

    @property
    def use_gemini(self) -> bool:
        """Whether the enricher writes texts with Gemini (else the offline generator)."""
        return self.enricher == "gemini" or (self.enricher == "auto" and self.gemini_api_key is not None)


_EXPECTED = {
    "webhook_url": "an http(s) URL such as http://127.0.0.1:8080/webhook",
    "gemini_base_url": "an http(s) URL such as http://127.0.0.1:9000",
    "sim_start": "an ISO 8601 UTC time such as 2026-03-02T00:00:00Z",
}


def _expected(error: Any) -> str:
    """Plain words for what a field wants, from pydantic's error record."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("float_parsing", "float_type"):
        if error["loc"] and error["loc"][0] == "scale_factor":
            return "a number or one of " + ", ".join(SCALE_PRESETS)
        return "a number"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "a whole number"
    bounds = {"greater_than": "greater than {gt}", "greater_than_equal": "at least {ge}",
              "less_than": "less than {lt}", "less_than_equal": "at most {le}"}
    if kind in bounds:
        return "a number " + bounds[kind].format(**ctx)
    if kind == "literal_error":
        return "one of " + str(ctx.get("expected", "")).replace("'", "")
    return str(error.get("msg", "")).removeprefix("Value error, ")


def load_settings(**overrides: Any) -> Settings:
    """Build the settings (flags given as keyword overrides; None means "not given")."""
    given = {key: value for key, value in overrides.items() if value is not None}
    env_file = os.environ.get(ENV_FILE_VARIABLE)
    if env_file is not None:  # empty: no .env at all (the tests and the bench seal themselves off)
        given["_env_file"] = Path(env_file) if env_file else None
    try:
        return Settings(**given)
    except ValidationError as exc:
        error = exc.errors()[0]
        if not error["loc"]:  # the model-level rule: ENRICHER=gemini without a key
            raise ConfigError("ENRICHER", "gemini", "GEMINI_API_KEY to be set (or ENRICHER=offline)") from None
        field = str(error["loc"][0])
        value = error.get("input")
        if "secret" in field or "key" in field or "token" in field:
            value = "***"  # secrets never reach logs or messages
        elif isinstance(value, Path):
            value = str(value)
        raise ConfigError(field.upper(), value, _EXPECTED.get(field) or _expected(error)) from None
