"""One snapshot of a state folder for the page: the very `queue-stats --json --check` report, plus what only
the page shows (workers, the stream and its money, texts, latest payloads, dead letters with commands).

Read only: the queue file is opened with SQLite's mode=ro for each snapshot and closed again, so no read
transaction outlives it (a long one would keep the workers' WAL from being checkpointed).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import ROOT
from pipeline.clock import load_checkpoint
from pipeline.config import Settings
from pipeline.dashboard import liveness, payloads
from pipeline.dashboard.history import History
from pipeline.dashboard.spend import StreamView
from pipeline.delivery import dead
from pipeline.queues import View, open_reader
from pipeline.state_report import report
from pipeline.stream import read_stream
from pipeline.workload import Workload

CHECK_MAX_AGE = 3600.0  # queue-stats --check's default --max-age


@dataclass
class Source:
    """A state folder and what the dashboard keeps between snapshots (history, the stream's cache)."""

    settings: Settings
    max_age: float = CHECK_MAX_AGE
    history: History = field(default_factory=History)
    view: StreamView | None = None
    view_error: str | None = None

    @property
    def state_dir(self) -> Path:
        """The folder shown."""
        return self.settings.state_dir

    def sample(self) -> dict[str, Any]:
        """The queue-stats report alone (for the history between page refreshes)."""
        store = open_reader(self.state_dir)
        try:
            stats = report(store, self.settings.scale_factor, max_age=self.max_age)
        finally:
            if store is not None:
                store.close()
        self.history.add(time.time(), stats)
        return stats

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, read in one go."""
        store = open_reader(self.state_dir)
        try:
            stats = report(store, self.settings.scale_factor, max_age=self.max_age)
            extra = self._from_store(store) if store is not None else {}
        finally:
            if store is not None:
                store.close()
        now = time.time()
        self.history.add(now, stats)
        return {
            "mode": "state",
            "generated_at": now,
            "state_dir": str(self.state_dir),
            "stats": stats,
            "workers": self._workers(stats, extra.get("clock")),
            "history": self.history.series(),
            "rates": self.history.rates(),
            "texts": self._texts(stats["enricher"]),
            **extra,
        }

    def _workers(self, stats: dict[str, Any], clock: dict[str, Any] | None) -> list[dict[str, Any]]:
        """Each role: running (it holds its lock) and, where the worker leaves a trace of its own, how long
        ago it last wrote one (the scheduler's clock checkpoint each tick; the deliverer's figures, at least
        every 30 s)."""
        seen: dict[str, float | None] = {"scheduler": clock["written_s_ago"] if clock else None,
                                         "deliverer": _age(stats["delivery"].get("updated_at"))}
        return [{"role": h.role, "running": h.running, "pid": h.pid, "last_seen_s": seen.get(h.role)}
                for h in liveness.holders(self.state_dir)]

    def _from_store(self, store: View) -> dict[str, Any]:
        waiting = {hold.pqid for hold in store.holds("payloads")}
        letters = dead.read_all(store)
        checkpoint = load_checkpoint(store)
        stream = read_stream(store)
        out: dict[str, Any] = {
            "payloads": payloads.pending(store, waiting) + [
                payloads.summary(payloads._parsed(item.letter.body.encode()), "dead") for item in letters[-10:]],
            "dead_letters": [self._letter(item.letter) for item in letters[-100:]],
            "clock": None if checkpoint is None else {
                "written_s_ago": round(max(0.0, time.time() - checkpoint.wall_at), 1),
                "sim_days_per_real_hour": round(checkpoint.scale_factor / 24, 3)},
        }
        if stream is not None and checkpoint is not None:
            view = self._stream_view(stream.profile, stream.seed, stream.sim_start)
            out["stream"] = view.view(checkpoint.sim_now) if view is not None else {"error": self.view_error}
        return out

    def _stream_view(self, profile: str, seed: int, start: Any) -> StreamView | None:
        if self.view is None and self.view_error is None:
            path = Path(profile) if Path(profile).is_absolute() else ROOT / profile
            try:
                self.view = StreamView(Workload.load(path), seed, start)
            except (ValueError, OSError) as exc:
                self.view_error = f"profile {profile}: {exc}"
        return self.view

    def _letter(self, letter: Any) -> dict[str, Any]:
        return {**letter.model_dump(mode="json", exclude={"body"}),
                "command": shlex.join(["bin/replay-dead", "--state-dir", str(self.state_dir), "--id",
                                       letter.payload_id])}

    def _texts(self, enricher: dict[str, Any]) -> dict[str, Any]:
        # Who wrote the texts: every `<writer>_written` counter the enricher keeps (gemini, offline, and
        # the phrasebank once it counts its own), and the Gemini requests against the daily quota.
        written = {key.removesuffix("_written"): value for key, value in enricher.items()
                   if key.endswith("_written") and isinstance(value, int)}
        return {"written": written, "requests_today": enricher.get("requests_today", 0),
                "quota_rpd": self.settings.gemini_rpd, "est_cost_usd": enricher.get("est_cost_usd", 0.0),
                "gemini_configured": self.settings.use_gemini, "model": self.settings.gemini_model}


def _age(iso: str | None) -> float | None:
    """Seconds since an ISO 8601 time a worker wrote (None if it never did)."""
    if not iso:
        return None
    try:
        return round(max(0.0, time.time() - datetime.fromisoformat(iso).timestamp()), 1)
    except ValueError:
        return None
