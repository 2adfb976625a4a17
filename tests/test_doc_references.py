"""The repository stands alone: no document or data file points at a file that is not in it.

Users have only this checkout. A reference to a missing file (a renamed doc, a notes file that never
shipped) is a dead end for them, so every path a document or data file names must exist in the
repository, or be one of the few things the commands create at run time.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pipeline import ROOT

pytestmark = pytest.mark.process  # the repository's files are listed by `git ls-files`

# Created at run time (or by the user), never committed.
RUNTIME = {".env", ".venv", "data/state", "week.png"}
# Top-level folders whose files a document may name.
TOP = ("bin", "data", "docs", "pipeline", "tests", "systemd", ".ci")
_TOPS = "|".join(re.escape(t) for t in TOP)
PATH = re.compile(r"(?<![\w./~>-])((?:\.\./)*(?:" + _TOPS + r")/[\w.\-/]*[\w/]"
                  r"|[\w.\-]+\.(?:md|toml|json|py|example))(?![\w-])")
LINK = re.compile(r"\]\(([^)#\s]+)")
FORBIDDEN = re.compile(r"\bDESIGN\b|research/[\w.-]+\.md|research notes|/work/shared")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if (ROOT / line).exists()]


def _documents(files: list[str]) -> list[str]:
    """Every document and data file: Markdown, TOML, JSON, .env.example, the systemd units."""
    return [f for f in files if f.endswith((".md", ".toml", ".json", ".example", ".service", ".target"))
            and not f.startswith("tests/")]


def _exists(ref: str, doc: str, files: set[str], folders: set[str]) -> bool:
    ref = ref.rstrip("/.")
    if "*" in ref or "<" in ref or ref.startswith(("http:", "https:", "mailto:")) or Path(ref).stem.isupper():
        return True
    candidates = [ref, str(Path(doc).parent / ref)]
    for candidate in candidates:
        norm = str(Path(candidate)).replace("\\", "/")
        try:
            norm = str((ROOT / norm).resolve().relative_to(ROOT))
        except ValueError:
            continue
        if norm in files or norm in folders or norm in RUNTIME or any(norm.startswith(r + "/") for r in RUNTIME):
            return True
    return False


def broken_references(root_files: list[str], texts: dict[str, str] | None = None) -> list[str]:
    """`file: reference` for each path named by a document that is not in the repository (`texts`: documents
    given by content instead of read from disk)."""
    texts = texts or {}
    files = set(root_files) | set(texts)
    folders = {str(p) for f in files for p in Path(f).parents if str(p) != "."}
    broken = []
    for doc in sorted(set(_documents(root_files)) | set(texts)):
        text = texts[doc] if doc in texts else (ROOT / doc).read_text(encoding="utf-8")
        refs = set(LINK.findall(text)) | set(PATH.findall(text))
        for ref in sorted(refs):
            # A bare file name: fine if a file of that name is anywhere in the repository.
            if "/" not in ref and ref.endswith((".md", ".toml", ".json", ".py", ".example")) and any(
                    Path(f).name == ref for f in files):
                continue
            if not _exists(ref, doc, files, folders):
                broken.append(f"{doc}: {ref}")
    return broken


def test_every_file_a_document_names_is_in_the_repository() -> None:
    """Markdown links, paths in text and comments of docs, data files, .env.example and units all exist."""
    assert broken_references(_tracked()) == []


def test_no_document_points_at_notes_users_do_not_have() -> None:
    """No document, data file or module mentions the internal design notes or research files."""
    hits = []
    for name in _tracked():
        path = ROOT / name
        if path.suffix not in {".md", ".toml", ".json", ".example", ".service", ".target"}:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FORBIDDEN.search(line):
                hits.append(f"{name}:{number}: {line.strip()}")
    assert hits == []


@pytest.mark.parametrize(("text", "broken"), [
    ("see [the guide](docs/nowhere.md)", True),
    ("see docs/raspberry-pi.md", False),
    ("figures in research-notes/workload.md", False),
    ("a file data/profiles/missing.toml", True),
    ("the state in data/state/queues.db", False),
])
def test_the_checker_finds_a_missing_file(text: str, broken: bool) -> None:
    """The checker itself: a made-up path is reported, real and run-time paths are not."""
    doc = "docs/_probe.md"
    found = [b for b in broken_references(_tracked(), {doc: text}) if b.startswith(doc)]
    assert bool(found) is broken, found
