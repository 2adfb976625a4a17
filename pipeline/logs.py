"""structlog set-up: readable lines on a terminal, JSON lines otherwise (journald, files, tests)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import structlog

from pipeline.secrets import mask_url


def _mask_urls(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Credentials in a URL's userinfo never reach a log line, whichever field carries them."""
    return {key: mask_url(value) if isinstance(value, str) else value for key, value in event.items()}


# Exception records without each frame's local variables: they hold secrets (keys, signed bodies).
_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False))


def _timestamp(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """RFC 3339 UTC with milliseconds and `Z`, like every other time the commands print."""
    now = datetime.now(UTC)
    event["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return event


def configure(*, json: bool | None = None, level: int = logging.INFO) -> None:
    """Configure structlog once per process; `json=None` picks by whether stderr is a terminal."""
    as_json = not sys.stderr.isatty() if json is None else json
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _timestamp,
    ]
    if as_json:
        processors += [_TRACEBACKS, _mask_urls, structlog.processors.JSONRenderer()]
    else:
        processors += [_mask_urls, structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
