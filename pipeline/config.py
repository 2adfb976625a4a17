"""The one settings object: environment, then `.env`, then defaults; command-line flags override.

Built once at the edge (`load_settings`) and passed in; nothing below reads the environment.
A bad value becomes a `ConfigError` naming the variable, the value and what is expected (exit 78).
"""

from __future__ import annotations

import base64
import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BeforeValidator,
    ByteSize,
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
from pipeline.secrets import mask_url

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
# Ten years: longer than any wait, age or backfill means a typo, and Python's dates overflow far beyond it.
MAX_DURATION = 3650 * 86400.0
# The simulated start must lie where calendars, time zones and the workload's windows are defined.
SIM_START_MIN = datetime(2000, 1, 1, tzinfo=UTC)
SIM_START_MAX = datetime(2100, 1, 1, tzinfo=UTC)


def parse_duration(value: object) -> float:
    """Seconds from `90`, `90s`, `15m`, `12h` or `3d` (at most ten years)."""
    expected = "a duration up to 3650d such as 90, 90s, 15m, 12h or 3d"
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(expected)
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DURATION:
        raise ValueError(expected)
    return seconds


def _parse_schedule(value: object) -> tuple[float, ...]:
    expected = "comma-separated waits longer than 0 such as 5,300,1800"
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not 1 <= len(items) <= 100:
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


def _nonempty_path(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        raise ValueError("a folder path, not an empty string")
    return value


def _writable_folder(path: Path) -> Path:
    """A folder this user may write, or one that can be made (its nearest existing parent is writable).

    A read-only file system is not refused here: a worker waits for it (a Pi rebooted onto a remounted
    card), and one-shot commands stop with exit 75 when their first write fails.
    """
    path = _resolve(path)
    probe = path
    try:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
    except OSError as exc:  # a parent this user may not look into, a name too long for the file system
        raise ValueError(f"a folder this user ({_user()}) may reach ({probe}: {exc.strerror})") from None
    if not probe.is_dir():
        where = "" if probe == path else f" ({probe} is a file)"
        raise ValueError(f"a folder, not a file{where}")
    if not os.access(probe, os.W_OK | os.X_OK) and not _read_only_mount(probe):
        raise ValueError(f"a folder this user ({_user()}) may write ({probe} is not writable)")
    return path


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _existing_file(path: Path) -> Path:
    path = _resolve(path)
    if not path.is_file():
        raise ValueError(f"an existing profile file ({path} not found)")
    return path


def _utc(value: datetime) -> datetime:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not SIM_START_MIN <= value < SIM_START_MAX:
        raise ValueError("an ISO 8601 UTC time from 2000-01-01 to before 2100-01-01")
    return value


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


def check_webhook_secret(raw: str) -> str:
    """`raw` if it is a Standard Webhooks secret, else ValueError saying what one looks like."""
    _webhook_secret(SecretStr(raw))
    return raw


Duration = Annotated[float, BeforeValidator(parse_duration)]
# A zero wait or age would turn "retry later" into "give up now" (a zero max age dead-letters the first
# refused connection of an outage), so these must be longer than nothing.
PositiveDuration = Annotated[Duration, Field(gt=0)]


# Which .env file to read instead of the checkout's; set but empty: none.
ENV_FILE_VARIABLE = "FINOPS_ENV_FILE"


class Settings(BaseSettings):
    """Every documented setting; field names are the variables in lower case (docs/settings.md is generated
    from it)."""

    # env_ignore_empty: `GEMINI_API_KEY=` (or any empty variable) counts as unset, never as a value.
    # allow_inf_nan=False: `SCALE_FACTOR=inf` or `nan` is refused like any other bad number.
    model_config = SettingsConfigDict(
        env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore", frozen=True,
        env_ignore_empty=True, allow_inf_nan=False,
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
    scale_factor: Annotated[float, Field(
        gt=0, le=1_000_000,
        description="Simulated seconds per real second (720: 30 simulated days per real hour); "
                    "greater than 0, at most 1,000,000.")] = 720.0
    tick_interval_sec: Annotated[float, Field(
        gt=0, le=3600, description="Real seconds between scheduler ticks; greater than 0, at most 3600.")] = 1.0
    state_dir: Annotated[Path, BeforeValidator(_nonempty_path), AfterValidator(_writable_folder)] = Path(
        "data/state")
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
    gemini_rpm: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    gemini_rpd: Annotated[int, Field(ge=1, le=1_000_000_000)] = 250
    gemini_tpm: Annotated[int, Field(ge=1000, le=1_000_000_000)] = 250_000
    gemini_max_wait: PositiveDuration = 300.0
    # One Gemini request's limit (the SDK has none by default), and the first retry back-off after a
    # 5xx or timeout (doubling up to a minute); tests shorten both.
    gemini_timeout: PositiveDuration = 60.0
    gemini_backoff: PositiveDuration = 2.0
    gemini_price_in: Annotated[float, Field(ge=0, le=1000)] = 0.10
    gemini_price_out: Annotated[float, Field(ge=0, le=1000)] = 0.40
    delivery_retry_schedule: Annotated[tuple[float, ...], NoDecode, BeforeValidator(_parse_schedule)] = (
        5, 300, 1800, 7200, 18000, 36000, 36000,
    )
    delivery_max_age: PositiveDuration = 3 * 86400.0
    delivery_concurrency: Annotated[int, Field(ge=1, le=256)] = 4
    delivery_connect_timeout: PositiveDuration = 5.0
    delivery_timeout: PositiveDuration = 15.0
    delivery_retry_after_max: Duration = 3600.0
    # Backpressure (pipeline/backpressure.py). A payload takes ~2 KB in queues.db, so the default bound
    # holds ~2 GB: about a day of an outage at 720x, after which the scheduler pauses; with the disk floor
    # a 16 GB card keeps room for the OS and logs however long the endpoint stays away.
    max_backlog: Annotated[int, Field(
        ge=100, le=100_000_000,
        description="Most items (intents plus payloads, in payloads) that may wait before the scheduler "
                    "pauses; it resumes below 90 % of it. 100 to 100,000,000.")] = 1_000_000
    min_free_disk: Annotated[ByteSize, Field(
        ge=0, le=2**50,
        description="Free space (bytes, or 500MB, 1GiB) the state folder's disk must keep: below it the "
                    "scheduler pauses, and resumes once 10 % more is free. 0 (off) to 1 PiB.")] = ByteSize(
        1024**3)
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
    "min_free_disk": "a size such as 0, 500MB or 1GiB, at most 1PiB",
    "sim_start": "an ISO 8601 UTC time from 2000-01-01 to before 2100-01-01, such as 2026-03-02T00:00:00Z",
}


def _expected(error: Any) -> str:
    """Plain words for what a field wants, from pydantic's error record."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("float_parsing", "float_type") and error["loc"] and error["loc"][0] == "scale_factor":
        return "a number or one of " + ", ".join(SCALE_PRESETS)
    simple = {"float_parsing": "a number", "float_type": "a number",
              "finite_number": "a finite number (not inf or nan)", "int_parsing": "a whole number",
              "int_type": "a whole number", "int_from_float": "a whole number"}
    if kind in simple:
        return simple[kind]
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
    if env_file is not None and "_env_file" not in given:  # empty: no .env (tests and bench seal themselves)
        given["_env_file"] = Path(env_file) if env_file else None
    try:
        return Settings(**given)
    except UnicodeDecodeError as exc:  # the .env file (the environment itself is decoded by Python)
        raise ConfigError(".env", str(given.get("_env_file") or ROOT / ".env"),
                          f"UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not)") from None
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
        elif isinstance(value, str):
            value = mask_url(value)  # credentials in a URL's userinfo
        text = repr(value)
        if len(text) > 80:  # one readable line, whatever was pasted
            value = text[:77] + "..."
        expected = _EXPECTED.get(field) or _expected(error)
        raise ConfigError(field.upper(), value, expected.replace("\n", "\\n")) from None  # one line, always
