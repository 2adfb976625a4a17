"""Imports point one way: commands -> reports -> workers -> domain -> storage -> models (and the harness
only looks in from outside). A module importing from a higher layer, or one domain package importing
another, fails here with the offending line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Highest first. A module belongs to the first prefix it matches (longest prefixes are listed first where
# they overlap); `pipeline` itself (the package root: ROOT, __version__) is the bottom.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("harness",),
    ("pipeline.commands",),
    ("pipeline.state_report", "pipeline.receiver", "pipeline.dashboard"),
    ("pipeline.workers",),
    ("pipeline.focus",),  # the bill is made from the workload model's jobs and lives
    ("pipeline.delivery", "pipeline.enrich", "pipeline.workload", "pipeline.clock", "pipeline.stream",
     "pipeline.locks", "pipeline.logs", "pipeline.backoff", "pipeline.life", "pipeline.backpressure",
     "pipeline.sinks"),  # the file and NATS sinks stand behind delivery's Sender protocol
    ("pipeline.queues",),
    ("pipeline.models", "pipeline.events", "pipeline.errors", "pipeline.config", "pipeline.destinations",
     "pipeline"),
)
# Domain packages that must not lean on each other (what they share lives below them).
SEPARATE = ("pipeline.delivery", "pipeline.enrich", "pipeline.workload")


def _owner(module: str, prefixes: tuple[str, ...]) -> str | None:
    matches = [p for p in prefixes if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def layer(module: str) -> int:
    """The layer index of a module (0 is the top)."""
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, prefixes in enumerate(LAYERS):
        owner = _owner(module, prefixes)
        if owner is not None and (best is None or len(owner) > best[0]):
            best = (len(owner), index)
    if best is None:
        raise ValueError(f"{module} is in no layer")
    return best[1]


def module_name(path: Path) -> str:
    """The dotted name of a source file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every project import in a file, including lazy ones inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] in ("pipeline", "harness")]


def violations(path: Path, here: str | None = None) -> list[str]:
    """Why each upward or sideways import of one file (module `here`, by default its own name) is wrong."""
    here = here or module_name(path)
    found = []
    for line, target in imports(path):
        if layer(target) < layer(here):
            found.append(f"{here}:{line} imports {target}, a higher layer")
        mine, theirs = _owner(here, SEPARATE), _owner(target, SEPARATE)
        if mine and theirs and mine != theirs:
            found.append(f"{here}:{line} imports {target}, another domain package")
    return found


def sources() -> list[Path]:
    """Every module of the product and the harness."""
    return sorted([*(ROOT / "pipeline").rglob("*.py"), *(ROOT / "harness").rglob("*.py")])


def test_every_import_points_down() -> None:
    """No module imports from a layer above it, and delivery, enrich and workload stay apart."""
    problems = [problem for path in sources() for problem in violations(path)]
    assert problems == []


@pytest.mark.parametrize(("source", "target"), [
    ("pipeline/enrich/gemini.py", "pipeline.workers.runner"),  # domain -> workers
    ("pipeline/queues/sqlite.py", "pipeline.delivery.retry_state"),  # storage -> domain
    ("pipeline/workers/enricher.py", "pipeline.state_report"),  # workers -> the report
    ("pipeline/enrich/gemini.py", "pipeline.delivery.policy"),  # one domain package -> another
    ("pipeline/models.py", "harness.env"),  # the product -> the harness
])
def test_an_added_upward_import_is_caught(tmp_path: Path, source: str, target: str) -> None:
    """The check is not vacuous: a real module with one such import added is reported, naming it."""
    probe = tmp_path / "probe.py"
    probe.write_text((ROOT / source).read_text() + f"\nfrom {target} import something\n")
    assert violations(ROOT / source) == []
    (problem,) = violations(probe, module_name(ROOT / source))
    assert f"imports {target}" in problem


def test_pipeline_never_imports_the_harness() -> None:
    """The product runs without the harness installed."""
    assert [(p, t) for p in (ROOT / "pipeline").rglob("*.py") for _, t in imports(p) if t.startswith("harness")] == []
