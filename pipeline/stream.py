"""The stream's identity (seed, simulated start, profile), fixed at the first start of a state folder.

If SEED, SIM_START, PROFILE or COMPANY_SIZE is set to something else later, the command stops with exit 78 naming
both values: a different stream needs a new state folder.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from pipeline import ROOT
from pipeline.clock import utc_now
from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.queues import Store, View

STREAM_KEY = "stream"


@dataclass(frozen=True, slots=True)
class Stream:
    """What makes the stream reproducible."""

    seed: int
    sim_start: datetime
    profile: str
    company_size: int | None = None  # None: the profile's own headcounts


def read_stream(store: View) -> Stream | None:
    """The persisted identity, or None if no scheduler has started on this state folder yet."""
    text = store.get_meta(STREAM_KEY)
    if text is None:
        return None
    raw = json.loads(text)
    size = raw.get("company_size")  # absent in streams started before COMPANY_SIZE existed
    return Stream(int(raw["seed"]), datetime.fromisoformat(raw["sim_start"]), raw["profile"],
                  int(size) if size is not None else None)


def _profile_name(settings: Settings) -> str:
    # Relative to the checkout when inside it, so moving the checkout keeps the stream.
    path = settings.profile
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def check_stream(store: Store, settings: Settings) -> Stream | None:
    """The persisted identity (None before the first scheduler start); ConfigError if settings contradict it."""
    existing = read_stream(store)
    if existing is None:
        return None
    given = (("SEED", settings.seed, existing.seed),
             ("SIM_START", settings.sim_start, existing.sim_start),
             ("PROFILE", _profile_name(settings), existing.profile),
             ("COMPANY_SIZE", settings.company_size, existing.company_size))
    for variable, value, stored in given:
        if value is not None and value != stored:
            raise ConfigError(variable, str(value), f"{stored} as persisted in {store.path} "
                              "(a different stream needs a new STATE_DIR)")
    return existing


def establish_stream(store: Store, settings: Settings) -> Stream:
    """The persisted identity checked against the settings, or a new one persisted now."""
    existing = check_stream(store, settings)
    if existing is not None:
        return existing
    profile = _profile_name(settings)
    # Whole seconds keep the start readable; a fresh seed is random but then persisted for good.
    sim_start = settings.sim_start or utc_now().replace(microsecond=0)
    stream = Stream(settings.seed if settings.seed is not None else secrets.randbelow(2**31), sim_start, profile,
                    settings.company_size)
    with store.transaction() as tx:
        tx.set_meta(STREAM_KEY, json.dumps(
            {"seed": stream.seed, "sim_start": stream.sim_start.isoformat(), "profile": stream.profile,
             "company_size": stream.company_size}))
    return stream
