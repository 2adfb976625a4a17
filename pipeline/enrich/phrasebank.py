"""The phrasebank: templates derived from checked Gemini texts, kept in their own SQLite file in the state
folder (`phrasebank.db`, not the queue file), and the writer that fills them.

Durability: a template is committed (WAL, synchronous FULL) before the payloads of the batch that produced
it, and its id is derived from its content, so a kill between the two repeats the batch and stores the
same template once. The choice of template is reproducible: among the templates that fit an intent (same
channel, language habit and job class) the one with the highest hash of (seed, intent id, template id)
wins (rendezvous hashing: a template added later changes only the intents it now wins).
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

from pipeline.enrich import Enriched
from pipeline.enrich.check import contradiction
from pipeline.enrich.parse import extract
from pipeline.enrich.template import Template, bucket_of, fill
from pipeline.errors import StateError
from pipeline.models import Intent, Request

FILE_NAME = "phrasebank.db"
_SCHEMA = """CREATE TABLE IF NOT EXISTS templates (
    id TEXT PRIMARY KEY, body TEXT NOT NULL, channel TEXT NOT NULL, language TEXT NOT NULL,
    job_type TEXT NOT NULL, stated TEXT NOT NULL, model TEXT NOT NULL, written_on TEXT NOT NULL, spot INTEGER,
    added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))"""
_COLUMNS = "id, body, channel, language, job_type, stated, model, written_on, spot"


def _row(t: Template) -> tuple[object, ...]:
    return (t.id, t.body, t.channel, t.language, t.job_type, json.dumps(list(t.stated)), t.model, t.written_on,
            None if t.spot is None else int(t.spot))


def _template(row: tuple[object, ...]) -> Template:
    tid, body, channel, language, job_type, stated, model, written_on = (str(v) for v in row[:8])
    spot = row[8]
    return Template(tid, body, channel, language, job_type, tuple(json.loads(stated)), model, written_on,
                    None if spot is None else bool(spot))


def template_json(t: Template) -> str:
    """One JSON Lines record of the export format."""
    return json.dumps(asdict(t), ensure_ascii=False, sort_keys=True)


class PhrasebankUnavailable(Exception):
    """The bank's file cannot be opened or written now (disk full, read-only); nothing was lost."""


class Phrasebank:
    """The templates of one state folder, cached in memory by bucket and re-read when another process
    (bin/phrasebank import) has added some."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute(_SCHEMA)
        except sqlite3.OperationalError as exc:  # a full or read-only disk: the caller may go on without
            raise PhrasebankUnavailable(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StateError(self.path, f"not a readable phrasebank ({exc})") from None
        self._by_bucket: dict[tuple[str, str, str], list[Template]] = defaultdict(list)
        self._ids: set[str] = set()
        self._seen_rowid = 0
        self.refresh()

    def refresh(self) -> None:
        """Load templates added since the last look (by this or another process)."""
        rows = self._db.execute(f"SELECT rowid, {_COLUMNS} FROM templates WHERE rowid > ? ORDER BY rowid",
                                (self._seen_rowid,)).fetchall()
        for rowid, *rest in rows:
            self._seen_rowid = max(self._seen_rowid, rowid)
            self._remember(_template(tuple(rest)))

    def _remember(self, t: Template) -> None:
        if t.id not in self._ids:
            self._ids.add(t.id)
            self._by_bucket[t.bucket].append(t)

    def add(self, templates: Iterable[Template]) -> int:
        """Store templates durably (one transaction); how many were new."""
        fresh = [t for t in templates if t.id not in self._ids]
        if not fresh:
            return 0
        try:
            with self._transaction():
                self._db.executemany(f"INSERT OR IGNORE INTO templates ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                                     [_row(t) for t in fresh])
        except sqlite3.OperationalError as exc:
            raise PhrasebankUnavailable(f"{self.path}: {exc}") from None
        self.refresh()
        return len(fresh)

    def _transaction(self) -> _Tx:
        return _Tx(self._db)

    def fitting(self, intent: Intent) -> list[Template]:
        """The templates that fit the intent: its bucket, and its spot wish where the template states one."""
        return [t for t in self._by_bucket.get(bucket_of(intent), []) if t.spot is None or t.spot == intent.spot_ok]

    def thinness(self, intent: Intent) -> int:
        """How many templates fit the intent (fewest first is where Gemini's quota goes)."""
        return len(self.fitting(intent))

    def __len__(self) -> int:
        return len(self._ids)

    def all(self) -> Iterator[Template]:
        """Every template, oldest first."""
        for row in self._db.execute(f"SELECT {_COLUMNS} FROM templates ORDER BY rowid"):
            yield _template(tuple(row))

    def buckets(self) -> dict[tuple[str, str, str], int]:
        """Template count per (channel, language, job class)."""
        return {bucket: len(ts) for bucket, ts in self._by_bucket.items()}

    def write(self, intent: Intent, seed: int) -> Enriched | None:
        """The intent written from the template that wins for (seed, intent id), or None if none fits.

        A fill whose parsed facts would contradict the intent is never used (the next template is tried)."""
        ranked = sorted(self.fitting(intent), key=lambda t: _score(seed, intent.id, t.id), reverse=True)
        for template in ranked[:8]:
            rng = random.Random(_score(seed, intent.id, "fill"))
            text = fill(template, intent, rng)
            job = extract(text)
            if contradiction(intent, job) is None:
                request = Request(text=text, channel=intent.channel, author=intent.author)
                return Enriched(intent, request, job, "phrasebank", template.model, template.id)
        return None

    def close(self) -> None:
        """Close the file."""
        self._db.close()


def _score(seed: int, intent_id: str, template_id: str) -> int:
    digest = hashlib.blake2b(f"{seed}\x1f{intent_id}\x1f{template_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")
