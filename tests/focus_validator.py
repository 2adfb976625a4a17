"""The FinOps Foundation's focus-validator, in its own cached venv, run on a file of ours.

focus-validator 2.2.1 needs Python >= 3.12 and caps numpy below 2 while leaving pyarrow open; pyarrow
22 and later refuse numpy 1, so its venv pins pyarrow 21. The venv is built once under
.venv/focus-validator-2.2.1 (beside the project's own .venv, ignored by git) and reused while its stamp
matches the pins. Python 3.12 is found as python3.12 on PATH, FOCUS_VALIDATOR_PYTHON, or pyenv.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from pipeline.focus.spec import APPLICABILITY_CRITERIA, FOCUS_VERSION

ROOT = Path(__file__).resolve().parent.parent
VERSION = "2.2.1"
PINS = (f"focus-validator=={VERSION}", "pyarrow==21.0.0", "numpy>=1.26,<2")
VENV = ROOT / ".venv" / f"focus-validator-{VERSION}"
INSTALL_TIMEOUT = 1800.0
RUN_TIMEOUT = 1800.0


def find_python312() -> str | None:
    """A Python 3.12 interpreter on this machine, or None."""
    candidates = [os.environ.get("FOCUS_VALIDATOR_PYTHON", ""), shutil.which("python3.12") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.12*/bin/python3.12"), reverse=True)
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import sys, venv; print(sys.version_info[:2] == (3, 12))"],
                                   capture_output=True, text=True, check=False)
            if probe.stdout.strip() == "True":
                return candidate
    return None


def ensure_venv(python: str) -> Path:
    """The validator's venv, built on first use; returns its focus-validator executable."""
    stamp = VENV / ".pins"
    exe = VENV / "bin" / "focus-validator"
    if stamp.exists() and stamp.read_text() == "\n".join(PINS) and exe.exists():
        return exe
    shutil.rmtree(VENV, ignore_errors=True)
    _run([python, "-m", "venv", str(VENV)], "create the focus-validator venv")
    _run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS],
         "install focus-validator from the package index")
    stamp.write_text("\n".join(PINS))
    return exe


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"could not {what} (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


@dataclass(frozen=True)
class Report:
    """What the validator concluded: the ids of the rules it ran, failed and skipped."""

    passed: tuple[str, ...]
    failed: dict[str, str]  # rule id -> message
    skipped: tuple[str, ...]
    log: str


def validate(exe: Path, data: Path, criteria: tuple[str, ...] = APPLICABILITY_CRITERIA) -> Report:
    """Validate `data` (CSV or Parquet) against FOCUS 1.2's CostAndUsage dataset, offline."""
    out = data.with_name(data.name + ".validator.xml")  # one per file: CSV and Parquet may run at once
    site = next((VENV / "lib").glob("python3.12/site-packages"))
    # The validator opens its currency table by a path relative to the working directory.
    done = subprocess.run(
        [str(exe), "--data-file", str(data), "--validate-version", FOCUS_VERSION, "--block-download",
         "--focus-dataset", "CostAndUsage", "--applicability-criteria", ",".join(criteria),
         "--output-type", "unittest", "--output-destination", str(out), "--show-violations"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False, cwd=site,
        env={**os.environ, "APP_LOG": str(data.with_name(data.name + ".validator.log"))},
    )
    log = done.stdout[-20000:] + done.stderr[-20000:]
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"focus-validator exited {done.returncode}:\n{log}")
    passed, skipped, failed = [], [], {}
    for case in ET.parse(out).getroot().iter("testcase"):
        rule = (case.get("name") or "").split(" ::")[0]
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        if bad is not None:
            failed[rule] = bad.get("message", "")
        elif case.find("skipped") is not None:
            skipped.append(rule)
        else:
            passed.append(rule)
    return Report(tuple(passed), failed, tuple(skipped), log)


if __name__ == "__main__":  # by hand: python -m tests.focus_validator FILE
    found = find_python312()
    if found is None:
        sys.exit("no Python 3.12 found")
    report = validate(ensure_venv(found), Path(sys.argv[1]))
    print(f"{len(report.passed)} passed, {len(report.failed)} failed, {len(report.skipped)} skipped")
    for rule, message in sorted(report.failed.items()):
        print(f"FAILED {rule}: {message}")
