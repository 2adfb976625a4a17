"""The answer key: every planted anomaly of jobs requested in a simulated span, from the model alone.

A spend spike is one entry (its team-day) listing all its jobs; every other kind is one entry per job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.models import Anomaly
from pipeline.workload.model import Workload
from pipeline.workload.timegrid import window_of


@dataclass
class Entry:
    """One planted anomaly as a detector should report it."""

    kind: str
    id: str
    first_requested_at: datetime
    team: str
    job_ids: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    gpu_hours: float = 0.0
    billed_cost: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The --json form of the entry."""
        return {"kind": self.kind, "id": self.id, "first_requested_at": _iso(self.first_requested_at),
                "team": self.team, "job_ids": self.job_ids, "evidence": self.evidence,
                "gpu_hours": round(self.gpu_hours, 3), "billed_cost": round(self.billed_cost, 2)}

    def line(self) -> str:
        """The text form: one line per anomaly."""
        jobs = self.job_ids[0] if len(self.job_ids) == 1 else f"{len(self.job_ids)} jobs"
        facts = " ".join(f"{k}={v}" for k, v in self.evidence.items())
        return (f"{_iso(self.first_requested_at)}  {self.kind:<20} {self.team:<18} {jobs:<25} "
                f"{self.gpu_hours:10,.1f} GPU-h  ${self.billed_cost:11,.2f}  {facts}")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def answer_key(workload: Workload, seed: int, start: datetime, end: datetime) -> list[Entry]:
    """Every anomaly of a job requested in [start, end), in order of its first job's request."""
    entries: dict[str, Entry] = {}
    for window in range(window_of(start), window_of(end) + 1):
        for intent, life in workload.window_jobs(seed, window):
            if not start <= intent.occurred_at < end:
                continue
            for anomaly in life.anomalies:
                entry = entries.get(anomaly.id) or entries.setdefault(anomaly.id, _entry(anomaly, intent.occurred_at,
                                                                                          intent.team))
                entry.job_ids.append(intent.id)
                entry.gpu_hours += life.gpu_hours
                entry.billed_cost += life.billed_cost
    return sorted(entries.values(), key=lambda e: (e.first_requested_at, e.kind, e.id))


def _entry(anomaly: Anomaly, at: datetime, team: str) -> Entry:
    return Entry(anomaly.kind, anomaly.id, at, team, evidence=dict(anomaly.evidence))


def counts(entries: list[Entry]) -> dict[str, int]:
    """Entries per kind."""
    found: dict[str, int] = {}
    for entry in entries:
        found[entry.kind] = found.get(entry.kind, 0) + 1
    return dict(sorted(found.items()))
