"""The destinations file (DESTINATIONS=path.toml): every place the stream goes, checked before anything runs.

Three kinds of entry, each a TOML array of tables: `[[endpoint]]` (a signed webhook), `[[file]]` (JSON Lines
on disk) and `[[nats]]` (a NATS JetStream subject). Every entry has a unique `name` (it names the
destination's retry state, dead letters and figures) and the event types it takes. A bad file is one
`DestinationsError` (exit 78) naming the file, the entry and the problem; secrets never appear in it.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from pipeline.config import webhook_secret_problem  # the one rule for a secret's form
from pipeline.errors import EX_CONFIG, PipelineError
from pipeline.events import parse_event_types
from pipeline.models import EVENT_TYPES

Kind = Literal["endpoint", "file", "nats"]
KINDS: tuple[Kind, ...] = ("endpoint", "file", "nats")
# Names become keys in the state folder and flags on the command line: keep them plain.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
DEFAULT_NAME = "default"  # the one endpoint WEBHOOK_URL/WEBHOOK_SECRET stand for
DEFAULT_SUBJECT = "finops.{type}"
DEFAULT_STREAM = "FINOPS"
DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024


class DestinationsError(PipelineError):
    """The destinations file is unusable: which file, which entry, what is wrong."""

    exit_code = EX_CONFIG

    def __init__(self, path: Path, entry: str, problem: str) -> None:
        self.path, self.entry, self.problem = path, entry, problem
        super().__init__(f"{path}: {entry}: {problem}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A webhook URL with its own secret, filter, rate limit and concurrency."""

    name: str
    url: str
    secret: SecretStr | None = field(repr=False)
    events: tuple[str, ...] = EVENT_TYPES
    rate_limit: float | None = None  # requests per second; None: as fast as the concurrency allows
    concurrency: int | None = None  # None: DELIVERY_CONCURRENCY
    kind: Literal["endpoint"] = "endpoint"


@dataclass(frozen=True, slots=True)
class FileSink:
    """JSON Lines files in a folder, rotated by size or by simulated day and compressed when rotated."""

    name: str
    directory: Path
    events: tuple[str, ...] = EVENT_TYPES
    rotate: Literal["size", "day"] = "size"
    rotate_bytes: int = DEFAULT_ROTATE_BYTES
    kind: Literal["file"] = "file"


@dataclass(frozen=True, slots=True)
class NatsSink:
    """A NATS server with JetStream: each event published to `subject` (with {type} filled in)."""

    name: str
    url: str
    events: tuple[str, ...] = EVENT_TYPES
    subject: str = DEFAULT_SUBJECT
    stream: str = DEFAULT_STREAM
    kind: Literal["nats"] = "nats"


Destination = Endpoint | FileSink | NatsSink

_KEYS: dict[Kind, frozenset[str]] = {
    "endpoint": frozenset({"name", "url", "secret", "secret_file", "events", "rate_limit", "concurrency"}),
    "file": frozenset({"name", "path", "events", "rotate", "rotate_bytes"}),
    "nats": frozenset({"name", "url", "events", "subject", "stream"}),
}


def shorthand(url: str, secret: SecretStr | None, events: tuple[str, ...]) -> tuple[Destination, ...]:
    """WEBHOOK_URL/WEBHOOK_SECRET/WEBHOOK_EVENT_TYPES: one endpoint named `default`."""
    return (Endpoint(name=DEFAULT_NAME, url=url, secret=secret, events=events),)


def load(path: Path) -> tuple[Destination, ...]:
    """Read and check a destinations file; DestinationsError on the first problem."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DestinationsError(path, "file", f"cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DestinationsError(path, "file", f"is not valid TOML ({exc})") from None
    unknown = sorted(set(document) - set(KINDS))
    if unknown:
        raise DestinationsError(path, f"[{unknown[0]}]", f"unknown kind of entry (expected {', '.join(KINDS)})")
    destinations: list[Destination] = []
    seen: set[str] = set()
    for kind in KINDS:
        entries = document.get(kind, [])
        if not isinstance(entries, list):
            raise DestinationsError(path, f"[{kind}]", f"must be an array of tables ([[{kind}]])")
        for number, entry in enumerate(entries, start=1):
            label = f"[[{kind}]] #{number}"
            if not isinstance(entry, dict):
                raise DestinationsError(path, label, "must be a table")
            name = entry.get("name")
            if isinstance(name, str):
                label = f"[[{kind}]] {name!r}"
            destination = _entry(path, label, kind, entry)
            if destination.name in seen:
                raise DestinationsError(path, label, "duplicate name (names must be unique across all entries)")
            seen.add(destination.name)
            destinations.append(destination)
    if not destinations:
        raise DestinationsError(path, "file", "lists no destination ([[endpoint]], [[file]] or [[nats]])")
    return tuple(destinations)


def _entry(path: Path, label: str, kind: Kind, entry: dict[str, Any]) -> Destination:
    extra = sorted(set(entry) - _KEYS[kind])
    if extra:
        raise DestinationsError(path, label, f"unknown key {extra[0]!r} (expected {', '.join(sorted(_KEYS[kind]))})")

    def fail(problem: str) -> DestinationsError:
        return DestinationsError(path, label, problem)

    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail("name must be 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit")
    try:
        events = parse_event_types(entry.get("events", list(EVENT_TYPES)))
    except ValueError as exc:
        raise fail(f"events: {exc}") from None
    if kind == "endpoint":
        return Endpoint(name=name, url=_url(fail, entry, ("http://", "https://")),
                        secret=_secret(path, fail, entry), events=events,
                        rate_limit=_number(fail, entry, "rate_limit", float, low=0.0, high=None),
                        concurrency=_number(fail, entry, "concurrency", int, low=1, high=256))
    if kind == "file":
        return _file(path, fail, name, events, entry)
    subject = entry.get("subject", DEFAULT_SUBJECT)
    stream = entry.get("stream", DEFAULT_STREAM)
    if not isinstance(subject, str) or not re.fullmatch(r"[A-Za-z0-9_.{}-]+", subject) or ".." in subject:
        raise fail("subject must be dot-separated tokens such as finops.{type}")
    if not isinstance(stream, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", stream):
        raise fail("stream must be a JetStream stream name such as FINOPS")
    return NatsSink(name=name, url=_url(fail, entry, ("nats://", "tls://")), events=events,
                    subject=subject, stream=stream)


def _url(fail: Any, entry: dict[str, Any], schemes: tuple[str, ...]) -> str:
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(schemes) or len(url) <= len(schemes[0]):
        raise fail(f"url must start with {' or '.join(schemes)}")
    return url


def _secret(path: Path, fail: Any, entry: dict[str, Any]) -> SecretStr | None:
    if "secret" in entry and "secret_file" in entry:
        raise fail("give secret or secret_file, not both")
    raw = entry.get("secret")
    if "secret_file" in entry:
        where = entry["secret_file"]
        if not isinstance(where, str):
            raise fail("secret_file must be a path")
        secret_path = path.parent / where  # relative to the destinations file, like its other paths
        try:
            raw = secret_path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"secret_file {secret_path} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if raw is None:
        return None  # unsigned, as WEBHOOK_SECRET unset
    problem = webhook_secret_problem(raw) if isinstance(raw, str) else "must be text"
    if problem:
        raise fail(f"secret {problem}")  # the secret itself never appears
    return SecretStr(raw)


def _number(fail: Any, entry: dict[str, Any], key: str, kind: type[int] | type[float], *,
            low: float, high: float | None) -> Any:
    if key not in entry:
        return None
    value = entry[key]
    ok = isinstance(value, int | float) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
    if not ok or value < low or (kind is float and value == low) or (high is not None and value > high):
        bounds = f"greater than {low:g}" if kind is float else f"from {low:g} to {high:g}"
        raise fail(f"{key} must be a {'number' if kind is float else 'whole number'} {bounds}")
    return kind(value)


def _file(path: Path, fail: Any, name: str, events: tuple[str, ...], entry: dict[str, Any]) -> FileSink:
    where = entry.get("path")
    if not isinstance(where, str) or not where:
        raise fail("path must be the folder the JSON Lines files go to")
    directory = path.parent / where
    parent = directory if directory.exists() else directory.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise fail(f"path {directory} cannot be written (its folder is missing or not writable)")
    if directory.exists() and not directory.is_dir():
        raise fail(f"path {directory} is a file, not a folder")
    rotate = entry.get("rotate", "size")
    if rotate not in ("size", "day"):
        raise fail("rotate must be size or day")
    rotate_bytes = _number(fail, entry, "rotate_bytes", int, low=1024, high=2**40) or DEFAULT_ROTATE_BYTES
    return FileSink(name=name, directory=directory, events=events, rotate=rotate, rotate_bytes=rotate_bytes)
