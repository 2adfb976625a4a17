"""Secrets at rest and in messages: URL credentials masked, files owner-only."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

# scheme://user:password@host -> scheme://***@host, wherever it appears in a message.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")
# Files the workers create (queues, locks, heartbeats) are readable by their owner only.
OWNER_ONLY_UMASK = 0o077


def mask_url(text: str) -> str:
    """`text` with the userinfo of every URL in it replaced by ***."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def owner_only() -> None:
    """Make every file this process creates from now on owner-only (queues hold every payload)."""
    os.umask(OWNER_ONLY_UMASK)


def readable_by_others(path: Path) -> bool:
    """Whether a file's mode lets accounts other than its owner read it (group or world)."""
    return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
