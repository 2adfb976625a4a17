"""Every bad input ends with one line naming what was wrong and a documented exit code, never a traceback.

The table below is the contract (docs/raspberry-pi.md lists the exit codes); each row runs the real
command in a process of its own, with a deadline.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from tests.conftest import command

DOCUMENTED = {0, 1, 2, 65, 75, 78}
GUARD_S = 120.0  # a hung command fails the row; nothing here measures speed


def one_line(stderr: str) -> str:
    """The single non-empty line a failing command writes (asserted), without the log lines of a worker."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def _profile(tmp_path: Path, text: str | bytes) -> str:
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "profiles").mkdir()
    shutil.copy(root / "data/prices.toml", tmp_path / "prices.toml")  # found beside the profiles folder
    path = tmp_path / "profiles" / "profile.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        base = (root / "data/profiles/default.toml").read_text()
        old, _, new = text.partition("|")
        path.write_text(base.replace(old, new) if new else text)
    return str(path)


def _file(tmp_path: Path) -> str:
    (tmp_path / "a-file").write_text("x")
    return str(tmp_path / "a-file")


# id, command and flags, environment (values may use {tmp} and the helpers), exit code, text in the line
Case = tuple[str, list[str], dict[str, str | Callable[[Path], str]], int, str]
CASES: list[Case] = [
    ("scale inf", ["scheduler", "--backfill", "1h"], {"SCALE_FACTOR": "inf"}, 78, "SCALE_FACTOR"),
    ("scale nan", ["scheduler", "--backfill", "1h"], {"SCALE_FACTOR": "nan"}, 78, "SCALE_FACTOR"),
    ("scale 1e9", ["scheduler", "--backfill", "1h"], {"SCALE_FACTOR": "1e9"}, 78, "at most 1000000"),
    # A bad flag is a usage error (exit 2) naming the flag; the same value from the environment is a 78.
    ("flag scale inf", ["scheduler", "--backfill", "1h", "--scale-factor", "inf"], {}, 2, "--scale-factor"),
    ("sim start 9999", ["scheduler", "--backfill", "1h"], {"SIM_START": "9999-12-31T23:00:00Z"}, 78, "SIM_START"),
    ("sim start 1900", ["scheduler", "--backfill", "1h"], {"SIM_START": "1900-01-01T00:00:00Z"}, 78, "2000-01-01"),
    ("seed -1", ["scheduler", "--backfill", "1h"], {"SEED": "-1"}, 78, "SEED"),
    ("flag seed abc", ["scheduler", "--backfill", "1h", "--seed", "abc"], {}, 2, "--seed"),
    ("state dir /dev/null", ["queue-stats"], {"STATE_DIR": "/dev/null"}, 78, "STATE_DIR"),
    ("state dir under a file", ["scheduler", "--backfill", "1h"], {"STATE_DIR": lambda t: _file(t) + "/state"},
     78, "is a file"),
    ("empty --state-dir", ["queue-stats", "--state-dir", ""], {}, 2, "empty"),
    ("backfill 99999999999d", ["scheduler", "--backfill", "99999999999d"], {}, 2, "up to 3650d"),
    ("watch -1", ["queue-stats", "--watch", "-1"], {}, 2, "--watch"),
    ("watch nan", ["queue-stats", "--watch", "nan"], {}, 2, "--watch"),
    ("max-age 1e400", ["queue-stats", "--check", "--max-age", "1" + "0" * 400], {}, 2, "--max-age"),
    ("batch 2^63", ["enricher", "--drain"], {"ENRICH_BATCH_SIZE": str(2**63)}, 78, "ENRICH_BATCH_SIZE"),
    ("concurrency 0", ["deliverer", "--drain"], {"DELIVERY_CONCURRENCY": "0"}, 78, "DELIVERY_CONCURRENCY"),
    ("retry schedule 0", ["deliverer", "--drain"], {"DELIVERY_RETRY_SCHEDULE": "0"}, 78, "DELIVERY_RETRY_SCHEDULE"),
    ("max age 9e99d", ["deliverer", "--drain"], {"DELIVERY_MAX_AGE": "9" * 30 + "d"}, 78, "DELIVERY_MAX_AGE"),
    ("gemini rpm 1e99", ["enricher", "--drain"], {"GEMINI_RPM": "1e99"}, 78, "GEMINI_RPM"),
    ("max backlog 5", ["scheduler", "--backfill", "1h"], {"MAX_BACKLOG": "5"}, 78, "MAX_BACKLOG"),
    ("min free disk -1", ["scheduler", "--backfill", "1h"], {"MIN_FREE_DISK": "-1"}, 78, "MIN_FREE_DISK"),
    ("min free disk 9EiB", ["scheduler", "--backfill", "1h"], {"MIN_FREE_DISK": "9EiB"}, 78, "MIN_FREE_DISK"),
    ("url with password", ["deliverer", "--drain"], {"WEBHOOK_URL": "htp://user:hunter2@example"}, 78, "***@"),
    ("bad secret", ["deliverer", "--drain"], {"WEBHOOK_SECRET": "whsec_short"}, 78, "WEBHOOK_SECRET='***'"),
    ("empty key, gemini", ["enricher", "--drain"], {"GEMINI_API_KEY": "", "ENRICHER": "gemini"}, 78,
     "GEMINI_API_KEY to be set"),
    ("profile headcount 2^63-1", ["scheduler", "--backfill", "1h"],
     {"PROFILE": lambda t: _profile(t, f"headcount = 30|headcount = {2**63 - 1}")}, 78, "headcount"),
    ("profile curve inf", ["scheduler", "--backfill", "1h"],
     {"PROFILE": lambda t: _profile(t, "0.35, 0.28, 0.22,|inf, 0.28, 0.22,")}, 78, "curves"),
    ("profile nested 5000 deep", ["scheduler", "--backfill", "1h"],
     {"PROFILE": lambda t: _profile(t, "x = " + "[" * 5000 + "]" * 5000 + "\n")}, 78, "nested too deeply"),
    ("profile not UTF-8", ["scheduler", "--backfill", "1h"],
     {"PROFILE": lambda t: _profile(t, b"name = \"\xff\xfe\"\n")}, 78, "not UTF-8"),
    ("profile /dev/null", ["scheduler", "--backfill", "1h"], {"PROFILE": "/dev/null"}, 78, "PROFILE"),
    ("receiver port 70000", ["receiver", "--port", "70000"], {}, 2, "--port"),
    ("receiver bad secret", ["receiver", "--port", "0", "--secret", "nope"], {}, 78, "--secret"),
    ("receiver secret file missing", ["receiver", "--port", "0", "--secret-file", "/nonexistent/secret"], {}, 78,
     "--secret-file"),
    ("receiver latency inf", ["receiver", "--port", "0", "--latency", "inf"], {}, 2, "--latency"),
]


@pytest.mark.process
@pytest.mark.parametrize(("argv", "extra", "code", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_bad_input_gives_one_line_and_its_exit_code(  # noqa: PLR0917 (parametrized)
        argv: list[str], extra: dict[str, str | Callable[[Path], str]], code: int, text: str,
        env: dict[str, str], tmp_path: Path) -> None:
    """The row's command exits with its code and one line holding `text`; a secret never shows."""
    env.update({k: v(tmp_path) if callable(v) else v for k, v in extra.items()})
    result = subprocess.run(command(*argv), env=env, capture_output=True, text=True, timeout=GUARD_S, check=False)
    line = one_line(result.stderr)
    print(f"| {' '.join(argv)} {extra} | {result.returncode} | {line} |")
    assert result.returncode == code, result.stderr
    assert text in line and "hunter2" not in line


def test_env_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    """A .env with invalid UTF-8 names the file and the byte (the same code path every command takes)."""
    bad = tmp_path / ".env"
    bad.write_bytes(b"SEED=1\nWEBHOOK_URL=http://\xff\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=bad)
    assert caught.value.variable == ".env" and "0xff" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.process
def test_a_busy_port_is_one_line_and_exit_75(env: dict[str, str]) -> None:
    """Another program on the port: the receiver says which address, exit 75 (try again later)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(command("receiver", "--port", str(port)), env=env, capture_output=True, text=True,
                                timeout=GUARD_S, check=False)
    line = one_line(result.stderr)
    print(f"| receiver --port <busy> | {result.returncode} | {line} |")
    assert result.returncode == 75 and f"127.0.0.1:{port}" in line


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount small tmpfs file systems (root only; skipped where mounting is refused)."""
    points: list[Path] = []

    def mount(options: str) -> Path:
        point = tmp_path / f"fs{len(points)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True,
                              text=True, check=False, timeout=30)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        points.append(point)
        return point

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting needs root")
    yield mount
    for point in points:
        subprocess.run(["umount", "-l", str(point)], check=False, timeout=30)


@pytest.mark.process
def test_a_backfill_onto_a_read_only_or_full_disk_stops_with_one_line(
        mounted: Callable[[str], Path], env: dict[str, str]) -> None:
    """A one-shot --backfill does not wait for a disk that may never come back: exit 75, the path named."""
    read_only = mounted("size=4m,ro")
    env.update(STATE_DIR=str(read_only), MIN_FREE_DISK="0")
    result = subprocess.run(command("scheduler", "--backfill", "1h"), env=env, capture_output=True, text=True,
                            timeout=GUARD_S, check=False)
    line = one_line(result.stderr)
    print(f"| scheduler --backfill 1h, STATE_DIR read-only | {result.returncode} | {line} |")
    assert result.returncode == 75 and str(read_only) in line and os.strerror(errno.EROFS) in line

    full = mounted("size=256k")
    (full / "state").mkdir()
    with contextlib.suppress(OSError), (full / "filler").open("wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()
    env.update(STATE_DIR=str(full / "state"))
    result = subprocess.run(command("scheduler", "--backfill", "1h"), env=env, capture_output=True, text=True,
                            timeout=GUARD_S, check=False)
    line = one_line(result.stderr)
    print(f"| scheduler --backfill 1h, STATE_DIR on a full disk | {result.returncode} | {line} |")
    assert result.returncode == 75 and str(full) in line


@pytest.mark.process
def test_a_folder_this_user_may_not_write_is_a_config_error(tmp_path: Path, env: dict[str, str]) -> None:
    """Run as nobody against a root-owned folder: exit 78 naming the folder and the user."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run as another user")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    env.update(STATE_DIR=str(locked / "state"))
    argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command("scheduler", "--backfill", "1h")]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=GUARD_S, check=False)
    if "Permission denied" in result.stderr and "python" in result.stderr.lower() and "STATE_DIR" not in result.stderr:
        pytest.skip("nobody cannot run this checkout's interpreter here")
    line = one_line(result.stderr)
    print(f"| scheduler --backfill 1h as nobody, STATE_DIR in a root folder | {result.returncode} | {line} |")
    assert result.returncode == 78 and "STATE_DIR" in line and "nobody" in line
