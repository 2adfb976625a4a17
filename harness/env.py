"""The one environment scrubber: every child process the tests, bench and soak start runs sealed off
from the caller's settings, and so do the tests themselves.

A developer's shell (`ENRICHER=offline`, `WEBHOOK_URL=...`) and the checkout's `.env` (which the README
tells users to write, e.g. `ENRICH_FALLBACK=wait`) must not change what a test or a measurement does.
Sealed means: no variable that names a setting of the pipeline (whatever settings exist now or are
added later), none of systemd's, and no `.env` (FINOPS_ENV_FILE empty); the rest of the environment
(PATH, HOME, locale, temp folder) stays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pipeline.config import ENV_FILE_VARIABLE, Settings

# Settings read by prefix or outside the Settings object, and systemd's hand-over variables.
_PREFIXES = ("GEMINI_", "WEBHOOK_", "DELIVERY_", "ENRICH", "WATCHDOG_")
_OTHERS = frozenset({"NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", ENV_FILE_VARIABLE})


def is_setting(name: str) -> bool:
    """Whether a variable would change how the pipeline behaves."""
    return (name.lower() in Settings.model_fields or name.startswith(_PREFIXES) or name in _OTHERS)


def sealed(base: Mapping[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """`base` (default: this process's environment) without any setting and without `.env`, plus
    `overrides`."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not is_setting(k)}
    env[ENV_FILE_VARIABLE] = ""
    env.update(overrides)
    return env


def seal_this_process() -> None:
    """Seal the running process itself (the tests' in-process settings)."""
    clean = sealed()
    for name in list(os.environ):
        if name not in clean:
            del os.environ[name]
    os.environ.update(clean)
