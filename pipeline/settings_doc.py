"""docs/settings.md, generated from the settings model: every setting with default, unit, range, meaning.

`python -m pipeline.settings_doc > docs/settings.md` rewrites it; tests/test_settings_doc.py fails when the
file and the model disagree, or when a setting has no meaning written for it. A field's own
`Field(description=...)` wins over the table below.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import ByteSize
from pydantic.fields import FieldInfo

from pipeline.config import SCALE_PRESETS, Settings, _parse_schedule, parse_duration

# Meaning (and unit where the type does not say it) of each setting, by field name.
MEANINGS: dict[str, tuple[str, str]] = {
    "gemini_api_key": ("secret", "Google AI Studio key; when set (and ENRICHER is auto) request texts are "
                       "written by Gemini, otherwise by the offline writer. Never logged."),
    "gemini_model": ("model name", "Gemini model that writes the request texts."),
    "gemini_model_fallback": ("", "When the API no longer serves GEMINI_MODEL (404): successor moves to its "
                              "successor in data/gemini_models.toml, none exits 78."),
    "phrasebank": ("", "on: Gemini texts become templates that write the intents Gemini's quota does not "
                   "cover (see docs/gemini.md); off: those are written offline."),
    "gemini_base_url": ("URL", "Another Gemini REST endpoint (a proxy, or a fake in tests); unset: Google's."),
    "enricher": ("", "Who writes request texts: auto (Gemini if a key is set), gemini (a key is required), "
                 "offline."),
    "webhook_url": ("URL", "Where every payload is POSTed."),
    "webhook_secret": ("secret", "Standard Webhooks secret (whsec_ + base64 of 16+ random bytes); when set, "
                       "every delivery is signed. Make one with `python3 -c 'import base64, secrets; "
                       "print(\"whsec_\" + base64.b64encode(secrets.token_bytes(32)).decode())'`. Never logged."),
    "scale_factor": ("simulated s per real s", "Pace of the simulated clock. Presets: "
                     + ", ".join(f"{k} = {v:g}" for k, v in SCALE_PRESETS.items())
                     + ". The default profile makes about 1,307 jobs per simulated day, i.e. about "
                     "0.9 x SCALE_FACTOR jobs per real minute."),
    "tick_interval_sec": ("real seconds", "How often the scheduler advances the clock and writes intents."),
    "state_dir": ("folder", "Holds queues.db (the queues, the clock, the stream identity) and the role locks; "
                  "relative paths are inside the checkout."),
    "profile": ("TOML file", "Workload profile (offices, teams, job classes); relative to the checkout. "
                "Fixed per state folder."),
    "seed": ("", "Seed of a new stream; unset: random, then persisted. Fixed per state folder."),
    "sim_start": ("ISO 8601 time, UTC", "Simulated start of a new stream; unset: the first start's time. "
                  "Fixed per state folder."),
    "company_size": ("engineers", "Simulated company size: every team's headcount is scaled (offices keep "
                     "their shares and curves), so jobs per day scale with it; unset: the profile's own "
                     "(285 in the default profile). Fixed per state folder."),
    "synchronous": ("", "SQLite durability: FULL survives power loss, NORMAL only process crashes."),
    "enrich_batch_size": ("intents", "Intents per enricher batch (one Gemini request each)."),
    "enrich_fallback": ("", "When Gemini is unavailable past GEMINI_MAX_WAIT or its daily quota is spent: "
                        "offline (write texts offline) or wait."),
    "gemini_rpm": ("requests per minute", "Gemini requests allowed per rolling minute."),
    "gemini_rpd": ("requests per day", "Gemini requests allowed per Pacific-time day."),
    "gemini_tpm": ("tokens per minute", "Gemini tokens allowed per rolling minute."),
    "gemini_max_wait": ("", "How long Gemini may stay unavailable before ENRICH_FALLBACK applies."),
    "gemini_timeout": ("", "Longest one Gemini request may take."),
    "gemini_backoff": ("", "First wait after a Gemini 5xx or timeout, doubling up to a minute."),
    "gemini_price_in": ("USD per 1M input tokens", "Used for the spend estimate in queue-stats."),
    "gemini_price_out": ("USD per 1M output tokens", "Used for the spend estimate in queue-stats."),
    "delivery_retry_schedule": ("durations, comma-separated", "Waits between delivery attempts (±20 % "
                                "jitter; the last repeats)."),
    "delivery_max_age": ("", "A payload failing this long (counting only time the endpoint answered and the "
                         "deliverer ran) becomes a dead letter."),
    "delivery_concurrency": ("requests", "Deliveries in flight at once."),
    "delivery_connect_timeout": ("", "Longest wait for a connection to the endpoint."),
    "delivery_timeout": ("", "Longest wait for the endpoint's answer to one delivery."),
    "delivery_retry_after_max": ("", "Cap on an endpoint's Retry-After."),
    "webhook_event_types": ("event types, comma-separated", "Which event types the deliverer sends (or all); "
                            "the others are acknowledged unsent."),
    "destinations": ("TOML file", "Where the deliverer sends instead of WEBHOOK_URL, WEBHOOK_SECRET and "
                     "WEBHOOK_EVENT_TYPES: one webhook endpoint, JSON Lines files or NATS JetStream "
                     "(docs/destinations.md); checked at start (exit 78). Unset: those three settings."),
    "dashboard_token": ("secret", "Token bin/dashboard asks for (open the page as /?token=...); it refuses to "
                        "listen on an address other than loopback without one. Never logged."),
}

_DURATION_UNIT = "duration (90, 90s, 15m, 12h, 3d)"


def _metadata(field: FieldInfo) -> Iterator[Any]:
    """Every constraint and validator on a field, also those inside `X | None` and nested Annotated."""
    yield from field.metadata
    pending = [field.annotation]
    while pending:
        annotation = pending.pop()
        if get_origin(annotation) is Annotated:
            base, *extra = get_args(annotation)
            pending.append(base)
            for item in extra:
                yield from (item.metadata if isinstance(item, FieldInfo) else [item])
        elif get_origin(annotation) in (Union, types.UnionType):
            pending.extend(get_args(annotation))


def _is_duration(field: FieldInfo) -> bool:
    return any(getattr(m, "func", None) in (parse_duration, _parse_schedule) for m in _metadata(field))


def _is_schedule(field: FieldInfo) -> bool:
    return any(getattr(m, "func", None) is _parse_schedule for m in _metadata(field))


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"


def _range(field: FieldInfo) -> str:
    """Allowed values in words, from the model's own constraints."""
    if get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(f"`{v}`" for v in get_args(field.annotation))
    if _is_schedule(field):
        return "each > 0s"
    duration = _is_duration(field)
    show = _seconds if duration else _number
    words = []
    for item in _metadata(field):
        if isinstance(item, annotated_types.Gt):
            words.append(f"> {show(item.gt)}")  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Ge):
            words.append(f">= {show(item.ge)}")  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            words.append(f"< {show(item.lt)}")  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            words.append(f"<= {show(item.le)}")  # type: ignore[arg-type]
    if duration and not any(w.startswith(">") for w in words):
        words.insert(0, ">= 0s")
    return ", ".join(words) or "—"


def _default(name: str, field: FieldInfo) -> str:
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        text = ",".join(_seconds(float(v)) if _is_schedule(field) else str(v) for v in value)
    elif _is_duration(field):
        text = _seconds(float(value))
    elif isinstance(value, ByteSize):
        text = value.human_readable()
    elif isinstance(value, float | int) and not isinstance(value, bool):
        text = _number(value)
    else:
        text = str(value)
    return f"`{text}`"


def _unit(name: str, field: FieldInfo) -> str:
    if _is_duration(field) and not _is_schedule(field):
        return _DURATION_UNIT
    if field.annotation is ByteSize or any(isinstance(m, type) and m is ByteSize for m in _metadata(field)):
        return "bytes (500MB, 1GiB)"
    return MEANINGS.get(name, ("", ""))[0]


def missing_meanings() -> list[str]:
    """Settings with neither a description in the model nor an entry in MEANINGS."""
    return [n.upper() for n, f in Settings.model_fields.items() if not f.description and n not in MEANINGS]


def render() -> str:
    """The whole of docs/settings.md."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `python -m pipeline.settings_doc > docs/settings.md` from pipeline/config.py;",
        "     tests/test_settings_doc.py fails when this file and the settings model disagree. -->",
        "",
        "Every command reads these from the environment, then from a `.env` file in the checkout (see",
        "[`.env.example`](../.env.example)), then uses the default; a command-line flag overrides all three.",
        "A bad value stops the command before it touches anything, with one line naming the variable, the",
        "value and what is expected, and exit code 78. Secrets are never logged or echoed.",
        "",
        "| variable | default | unit | range | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        meaning = field.description or MEANINGS.get(name, ("", ""))[1]
        cells = [f"`{name.upper()}`", _default(name, field), _unit(name, field), _range(field), meaning]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [
        "",
        "`SEED`, `SIM_START`, `PROFILE` and `COMPANY_SIZE` are fixed when a scheduler first starts on a state",
        "folder: setting another value later exits 78 naming both; a different stream needs a new `STATE_DIR`.",
        "",
    ]
    return "\n".join(lines)


def _env_value(name: str, field: FieldInfo) -> str:
    default = _default(name, field)
    return "" if default == "unset" else default.strip("`").replace(",", "") if isinstance(
        field.default, int | float) and not _is_duration(field) else default.strip("`")


def render_env_example() -> str:
    """The whole of .env.example: every setting, commented out at its default, with its meaning."""
    lines = [
        "# Settings for every bin/ command and the systemd services. Copy to .env and uncomment what you change:",
        "#   cp .env.example .env",
        "# The environment overrides .env; a command-line flag overrides both. All settings: docs/settings.md.",
        "# Generated by `python -m pipeline.settings_doc --env-example > .env.example` (tests check it).",
    ]
    for name, field in Settings.model_fields.items():
        unit, meaning = _unit(name, field), field.description or MEANINGS.get(name, ("", ""))[1]
        allowed = _range(field)
        lines.append("")
        lines.append(f"# {meaning}".replace("`", ""))
        details = [d for d in (unit and f"unit: {unit}", allowed != "—" and f"allowed: {allowed}") if d]
        if details:
            lines.append(("# " + "; ".join(details)).replace("`", ""))
        lines.append(f"# {name.upper()}={_env_value(name, field)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(render_env_example() if sys.argv[1:] == ["--env-example"] else render(), end="")
